"""The configurator's renderers against golden files, and against the real programs that read them:
HAProxy's own config check and mariadbd's option parser."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from components.configurator import server_options
from components.configurator.haproxy import CHECK_COMMAND, CHECK_OPTIONS, Backend, render_check_files, render_haproxy_cfg
from components.configurator.mariadb import database_settings, memory_settings, placement_settings, render_my_cnf
from components.configurator.placement import Placement
from components.configurator.render import UnsafeValue
from components.configurator.settings import split_changes
from components.configurator.tags import DATABASE_TAGS, conflicts
from components.spec import DatabaseSpec, HostFacts, load_spec

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"
# The renderers do not depend on this host: large nodes validate whatever memory it has.
BIG_HOST = HostFacts(project_dir=Path("/srv/replstack"), memory_mb=1 << 30, os_user="replstack")


def spec_of(config: dict):
    return load_spec(config, host=BIG_HOST)


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.write_text(text)
    assert path.read_text() == text, f"{name} differs from the golden file (UPDATE_GOLDEN=1 rewrites it)"


def my_cnf(database: dict, server_id: int, primary: bool) -> str:
    spec = spec_of({"database": database})
    placement = Placement("127.0.0.1", {"mysql": 23306}, "/srv/replstack/demo/db1")
    return render_my_cnf(cluster="replstack-demo", node=f"db{server_id}", primary=primary,
                         settings=database_settings(spec.database, server_id, primary), placement=placement,
                         run_as_root=True)


def haproxy_cfg(replicas: int) -> str:
    placement = Placement("127.0.0.1", {"write": 23001, "read": 23002, "stats": 23003, "admin": 23004},
                          "/srv/replstack/demo/haproxy1")
    nodes = [Backend(f"db{i}", "127.0.0.1", 23305 + i) for i in range(1, replicas + 2)]
    return render_haproxy_cfg(cluster="replstack-demo", name="haproxy1", placement=placement, primary=nodes[0],
                              replicas=nodes[1:])


def check_files(**changes) -> dict[str, str]:
    args = {"cluster": "replstack-demo", "name": "haproxy1",
            "placement": Placement("127.0.0.1", {"write": 23001, "read": 23002, "stats": 23003, "admin": 23004},
                                   "/srv/replstack/demo/haproxy1"),
            "primary": "db1", "check_user": "replstack_check", "check_password": "Golden0Password0Not0Used",
            "client": "/usr/bin/mariadb", "max_lag": 30}
    return render_check_files(**{**args, **changes})


def test_primary_my_cnf_golden():
    check_golden("primary.my.cnf", my_cnf({}, 1, True))


def test_replica_my_cnf_with_tags_and_overrides_golden():
    check_golden("replica-8g-semisync.my.cnf", my_cnf(
        {"memory": 8192, "cores": 4, "iops": 3000, "tags": ["semisync", "pfs", "slow"],
         "settings": {"innodb_flush_method": "O_DIRECT"}}, 2, False))


def test_haproxy_cfg_golden():
    check_golden("haproxy.cfg", haproxy_cfg(replicas=2))


def test_haproxy_check_command_golden():
    files = check_files()
    check_golden("mysql-check.sh", files[CHECK_COMMAND])
    assert files[CHECK_OPTIONS].splitlines()[1:] == ["[client]", "user = replstack_check",
                                                     "password = Golden0Password0Not0Used"]
    assert "Golden0Password0Not0Used" not in haproxy_cfg(replicas=2) + files[CHECK_COMMAND]


def test_haproxy_listens_and_connects_on_ipv6_in_brackets(tmp_path):
    placement = Placement("::1", {"write": 23001, "read": 23002, "stats": 23003, "admin": 23004}, str(tmp_path))
    text = render_haproxy_cfg(cluster="c", name="haproxy1", placement=placement, primary=Backend("db1", "::1", 23306),
                              replicas=[Backend("db2", "::1", 23307)])
    assert "bind [::1]:23001" in text and "server db2 [::1]:23307 check" in text
    (tmp_path / "haproxy.cfg").write_text(text)
    proc = subprocess.run(["haproxy", "-c", "-f", str(tmp_path / "haproxy.cfg")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_a_wildcard_placement_binds_the_wildcard_and_connects_to_its_host():
    placement = Placement("127.0.0.1", {"write": 1, "read": 2, "stats": 3, "admin": 4}, "/srv/h", {"bind": "0.0.0.0"})
    text = render_haproxy_cfg(cluster="c", name="haproxy1", placement=placement,
                              primary=Backend("db1", "127.0.0.1", 3306), replicas=[])
    assert "bind 0.0.0.0:1" in text and "server db1 127.0.0.1:3306 check" in text
    node = Placement("127.0.0.1", {"mysql": 23306}, "/srv/replstack/demo/db1", {"bind": "::"})
    rendered = render_node({}, node)
    assert "bind_address = ::" in rendered and "report_host = 127.0.0.1" in rendered


def test_haproxy_without_replicas_reads_from_the_primary():
    text = haproxy_cfg(replicas=0)
    read_backend = text.split("backend read", 1)[1]
    assert "server db1 127.0.0.1:23306 check" in read_backend


def test_memory_formulas_follow_replication_manager():
    spec = spec_of({"database": {"memory": 16384, "tags": []}}).database
    sizes = memory_settings(spec)
    assert sizes["innodb_buffer_pool_size"] == "9830M"          # 60 %
    assert sizes["innodb_log_file_size"] == "4915M"             # BP / 2 within [1024, 20480]
    assert sizes["key_buffer_size"] == sizes["aria_pagecache_buffer_size"] == "1638M"  # 10 %
    small = memory_settings(spec_of({"database": {"memory": 256, "tags": []}}).database)
    assert small["innodb_log_file_size"] == "1024M"             # clamped up
    tagged = memory_settings(spec_of({"database": {"memory": 256, "tags": ["smallredolog"]}}).database)
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
    (tmp_path / "tmp").mkdir()  # as the lifecycle makes it: secure_file_priv must name a directory that exists
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


# -- the server's option names, shipped as data -----------------------------------------------------------------
def test_shipped_option_names_match_the_installed_server():
    installed = server_options.from_installed_server()
    shipped = server_options.shipped()
    missing, extra = sorted(installed.options - shipped.options), sorted(shipped.options - installed.options)
    assert (missing, extra) == ([], []), (f"{server_options.DATA.name} is from {shipped.server}, the server here is "
                                          f"{installed.server}: python -m components.configurator.server_options")
    assert installed.plugin_libraries == shipped.plugin_libraries
    assert "skip_grant_tables" in shipped.options and "innodb_buffer_pool_size" in shipped.options


def compatible_tags() -> list[str]:
    """Every tag but those that would set a variable another tag already set differently."""
    chosen: list[str] = []
    for tag in sorted(DATABASE_TAGS):
        if not conflicts([*chosen, tag]):
            chosen.append(tag)
    return chosen


def test_every_name_replstack_renders_or_refuses_is_a_server_option():
    spec = spec_of({"database": {"tags": compatible_tags()}}).database
    rendered = set(database_settings(spec, 1, True)) | set(placement_settings(PLACEMENT, run_as_root=True))
    tables = {*server_options.MANAGED, *server_options.UNSAFE, *server_options.UNSAFE_WHEN_ON,
              *server_options.UNSAFE_WHEN_OFF, *server_options.PLUGIN_LOADERS, *server_options.PATH_OPTIONS}
    assert sorted((rendered | tables) - server_options.shipped().options) == []
    assert set(placement_settings(PLACEMENT, run_as_root=True)) <= set(server_options.MANAGED) | {"secure_file_priv"}
    assert set(server_options.UNSAFE_PLUGIN_LIBRARIES) <= server_options.shipped().plugin_libraries


# -- the renderers refuse what would change a file's structure, whatever the spec let through --------------------
PLACEMENT = Placement("127.0.0.1", {"mysql": 23306}, "/srv/replstack/demo/db1")


def render_node(settings: dict[str, str], placement: Placement = PLACEMENT) -> str:
    return render_my_cnf(cluster="replstack-demo", node="db1", primary=True, settings=settings,
                         placement=placement, run_as_root=False)


@pytest.mark.parametrize("settings", [
    {"innodb_buffer_pool_size": "128M\n[mysqld]\nskip-grant-tables"},
    {"max_connections": "10\r!include /etc/shadow"},
    {"skip_grant_tables\n[mysqld]\nx": "1"},
    {"[mysqld]": "1"},
    {"!include": "/etc/mysql/evil.cnf"},
])
def test_my_cnf_renderer_refuses_new_lines_sections_and_directives(settings):
    with pytest.raises(UnsafeValue):
        render_node(settings)


def test_my_cnf_renderer_refuses_a_placement_that_spans_lines():
    with pytest.raises(UnsafeValue):
        render_node({}, Placement("127.0.0.1\nskip-grant-tables", {"mysql": 23306}, "/srv/replstack/demo/db1"))
    with pytest.raises(UnsafeValue):
        render_node({}, Placement("127.0.0.1", {"mysql": 23306}, "/srv/x\n[mysqld]\nskip-grant-tables\n#"))


def test_a_spec_built_around_validation_still_cannot_inject_a_section():
    injected = {"innodb_buffer_pool_size": "1G\n[mysqld]\nskip-grant-tables"}
    unchecked = DatabaseSpec.model_construct(**{**spec_of({}).database.__dict__, "settings": injected})
    with pytest.raises(UnsafeValue):
        render_node(database_settings(unchecked, 1, True))


def test_rendered_my_cnf_is_hardened():
    text = render_node(database_settings(spec_of({}).database, 1, True))
    assert "local_infile = 0" in text
    assert "secure_file_priv = /srv/replstack/demo/db1/tmp" in text


def haproxy_with(**changes) -> str:
    args = {"cluster": "replstack-demo", "name": "haproxy1",
            "placement": Placement("127.0.0.1", {"write": 1, "read": 2, "stats": 3, "admin": 4}, "/srv/h"),
            "primary": Backend("db1", "127.0.0.1", 3306), "replicas": [Backend("db2", "127.0.0.1", 3307)]}
    return render_haproxy_cfg(**{**args, **changes})


@pytest.mark.parametrize("changes", [
    {"name": "haproxy1\nlisten evil"},
    {"cluster": "demo\rglobal"},
    {"placement": Placement("127.0.0.1 ssl crt /etc/x", {"write": 1, "read": 2, "stats": 3, "admin": 4}, "/srv/h")},
    {"placement": Placement("127.0.0.1", {"write": 1, "read": 2, "stats": 3, "admin": 4}, "/srv/h mode 777")},
    {"placement": Placement("127.0.0.1", {"write": 1, "read": 2, "stats": 3, "admin": 4}, "/srv/${HOME}")},
    {"placement": Placement("127.0.0.1", {"write": 0, "read": 2, "stats": 3, "admin": 4}, "/srv/h")},
    {"primary": Backend("db1", "127.0.0.1:1 check\nbackend x", 3306)},
    {"replicas": [Backend("db2 backup", "127.0.0.1", 3307)]},
])
def test_haproxy_renderer_refuses_values_that_are_not_one_word(changes):
    assert "server db2 127.0.0.1:3307 check" in haproxy_with()
    with pytest.raises(UnsafeValue):
        haproxy_with(**changes)


@pytest.mark.parametrize("changes", [
    {"check_user": "check post-41\n    stats socket ipv4@0.0.0.0:9999 level admin"},
    {"check_user": "check level admin"},
    {"check_user": "check#"},
    {"check_user": "check$(reboot)"},
    {"check_password": "pass\n[client]\nuser = root"},
    {"check_password": "pa ss"},
    {"primary": 'db1" ]; then reboot; fi #'},
    {"client": "/usr/bin/mariadb --execute=DROP"},
    {"max_lag": "30; reboot"},
])
def test_check_files_renderer_refuses_values_that_are_not_one_word(changes):
    assert "--defaults-file=/srv/h/check.cnf" in check_files(
        placement=Placement("127.0.0.1", {"write": 1}, "/srv/h"))[CHECK_COMMAND]
    with pytest.raises(UnsafeValue):
        check_files(**changes)


# -- the health-check command's decisions, with a stand-in client ------------------------------------------------
SLAVE_STATUS = """*************************** 1. row ***************************
                Slave_IO_State: Waiting for master to send event
              Slave_IO_Running: {io}
             Slave_SQL_Running: {sql}
         Seconds_Behind_Master: {lag}
