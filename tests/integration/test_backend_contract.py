"""The backend contract, run by every backend that exists (``local`` and ``onpremise`` here; the others add
themselves to BACKENDS): create, adopt what a failed ``up`` made, read a dead service as drift, update live
and by restart, delete leaving nothing. Real mariadbd and HAProxy processes, through the CLI; the onpremise
hosts are real OpenSSH daemons on loopback addresses."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import psutil
import pymysql
import pytest

from components.waiting import wait_until
from tests.support.cli import PULUMI, CliStack, cli_stack
from tests.support.cluster import cluster_config
from tests.support.processes import kill_processes_under, processes_under
from tests.support.sshd import sshd_hosts

pytestmark = pytest.mark.timeout(900)

REPAIR = Path(__file__).resolve().parents[2] / "scripts" / "repair.py"


@contextlib.contextmanager
def local_backend(tmp: Path) -> Iterator[tuple[CliStack, list[Path], str]]:
    stack = cli_stack(tmp, cluster_config(tmp / "data", nodes=2, proxies=[]))
    yield stack, [tmp / "data"], "local"


@contextlib.contextmanager
def onpremise_backend(tmp: Path) -> Iterator[tuple[CliStack, list[Path], str]]:
    with sshd_hosts(2) as hosts:
        config = {
            "replstack:orchestrator": "onpremise",
            "replstack:onpremise": {"hosts": [
                {"name": h.name, "address": h.address, "port": h.port, "hostKey": h.host_key, "baseDir": str(h.base)}
                for h in hosts]},
            "replstack:database": {"nodes": 2, "memory": 256},
            "replstack:proxies": [],
        }
        stack = cli_stack(tmp, config)
        for index, _ in enumerate(hosts):
            stack.run("config", "set", "--secret", "--path", f"replstack:onpremise.hosts[{index}].privateKey",
                      stdin=hosts.client_key).ok()
        yield stack, [h.base for h in hosts], "onpremise"


BACKENDS = {"local": local_backend, "onpremise": onpremise_backend}


@pytest.fixture(scope="module", params=sorted(BACKENDS))
def backend(request, tmp_path_factory):
    tmp = tmp_path_factory.mktemp(f"contract-{request.param}")
    with BACKENDS[request.param](tmp) as (stack, roots, name):
        try:
            yield stack, roots, name
        finally:
            stack.run("destroy", "--yes")
            stack.run("stack", "rm", "--yes", "--force")
            for root in roots:
                kill_processes_under(root)


def connect(stack: CliStack, node: str) -> pymysql.connections.Connection:
    outputs = stack.outputs()
    entry = next(n for n in outputs["nodes"] if n["name"] == node)
    return pymysql.connect(host=entry["host"], port=entry["port"], user=outputs["rootUser"],
                           password=outputs["rootPassword"], autocommit=True, connect_timeout=5)


def scalar(stack: CliStack, node: str, sql: str):
    with connect(stack, node) as conn, conn.cursor() as cur:
        cur.execute(sql)
        row = cur.fetchone()
    return row[0] if row else None


def pids(stack: CliStack) -> dict[str, int]:
    return {name: int(stack.state(name)["pid"]) for name in ("db1", "db2")}


def test_create_interrupted_then_the_next_up_adopts_what_exists(backend):
    """`up` killed (the whole engine) once a node is created: the next `up` (after `make repair`'s script)
    finds that node's server running its config on its port and adopts it rather than starting another."""
    stack, roots, _ = backend
    proc = subprocess.Popen([PULUMI, "--cwd", str(stack.project.root), "up", "--yes", "--stack", stack.name,
                             "--non-interactive"], env=stack.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if "MariaDBServer db2 created" in line:
            break
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    started = [p.pid for root in roots for p in processes_under(root) if "/db2/" in " ".join(p.cmdline())]
    assert started, "db2's server runs after the kill"
    repaired = subprocess.run([sys.executable, str(REPAIR), "--stack", stack.name, "--cwd", str(stack.project.root)],
                              env=stack.env, capture_output=True, text=True, timeout=300)
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    stack.up().ok()
    stack.expect_no_changes().ok()
    assert int(stack.state("db2")["pid"]) in started, "adopted, not started again"
    assert scalar(stack, "db2", "SELECT @@read_only") == 1


def test_a_dead_service_is_drift_that_up_repairs(backend):
    stack, _, _ = backend
    victim = int(stack.state("db2")["pid"])
    os.kill(victim, signal.SIGKILL)
    wait_until(lambda: not psutil.pid_exists(victim) or psutil.Process(victim).status() == psutil.STATUS_ZOMBIE,
               timeout=10, what="the killed server to go")
    refresh = stack.run("refresh", "--yes").ok().output
    assert "MariaDBServer db2" in refresh or "db2" in refresh
    assert stack.state("db2")["running"] is False
    assert "start: mariadbd is not running" in stack.preview_diff().ok().output
    stack.up().ok()
    stack.expect_no_changes().ok()
    assert stack.state("db2")["running"] is True and int(stack.state("db2")["pid"]) != victim


def test_updates_live_and_by_restart(backend):
    stack, _, _ = backend
    before = pids(stack)
    stack.config_set("replstack:database.maxConnections", 777)
    stack.up().ok()
    assert pids(stack) == before, "a live change restarts nothing"
    assert scalar(stack, "db1", "SELECT @@max_connections") == 777
    stack.config_set("replstack:database.settings.innodb_log_buffer_size", "24M")
    stack.up().ok()
    after = pids(stack)
    assert all(after[n] != before[n] for n in before), "a static change restarts every node"
    assert scalar(stack, "db2", "SELECT @@innodb_log_buffer_size") == 24 * 1024 * 1024
    stack.expect_no_changes().ok()


def test_delete_leaves_nothing(backend):
    stack, roots, _ = backend
    stack.run("destroy", "--yes").ok()
    for root in roots:
        assert processes_under(root) == []
        assert not root.exists() or not any(root.iterdir()), list(root.iterdir())
