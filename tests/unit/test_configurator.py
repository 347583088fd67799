"""The configurator's renderers against golden files, and against the real programs that read them:
HAProxy's own config check and mariadbd's option parser."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from components.configurator.haproxy import Backend, render_haproxy_cfg
from components.configurator.mariadb import database_settings, memory_settings, render_my_cnf
from components.configurator.placement import Placement
from components.configurator.settings import split_changes
from components.spec import load_spec

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.write_text(text)
    assert path.read_text() == text, f"{name} differs from the golden file (UPDATE_GOLDEN=1 rewrites it)"


def my_cnf(database: dict, server_id: int, primary: bool) -> str:
    spec = load_spec({"database": database})
    placement = Placement("127.0.0.1", {"mysql": 23306}, "/srv/replstack/demo/db1")
    return render_my_cnf(cluster="replstack-demo", node=f"db{server_id}", primary=primary,
                         settings=database_settings(spec.database, server_id, primary), placement=placement,
                         run_as_root=True)


def haproxy_cfg(replicas: int) -> str:
    placement = Placement("127.0.0.1", {"write": 23001, "read": 23002, "stats": 23003, "admin": 23004},
                          "/srv/replstack/demo/haproxy1")
    nodes = [Backend(f"db{i}", "127.0.0.1", 23305 + i) for i in range(1, replicas + 2)]
    return render_haproxy_cfg(cluster="replstack-demo", name="haproxy1", placement=placement, primary=nodes[0],
                              replicas=nodes[1:], check_user="replstack_check")


def test_primary_my_cnf_golden():
    check_golden("primary.my.cnf", my_cnf({}, 1, True))


def test_replica_my_cnf_with_tags_and_overrides_golden():
    check_golden("replica-8g-semisync.my.cnf", my_cnf(
        {"memory": 8192, "cores": 4, "iops": 3000, "tags": ["semisync", "pfs", "slow"],
         "settings": {"innodb_flush_method": "O_DIRECT"}}, 2, False))


def test_haproxy_cfg_golden():
    check_golden("haproxy.cfg", haproxy_cfg(replicas=2))


def test_haproxy_without_replicas_reads_from_the_primary():
    text = haproxy_cfg(replicas=0)
    read_backend = text.split("backend read", 1)[1]
    assert "server db1 127.0.0.1:23306 check" in read_backend


def test_memory_formulas_follow_replication_manager():
    spec = load_spec({"database": {"memory": 16384, "tags": []}}).database
    sizes = memory_settings(spec)
    assert sizes["innodb_buffer_pool_size"] == "9830M"          # 60 %
    assert sizes["innodb_log_file_size"] == "4915M"             # BP / 2 within [1024, 20480]
    assert sizes["key_buffer_size"] == sizes["aria_pagecache_buffer_size"] == "1638M"  # 10 %
    small = memory_settings(load_spec({"database": {"memory": 256, "tags": []}}).database)
    assert small["innodb_log_file_size"] == "1024M"             # clamped up
    tagged = memory_settings(load_spec({"database": {"memory": 256, "tags": ["smallredolog"]}}).database)
    assert tagged["innodb_log_file_size"] == "128M"


def test_replicas_are_read_only_in_their_config():
    assert "read_only = 1" in my_cnf({}, 2, False)
    assert "read_only = 0" in my_cnf({}, 1, True)


def test_changes_split_into_live_and_restart():
    old = {"max_connections": "1000", "innodb_buffer_pool_size": "153M", "log_slave_updates": "1", "x": "1"}
    new = {"max_connections": "2000", "innodb_buffer_pool_size": "307M", "log_slave_updates": "0"}
    live, restart = split_changes(old, new)
    assert live == {"max_connections": "2000", "innodb_buffer_pool_size": "307M"}
    assert restart == {"log_slave_updates", "x"}


@pytest.mark.parametrize("replicas", [0, 2])
def test_haproxy_accepts_the_rendered_config(tmp_path, replicas):
    path = tmp_path / "haproxy.cfg"
    path.write_text(haproxy_cfg(replicas).replace("/srv/replstack/demo/haproxy1", str(tmp_path)))
    proc = subprocess.run(["haproxy", "-c", "-f", str(path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("primary", [True, False])
def test_mariadbd_accepts_every_rendered_option(tmp_path, primary):
    text = my_cnf({"tags": ["semisync", "pfs", "slow", "noquerycache", "compressbinlog"]}, 1, primary)
    path = tmp_path / "my.cnf"
    path.write_text(text.replace("/srv/replstack/demo/db1", str(tmp_path)))
    proc = subprocess.run(["mariadbd", f"--defaults-file={path}", "--help", "--verbose"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "unknown variable" not in proc.stderr and "unknown option" not in proc.stderr


def test_sockets_move_to_a_short_directory_when_the_service_path_is_too_long():
    from components.configurator.placement import MAX_SOCKET_PATH, socket_path

    assert socket_path("/srv/replstack/demo/db1", "mariadbd.sock") == "/srv/replstack/demo/db1/mariadbd.sock"
    deep = "/tmp/" + "very-long-directory-name/" * 4 + "db1"
    moved = socket_path(deep, "mariadbd.sock")
    assert len(moved) <= MAX_SOCKET_PATH and moved.startswith("/tmp/replstack-")
    assert moved == socket_path(deep, "mariadbd.sock"), "the same directory always gets the same socket"
    assert moved != socket_path(deep.replace("db1", "db2"), "mariadbd.sock")