"""


@pytest.mark.parametrize("server, answer, up", [
    ("db1", ("", 0), True),
    ("db1", ("ERROR 1045 (28000): Access denied for user 'replstack_check'@'127.0.0.1'", 1), True),
    ("db1", ("ERROR 2002 (HY000): Can't connect to server on '127.0.0.1' (115)", 1), False),
    ("db2", (SLAVE_STATUS.format(io="Yes", sql="Yes", lag="0"), 0), True),
    ("db2", (SLAVE_STATUS.format(io="Yes", sql="Yes", lag="30"), 0), True),
    ("db2", (SLAVE_STATUS.format(io="Yes", sql="Yes", lag="31"), 0), False),
    ("db2", (SLAVE_STATUS.format(io="Yes", sql="No", lag="NULL"), 0), False),
    ("db2", (SLAVE_STATUS.format(io="No", sql="Yes", lag="NULL"), 0), False),
    ("db2", (SLAVE_STATUS.format(io="Connecting", sql="Yes", lag="NULL"), 0), True),
    ("db2", ("", 0), False),  # not a replica at all (replication reset by hand)
    ("db2", ("ERROR 1045 (28000): Access denied for user 'replstack_check'@'127.0.0.1'", 1), False),
    ("db2", ("ERROR 2002 (HY000): Can't connect to server on '127.0.0.1' (115)", 1), False),
])
def test_check_command_decides_from_what_the_server_answers(tmp_path, server, answer, up):
    text, status = answer
    (tmp_path / "answer").write_text(text)
    client = tmp_path / "client"
    client.write_text(f"#!/bin/sh\necho \"$@\" > {tmp_path}/args\ncat {tmp_path}/answer\nexit {status}\n")
    client.chmod(0o700)
    files = check_files(placement=Placement("127.0.0.1", {"write": 1}, str(tmp_path)), client=str(client))
    script = tmp_path / CHECK_COMMAND
    script.write_text(files[CHECK_COMMAND])
    script.chmod(0o700)
    env = {"PATH": "/usr/bin:/bin", "HAPROXY_SERVER_NAME": server}
    proc = subprocess.run([str(script), "127.0.0.1", "1", "127.0.0.1", "3307"], env=env, capture_output=True,
                          text=True, timeout=30)
    assert (proc.returncode == 0) == up, proc.stdout + proc.stderr
    args = (tmp_path / "args").read_text()
    assert args.startswith(f"--defaults-file={tmp_path}/check.cnf ") and "--port=3307" in args
    assert "password" not in args.replace("--defaults-file", "")
