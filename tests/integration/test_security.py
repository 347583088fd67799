"""The security review's attacks, run against a real 3-node + HAProxy cluster built through the CLI: what another
local user (``nobody``) can reach, what a client can do through the read endpoint, and where passwords end up.
The tests run in order on one cluster; the last ones change it, destroy it and scan everything it left."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import psutil
import pymysql
import pytest

from components.configurator.haproxy import UNUSED_PORTS, haproxy_paths
from components.configurator.placement import Placement
from components.orchestrators.hosts import LocalHost
from components.proxies.haproxy_runtime import server_statuses
from tests.support.attacker import python_as_nobody, shared_tmp
from tests.support.cli import CliStack, cli_stack
from tests.support.cluster import cluster_config
from tests.support.engine import PROJECT_DIR
from tests.support.processes import kill_processes_under, processes_under

pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def stack() -> CliStack:
    with shared_tmp("replstack-security-") as tmp:
        config = cluster_config(tmp / "data")
        config["replstack:database"]["tags"] = ["smallredolog", "noquerycache", "slow", "general"]
        created = cli_stack(tmp, config)
        try:
            created.up().ok()
            yield created
        finally:
            try:
                created.run("destroy", "--yes")
                created.run("stack", "rm", "--yes", "--force")
            finally:
                kill_processes_under(tmp)


def proxy_placement(stack: CliStack) -> Placement:
    return Placement.from_output(stack.state("haproxy1-placement"))


def haproxy_tcp_ports(stack: CliStack) -> set[int]:
    ports = set()
    for proc in processes_under(stack.data_dir):
        if proc.name() == "haproxy":
            ports |= {c.laddr.port for c in proc.net_connections(kind="tcp") if c.status == psutil.CONN_LISTEN}
    return ports


RUNTIME_API_PROBE = r"""
import socket, sys
answered = []
for port in map(int, sys.argv[2:]):
    try:
        with socket.create_connection((sys.argv[1], port), timeout=3) as sock:
            sock.settimeout(3)
            sock.sendall(b"show info\n")
            data = sock.recv(65536)
    except OSError:
        continue
    if b"Name: HAProxy" in data:
        answered.append(port)
print(answered)
"""

UNIX_SOCKET_PROBE = r"""
import socket, sys
try:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(3)
        sock.connect(sys.argv[1])
        sock.sendall(b"disable server write/db1\n")
        print("connected", sock.recv(4096))
except OSError as error:
    print("refused", type(error).__name__)
"""


# -- 2. proxy control --------------------------------------------------------------------------------------------
def test_other_users_cannot_drive_haproxy_runtime_api(stack):
    placement = proxy_placement(stack)
    listening = haproxy_tcp_ports(stack)
    assert listening == {port for name, port in placement.ports.items() if name not in UNUSED_PORTS}
    probe = python_as_nobody(RUNTIME_API_PROBE, placement.host, *map(str, sorted(listening)))
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip() == "[]", f"a TCP port of HAProxy answers runtime API commands: {probe.stdout}"

    socket = haproxy_paths(placement).socket
    attempt = python_as_nobody(UNIX_SOCKET_PROBE, socket)
    assert attempt.stdout.startswith("refused"), attempt.stdout + attempt.stderr
    statuses = {(s.backend, s.server): s.status for s in server_statuses(LocalHost(), socket)}
    assert statuses[("write", "db1")] == "UP"


def test_stats_page_is_read_only(stack):
    placement = proxy_placement(stack)
    url = f"http://{placement.host}:{placement.ports['stats']}/"
    post = python_as_nobody(
        "import sys, urllib.request\n"
        "req = urllib.request.Request(sys.argv[1], data=b's=db1&b=write&action=maint', method='POST')\n"
        "try:\n    print(urllib.request.urlopen(req, timeout=5).status)\n"
        "except Exception as error:\n    print('error', error)\n", url)
    assert post.returncode == 0, post.stderr
    statuses = {(s.backend, s.server): s.status
                for s in server_statuses(LocalHost(), haproxy_paths(placement).socket)}
    assert statuses[("write", "db1")] == "UP", "the stats page put the primary into maintenance"


# -- 3. state, passphrase and the connect command ------------------------------------------------------------------
READ_EVERYTHING = r"""
import os, sys
readable = []
for root, dirs, files in os.walk(sys.argv[1]):
    for name in files:
        try:
            with open(os.path.join(root, name), "rb") as handle:
                handle.read(1)
            readable.append(os.path.join(root, name))
        except OSError:
            pass
print(len(readable), readable[:5])
"""


def test_other_users_cannot_read_the_state(stack):
    state = stack.project.state_dir
    assert list(state.rglob("*.json")), "the stack has a checkpoint"
    attempt = python_as_nobody(READ_EVERYTHING, str(state))
    assert attempt.stdout.startswith("0 "), f"files of the state readable by another user: {attempt.stdout}"
    loose = [p for p in [state, *state.rglob("*")] if p.stat().st_mode & 0o077]
    assert loose == [], f"state entries with group or other permissions: {loose[:5]}"


def test_connect_command_keeps_the_password_off_command_lines(stack):
    env = stack.env
    shown = subprocess.run([sys.executable, str(PROJECT_DIR / "scripts" / "endpoints.py"), "--stack", stack.name],
                           env=env,
                           capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    password = stack.outputs()["rootPassword"]
    assert password not in shown.stdout + shown.stderr
    command = next(line.strip() for line in shown.stdout.splitlines() if line.strip().startswith("mariadb "))
    option_file = Path(re.search(r"--defaults-extra-file=(\S+)", command).group(1))
    assert option_file.stat().st_mode & 0o777 == 0o600
    assert option_file.parent.stat().st_mode & 0o077 == 0
    client = subprocess.Popen([*command.split(), "-N", "-e", "SELECT SLEEP(2), @@read_only"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = []
    try:
        while client.poll() is None:
            for proc in psutil.process_iter(["cmdline"]):
                line = " ".join(proc.info["cmdline"] or [])
                if "defaults-extra-file" in line:
                    seen.append(line)
    finally:
        out, err = client.communicate(timeout=30)
    assert client.returncode == 0, err
    assert out.split() == ["0", "0"], "the command reaches the primary"
    assert seen and not any(password in line for line in seen)
