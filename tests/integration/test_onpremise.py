"""The ``onpremise`` backend end to end: three real OpenSSH hosts on their own loopback addresses, a 3-node
cluster with HAProxy placed across them through the CLI users run, and the same assertions as the local
end-to-end test: rows replicate, the endpoints route, a killed node is drift that ``up`` repairs, a static
change rolls one node at a time, and destroy leaves nothing on any host. Also the one-line errors of a wrong
key, an unknown host key and an unreachable host."""

from __future__ import annotations

import os
import signal
import uuid
from pathlib import Path

import psutil
import pymysql
import pytest

from components.waiting import wait_until
from tests.support.cli import CliStack, cli_cluster, cli_stack
from tests.support.processes import kill_processes_under, processes_under
from tests.support.sshd import generate_key, sshd_hosts

pytestmark = pytest.mark.timeout(900)


def onpremise_config(hosts, nodes: int = 3, proxies: bool = True) -> dict:
    return {
        "replstack:orchestrator": "onpremise",
        "replstack:onpremise": {"hosts": [
            {"name": h.name, "address": h.address, "port": h.port, "user": "root", "hostKey": h.host_key,
             "baseDir": str(h.base)} for h in hosts]},
        "replstack:database": {"nodes": nodes, "memory": 256},
        "replstack:proxies": [{"kind": "haproxy"}] if proxies else [],
    }


def set_keys(stack: CliStack, hosts, key: str) -> None:
    """Each host's private key as a secret of the stack, typed in on standard input as a user would."""
    for index, _ in enumerate(hosts):
        stack.run("config", "set", "--secret", "--path", f"replstack:onpremise.hosts[{index}].privateKey",
                  stdin=key).ok()


def with_keys(hosts):
    """``cli_cluster``'s prepare step: the hosts' private key set as a secret of the stack."""
    return lambda stack: set_keys(stack, hosts, hosts.client_key)


def scalar(address: str, outputs: dict, sql: str, args=None):
    host, port = address.rsplit(":", 1)
    with pymysql.connect(host=host, port=int(port), user=outputs["rootUser"], password=outputs["rootPassword"],
                         autocommit=True, connect_timeout=5) as conn, conn.cursor() as cur:
        cur.execute(sql, args)
        row = cur.fetchone()
    return row[0] if row else None


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("onpremise")
    with sshd_hosts(3) as hosts:
        try:
            with cli_cluster(tmp, onpremise_config(hosts), prepare=with_keys(hosts)) as stack:
                yield stack, hosts
        finally:
            for host in hosts:
                kill_processes_under(host.base)


def node_address(outputs: dict, name: str) -> str:
    node = next(n for n in outputs["nodes"] if n["name"] == name)
    return f"{node['host']}:{node['port']}"


def write_reaches(outputs: dict, *nodes: str) -> None:
    """A row written through the write endpoint into app.t reaches each of ``nodes``."""
    marker = uuid.uuid4().hex
    scalar(outputs["writeEndpoint"], outputs, "INSERT INTO app.t VALUES (%s)", (marker,))
    for name in nodes:
        wait_until(lambda name=name: scalar(node_address(outputs, name), outputs,
                                            "SELECT COUNT(*) FROM app.t WHERE m = %s", (marker,)) == 1,
                   timeout=30, what=f"the row on {name}")


def test_services_are_spread_over_the_hosts_and_replicate(cluster):
    stack, hosts = cluster
    outputs = stack.outputs()
    assert [n["host"] for n in outputs["nodes"]] == [h.address for h in hosts], "round-robin placement"
    for host in hosts:
        assert any(p for p in processes_under(host.base)), f"{host.name} runs a service from its baseDir"
    marker = uuid.uuid4().hex
    write = outputs["writeEndpoint"]
    assert scalar(write, outputs, "SELECT @@port") == outputs["nodes"][0]["port"]
    scalar(write, outputs, "CREATE DATABASE IF NOT EXISTS app")
    scalar(write, outputs, "CREATE TABLE IF NOT EXISTS app.t (m CHAR(32))")
    scalar(write, outputs, "INSERT INTO app.t VALUES (%s)", (marker,))
    for name in ("db2", "db3"):
        wait_until(lambda name=name: scalar(node_address(outputs, name), outputs,
                                            "SELECT COUNT(*) FROM app.t WHERE m = %s", (marker,)) == 1,
                   timeout=30, what=f"the row on {name}")
        assert scalar(node_address(outputs, name), outputs, "SELECT @@read_only") == 1
    reader = scalar(outputs["readEndpoint"], outputs, "SELECT @@port")
    assert reader in {n["port"] for n in outputs["nodes"][1:]}
    stack.expect_no_changes().ok()


def test_killed_node_is_drift_that_up_repairs(cluster):
    stack, _ = cluster
    pid = int(stack.state("db2")["pid"])
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE,
               timeout=10, what="the killed server to go")
    preview = stack.preview_diff().ok().output
    assert "start: mariadbd is not running" in preview
    stack.up("--refresh").ok()
    stack.expect_no_changes().ok()
    outputs = stack.outputs()
    write_reaches(outputs, "db2")


