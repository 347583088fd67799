"""The security review's attacks, run against a real 3-node + HAProxy cluster built through the CLI: what another
local user (``nobody``) can reach, what a client can do through the read endpoint, and where passwords end up.
The tests run in order on one cluster; the last ones change it, destroy it and scan everything it left."""

from __future__ import annotations

import json
import re
import shutil
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
from tests.support.cli import CliStack, cli_cluster
from tests.support.cluster import cluster_config
from tests.support.engine import PROJECT_DIR
from tests.support.processes import processes_under

pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def stack() -> CliStack:
    with shared_tmp("replstack-security-") as tmp:
        config = cluster_config(tmp / "data")
        config["replstack:database"]["tags"] = ["smallredolog", "noquerycache", "slow", "general"]
        with cli_cluster(tmp, config) as created:
            yield created


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


# -- 4. replicas refuse client writes; errant transactions are reported, not repaired -------------------------------
def test_writes_through_the_read_endpoint_are_refused(stack):
    for address in [stack.outputs()["readEndpoint"], *(f"{n['host']}:{n['port']}" for n in stack.outputs()["nodes"]
                                                        if n["role"] == "replica")]:
        with stack.connect(address) as conn, conn.cursor() as cur:
            with pytest.raises(pymysql.err.OperationalError) as refused:
                cur.execute("CREATE DATABASE errant_write")
            assert refused.value.args[0] == 1290, refused.value  # ER_OPTION_PREVENTS_STATEMENT (read_only)
    with stack.connect(stack.outputs()["writeEndpoint"]) as conn, conn.cursor() as cur:
        cur.execute("CREATE DATABASE IF NOT EXISTS app")


def node_socket(stack: CliStack, name: str) -> str:
    from components.configurator.mariadb import node_paths
    return node_paths(Placement.from_output(stack.state(f"{name}-placement"))).socket


def test_an_errant_replica_is_reported_and_not_silently_repaired(stack):
    import getpass
    with pymysql.connect(unix_socket=node_socket(stack, "db2"), user=getpass.getuser(), autocommit=True) as conn:
        with conn.cursor() as cur:
            cur.execute("CREATE DATABASE errant_by_hand")
    stack.run("refresh", "--yes").ok()
    preview = stack.preview_diff()
    assert "refuse: replica db2 has transactions that primary db1 does not have" in preview.output
    failed = stack.up()
    assert failed.returncode != 0
    assert "replica db2 has transactions" in failed.output and "re-seed" in failed.output
    # The re-seed the message describes.
    node_dir = Path(stack.state("db2-placement")["dir"])
    pid = int((node_dir / "mariadbd.pid").read_text())
    psutil.Process(pid).kill()
    psutil.Process(pid).wait(timeout=30) if psutil.pid_exists(pid) else None
    shutil.rmtree(node_dir / "data")
    stack.up("--refresh").ok()
    stack.expect_no_changes().ok()
    with stack.connect(stack.outputs()["readEndpoint"]) as conn, conn.cursor() as cur:
        cur.execute("SHOW DATABASES LIKE 'errant_by_hand'")
        assert cur.fetchall() == ()


# -- 5. and the scan: no generated password in clear anywhere ----------------------------------------------------
def secrets_of(stack: CliStack) -> dict[str, str]:
    exported = json.loads(stack.run("stack", "export", "--show-secrets").ok().stdout)
    found = {}
    for res in exported["deployment"]["resources"]:
        outputs = res.get("outputs") or {}
        for key in ("rootPassword", "replicationPassword", "monitoringPassword", "checkPassword", "value"):
            value = outputs.get(key)
            if isinstance(value, dict) and "plaintext" in value:
                value = json.loads(value["plaintext"])
            if isinstance(value, str) and len(value) >= 16:
                found[f"{res['urn'].rsplit('::', 1)[-1]}.{key}"] = value
    return found


# Files that must hold a credential in clear to work, and are the operator's only (check.cnf: the proxies' health
# checks log in with it).
CREDENTIAL_FILES = ("master.info", "relay-log.info", "check.cnf")


def clear_copies(roots: list[Path], secrets: dict[str, str]) -> list[str]:
    found = []
    for root in roots:
        for path in (p for p in root.rglob("*") if p.is_file() and not p.is_symlink()):
            if path.name in CREDENTIAL_FILES or path.parent.name == "clients":  # (the demo's client option file)
                assert path.stat().st_mode & 0o077 == 0, f"{path} is readable by others"
                continue
            data = path.read_bytes()
            found += [f"{name} in {path}" for name, value in secrets.items() if value.encode() in data]
    return found


def process_copies(secrets: dict[str, str]) -> list[str]:
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        try:
            text = " ".join(proc.info["cmdline"] or []) + " ".join(f"{k}={v}" for k, v in proc.environ().items())
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
        found += [f"{name} in process {proc.info['pid']}" for name, value in secrets.items() if value in text]
    return found


def test_no_generated_password_in_clear_after_a_cluster_life(stack):
    generated = secrets_of(stack)
    assert {"root-password.value", "replication-password.value", "monitoring-password.value",
            "check-password.value"} <= set(generated)
    stack.config_set_secret("replstack:rootPassword", "Rotated-root-password-0123456789")
    stack.up().ok()
    secrets = {**{f"first {k}": v for k, v in generated.items()}, **secrets_of(stack)}
    with stack.connect(stack.outputs()["writeEndpoint"]) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS app.t (id INT PRIMARY KEY)")
        cur.execute("REPLACE INTO app.t VALUES (1)")
    logs = [p.name for p in stack.data_dir.rglob("*") if re.search(r"(bin\.\d+|\.log)$", p.name)]
    assert any("relay-bin." in n for n in logs) and any("mariadb-bin." in n for n in logs)
    assert any(n.endswith(".log") and n not in ("error.log",) for n in logs), "the general log is on"
    assert clear_copies([stack.data_dir, stack.project.state_dir], secrets) == []
    assert process_copies(secrets) == []
    masters = list(stack.data_dir.rglob("master.info"))
    assert masters and all(p.stat().st_mode & 0o777 == 0o600 for p in masters)

    stack.run("destroy", "--yes").ok()
    stack.run("stack", "rm", "--yes").ok()
    assert list(stack.project.state_dir.rglob("*.json.bak")), "stack rm keeps a backup"
    assert clear_copies([stack.project.state_dir], secrets) == []
    attempt = python_as_nobody(READ_EVERYTHING, str(stack.project.state_dir))
    assert attempt.stdout.startswith("0 "), attempt.stdout
