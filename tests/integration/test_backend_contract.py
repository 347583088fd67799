"""The backend contract, run by every backend that exists (``local`` and ``onpremise`` here; the others add
themselves to BACKENDS): create, adopt what a failed ``up`` made, read a dead service as drift, update live
and by restart, delete leaving nothing. Real mariadbd processes, through the CLI; the onpremise hosts are real
OpenSSH daemons on loopback addresses, and for ``onpremise-systemd`` real systemd hosts
(tests/support/systemd_host.py) whose services are units.

Each backend comes with ``Machines``: how the test sees the processes on the backend's hosts and stops a
service behind replstack's back (SIGKILL for a detached process; ``systemctl stop`` for a unit, since systemd
itself restarts a unit that was killed)."""

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

from components.configurator.systemd_unit import unit_name
from components.waiting import wait_until
from tests.support.cli import PULUMI, CliStack, cli_stack
from tests.support.cluster import cluster_config
from tests.support.processes import kill_processes_under, processes_under
from tests.integration.test_onpremise import set_keys
from tests.support import systemd_host
from tests.support.sshd import sshd_hosts

pytestmark = pytest.mark.timeout(900)

REPAIR = Path(__file__).resolve().parents[2] / "scripts" / "repair.py"


class Machines:
    """This machine's processes under the backends' directories (local, and sshd hosts sharing its filesystem)."""

    def __init__(self, roots: list[Path]):
        self.roots = roots

    def server_pids(self, node: str) -> list[int]:
        return [p.pid for root in self.roots for p in processes_under(root) if f"/{node}/" in " ".join(p.cmdline())]

    def stop_behind_our_back(self, stack: CliStack, node: str) -> int:
        victim = int(stack.state(node)["pid"])
        os.kill(victim, signal.SIGKILL)
        wait_until(lambda: not psutil.pid_exists(victim) or psutil.Process(victim).status() == psutil.STATUS_ZOMBIE,
                   timeout=10, what="the killed server to go")
        return victim

    def leftovers(self) -> list[str]:
        found = [" ".join(p.cmdline()) for root in self.roots for p in processes_under(root)]
        return found + [str(p) for root in self.roots if root.exists() for p in root.iterdir()]

    def clean(self) -> None:
        for root in self.roots:
            kill_processes_under(root)


class SystemdMachines:
    """Booted systemd hosts: their processes seen from inside them, a node stopped with ``systemctl stop``."""

    def __init__(self, hosts, base: str):
        self.hosts = hosts
        self.base = base

    def server_pids(self, node: str) -> list[int]:
        return [int(pid) for host in self.hosts
                for pid in host.run("pgrep", "-f", f"{self.base}/.*/{node}/my.cnf", check=False).stdout.split()]

    def stop_behind_our_back(self, stack: CliStack, node: str) -> int:
        victim = int(stack.state(node)["pid"])
        unit = unit_name(stack.state(node)["placement"]["dir"]) + ".service"
        for host in self.hosts:
            if host.main_pid(unit) == victim:
                host.systemctl("stop", unit, check=True)
        return victim

    def leftovers(self) -> list[str]:
        found = []
        for host in self.hosts:
            found += [line for line in host.run("ps", "-eo", "args=").stdout.splitlines() if self.base in line]
            found += host.run("ls", "-A", self.base, check=False).stdout.split()
            found += [p.name for p in host.wrote("/etc/systemd/system").rglob("replstack-*")
                      if not p.name.startswith("replstack-test-")]  # the host's own sshd and boot target
        return found

    def clean(self) -> None:
        pass  # the hosts' shutdown ends everything in them


def _onpremise_stack(tmp: Path, hosts, host_entry) -> CliStack:
    config = {
        "replstack:orchestrator": "onpremise",
        "replstack:onpremise": {"hosts": [host_entry(h) for h in hosts]},
        "replstack:database": {"nodes": 2, "memory": 256},
        "replstack:proxies": [],
    }
    stack = cli_stack(tmp, config)
    set_keys(stack, hosts, hosts.client_key)
    return stack


@contextlib.contextmanager
def local_backend(tmp: Path) -> Iterator[tuple[CliStack, Machines]]:
    stack = cli_stack(tmp, cluster_config(tmp / "data", nodes=2, proxies=[]))
    yield stack, Machines([tmp / "data"])


@contextlib.contextmanager
def onpremise_backend(tmp: Path) -> Iterator[tuple[CliStack, Machines]]:
    with sshd_hosts(2) as hosts:
        stack = _onpremise_stack(tmp, hosts, lambda h: {"name": h.name, "address": h.address, "port": h.port,
                                                         "hostKey": h.host_key, "baseDir": str(h.base)})
        yield stack, Machines([h.base for h in hosts])


@contextlib.contextmanager
def onpremise_systemd_backend(tmp: Path) -> Iterator[tuple[CliStack, SystemdMachines]]:
    if systemd_host.missing():
        pytest.skip(systemd_host.missing())
    base = "/var/lib/replstack-contract"
    with systemd_host.systemd_hosts(2) as hosts:
        stack = _onpremise_stack(tmp, hosts, lambda h: {
            "name": h.name, "address": h.address, "port": h.port, "user": systemd_host.LOGIN, "sudo": True,
            "hostKey": h.host_key, "baseDir": base, "supervisor": "systemd"})
        yield stack, SystemdMachines(hosts, base)


BACKENDS = {"local": local_backend, "onpremise": onpremise_backend, "onpremise-systemd": onpremise_systemd_backend}


@pytest.fixture(scope="module", params=sorted(BACKENDS))
def backend(request, tmp_path_factory):
    tmp = tmp_path_factory.mktemp(f"contract-{request.param}")
    with BACKENDS[request.param](tmp) as (stack, machines):
        try:
            yield stack, machines
        finally:
            stack.run("destroy", "--yes")
            stack.run("stack", "rm", "--yes", "--force")
            machines.clean()


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
    stack, machines = backend
    proc = subprocess.Popen([PULUMI, "--cwd", str(stack.project.root), "up", "--yes", "--stack", stack.name,
                             "--non-interactive"], env=stack.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if "MariaDBServer db2 created" in line:
            break
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    started = machines.server_pids("db2")
    assert started, "db2's server runs after the kill"
    repaired = subprocess.run([sys.executable, str(REPAIR), "--stack", stack.name, "--cwd", str(stack.project.root)],
                              env=stack.env, capture_output=True, text=True, timeout=300)
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    stack.up().ok()
    stack.expect_no_changes().ok()
    assert int(stack.state("db2")["pid"]) in started, "adopted, not started again"
    assert scalar(stack, "db2", "SELECT @@read_only") == 1


def test_a_dead_service_is_drift_that_up_repairs(backend):
    stack, machines = backend
    victim = machines.stop_behind_our_back(stack, "db2")
    refresh = stack.run("refresh", "--yes").ok().output
    assert "MariaDBServer db2" in refresh or "db2" in refresh
    assert stack.state("db2")["running"] is False
    assert "start: mariadbd is not running" in stack.preview_diff().ok().output
    stack.up().ok()
    stack.expect_no_changes().ok()
    assert stack.state("db2")["running"] is True and int(stack.state("db2")["pid"]) != victim


def test_updates_live_and_by_restart(backend):
    stack, _ = backend
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
    stack, machines = backend
    stack.run("destroy", "--yes").ok()
    assert machines.leftovers() == []