def test_static_change_rolls_one_node_at_a_time(cluster):
    stack, _ = cluster
    pids = {name: int(stack.state(name)["pid"]) for name in ("db1", "db2", "db3")}
    stack.config_set("replstack:database.settings.innodb_log_buffer_size", "32M")
    preview = stack.preview_diff().ok().output
    assert "restart: innodb_log_buffer_size cannot change on a running server" in preview
    stack.up().ok()
    started = {name: psutil.Process(int(stack.state(name)["pid"])).create_time() for name in pids}
    assert all(int(stack.state(name)["pid"]) != pids[name] for name in pids)
    assert started["db1"] >= max(started["db2"], started["db3"]), "the primary restarts last"
    stack.expect_no_changes().ok()


def test_scale_out_seeds_the_new_node_over_ssh_and_scale_in_removes_it(cluster):
    stack, hosts = cluster
    outputs = stack.outputs()
    proxy_host = next(p for p in outputs["proxies"])["writeEndpoint"].rsplit(":", 1)[0]
    marker = uuid.uuid4().hex
    scalar(outputs["writeEndpoint"], outputs, "INSERT INTO app.t VALUES (%s)", (marker,))
    stack.config_set("replstack:database.nodes", 4)
    preview = stack.preview_diff().ok().output
    assert "create: a new replica seeded from" in preview
    stack.up().ok()
    stack.expect_no_changes().ok()
    outputs = stack.outputs()
    db4 = next(n for n in outputs["nodes"] if n["name"] == "db4")
    assert db4["host"] == hosts[0].address, "db4 goes round-robin to the first host"
    assert next(p for p in outputs["proxies"])["writeEndpoint"].rsplit(":", 1)[0] == proxy_host, \
        "a resize does not move the proxy"
    seed = stack.state("db4").get("seed") or {}
    assert seed.get("source") in ("db2", "db3", "db1"), seed
    assert scalar(node_address(outputs, "db4"), outputs, "SELECT COUNT(*) FROM app.t WHERE m = %s", (marker,)) == 1
    stack.config_set("replstack:database.nodes", 3)
    stack.up().ok()
    stack.expect_no_changes().ok()
    assert [n["name"] for n in stack.outputs()["nodes"]] == ["db1", "db2", "db3"]
    assert not any("/db4/" in " ".join(p.cmdline()) for p in processes_under(hosts[0].base))


def test_destroy_leaves_nothing_on_any_host(cluster):
    stack, hosts = cluster
    stack.run("destroy", "--yes").ok()
    for host in hosts:
        assert processes_under(host.base) == [], host.name
        assert not any(host.base.iterdir()), f"{host.name}: {list(host.base.iterdir())}"


def test_ssh_failures_are_one_line_naming_the_host(tmp_path):
    with sshd_hosts(1) as hosts:
        host = hosts[0]
        cases = {
            "wrong key": (generate_key(tmp_path, "stranger")[0], host.host_key, "h1"),
            "unknown host key": (hosts.client_key, generate_key(tmp_path, "other-host")[1], "host key"),
        }
        for what, (key, host_key, expected) in cases.items():
            config = onpremise_config(hosts, nodes=1, proxies=False)
            config["replstack:onpremise"]["hosts"][0]["hostKey"] = host_key
            stack = cli_stack(tmp_path / what.replace(" ", "-"), config)
            set_keys(stack, hosts, key)
            result = stack.up()
            assert result.returncode != 0, what
            assert expected in result.output and "Traceback" not in result.output, (what, result.output)
            assert not any(Path(host.base).iterdir()), f"{what}: nothing made on the host"
            stack.run("stack", "rm", "--yes", "--force")
        missing = onpremise_config(hosts, nodes=1, proxies=False)
        missing["replstack:onpremise"]["mariadbBinDir"] = "/nonexistent"
        stack = cli_stack(tmp_path / "missing", missing)
        set_keys(stack, hosts, hosts.client_key)
        result = stack.up()
        assert result.returncode != 0 and "h1: missing mariadbd (/nonexistent/mariadbd)" in result.output
        assert "install mariadb-server there, or set onpremise.installPackages: true" in result.output
        stack.run("destroy", "--yes")
        stack.run("stack", "rm", "--yes", "--force")
        unreachable = onpremise_config(hosts, nodes=1, proxies=False)
        unreachable["replstack:onpremise"]["hosts"][0]["port"] = 1  # nothing listens there
        stack = cli_stack(tmp_path / "unreachable", unreachable)
        set_keys(stack, hosts, hosts.client_key)
        result = stack.up()
        assert result.returncode != 0 and "h1" in result.output and "Traceback" not in result.output
        stack.run("stack", "rm", "--yes", "--force")
