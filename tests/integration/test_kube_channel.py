"""The kube backend's SQL steps through its control channel, with STAND-INS for the pods: no pod can run on this
machine (no container runtime), so two local ``mariadbd`` processes stand in for the pods ``c-db1-0`` and
``c-db2-0``, and a stand-in ``kubectl`` runs what ``kubectl exec <pod>`` would run inside the pod on this machine
instead, with the pod's filesystem (``/var/lib/replstack``, where the rendered my.cnf puts the socket) mapped to
the stand-in's directory. Everything above ``kubectl`` is the real code: ``KubeHost``'s exec relay of the unix
socket, the admin login by ``unix_socket`` as the container's root, and the replication and users steps
(``ReplicationTopologyProvider``, ``DatabaseUsersProvider``), which replicate a row from db1 to db2."""

from __future__ import annotations

import json
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from components.sql import Endpoint, connect, execute, query
from components.topology import ReplicationTopologyProvider
from components.users import DatabaseUsersProvider
from components.waiting import wait_until
from tests.support.kube import free_port

pytestmark = pytest.mark.timeout(300)

POD_DIR = "/var/lib/replstack"
SOCKET = f"{POD_DIR}/mariadbd.sock"

STAND_IN_KUBECTL = """#!{python}
# STAND-IN kubectl for tests: 'exec [-i] POD [-c C] -- ARGV' runs ARGV here, with the pod's {pod_dir} mapped to
# the directory of the local mariadbd standing in for that pod.
import json, os, sys
args = sys.argv[1:]
pods = json.load(open(os.environ["STAND_IN_PODS"]))
assert args[args.index("--namespace") + 1] == "ns", args
rest = args[args.index("exec") + 1:]
rest = [a for a in rest if a != "-i"]
pod = rest[0]
command = [a.replace("{pod_dir}", pods[pod]) for a in args[args.index("--") + 1:]]
os.execvp(command[0], command)
"""


def start_stand_in(directory: Path, server_id: int) -> subprocess.Popen:
    """A mariadbd with the replication settings replstack renders, root by unix_socket only."""
    port = free_port()
    (directory / "data").mkdir(parents=True)
    config = directory / "my.cnf"
    config.write_text("\n".join([
        "[mariadbd]", "user = root", f"datadir = {directory / 'data'}", f"socket = {directory / 'mariadbd.sock'}",
        f"port = {port}", "bind_address = 127.0.0.1", f"log_error = {directory / 'error.log'}",
        f"pid_file = {directory / 'mariadbd.pid'}", f"server_id = {server_id}", "log_bin = mariadb-bin",
        "log_slave_updates = 1", "gtid_strict_mode = 1", "binlog_format = ROW", "skip_name_resolve = 1",
        f"read_only = {0 if server_id == 1 else 1}", "innodb_buffer_pool_size = 32M", "innodb_log_file_size = 8M",
        ""]))
    subprocess.run(["/usr/bin/mariadb-install-db", f"--defaults-file={config}", "--skip-test-db",
                    "--auth-root-authentication-method=socket", "--auth-root-socket-user=root"],
                   check=True, capture_output=True, timeout=120)
    process = subprocess.Popen(["/usr/sbin/mariadbd", f"--defaults-file={config}"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    process.port = port  # type: ignore[attr-defined]
    return process


@pytest.fixture(scope="module")
def pods(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("kube-channel")
    processes = {}
    monkey = pytest.MonkeyPatch()
    try:
        for index, pod in enumerate(("c-db1-0", "c-db2-0"), start=1):
            processes[pod] = start_stand_in(tmp / pod, index)
        for pod, process in processes.items():
            wait_until(lambda pod=pod: (tmp / pod / "mariadbd.sock").exists(), timeout=60,
                       what=f"the stand-in for {pod} to open its socket")
        (tmp / "pods.json").write_text(json.dumps({pod: str(tmp / pod) for pod in processes}))
        kubectl = tmp / "kubectl"
        kubectl.write_text(STAND_IN_KUBECTL.format(python=sys.executable, pod_dir=POD_DIR))
        kubectl.chmod(kubectl.stat().st_mode | stat.S_IXUSR)
        monkey.setenv("REPLSTACK_KUBECTL", str(kubectl))
        monkey.setenv("STAND_IN_PODS", str(tmp / "pods.json"))
        yield {pod: process.port for pod, process in processes.items()}
    finally:
        monkey.undo()
        for process in processes.values():
            process.send_signal(signal.SIGTERM)
        for process in processes.values():
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()


def node(name: str, port: int) -> dict:
    """A node as the cluster passes it to the SQL steps on the kube backend (the address is the stand-in's, the
    socket the one inside the pod, the access the kube channel's)."""
    return {"name": name, "host": "127.0.0.1", "port": port, "socket": SOCKET, "generation": "1",
            "access": {"transport": "kube", "namespace": "ns", "pod": f"c-{name}-0", "container": "mariadb"}}


def test_admin_login_goes_through_kubectl_exec_as_the_containers_root(pods):
    endpoint = Endpoint.admin_of_node(node("db1", pods["c-db1-0"]), "root", "unused")
    assert endpoint.unix_socket == SOCKET and endpoint.user == "root"
    with connect(endpoint) as conn:
        assert query(conn, "SELECT CURRENT_USER() AS u")[0]["u"] == "root@localhost"


def test_replication_and_users_steps_run_through_the_channel(pods):
    nodes = [node("db1", pods["c-db1-0"]), node("db2", pods["c-db2-0"])]
    props = {"nodes": nodes, "primary": "db1", "rootUser": "root", "rootPassword": "Root-pass-1",
             "replicationUser": "replstack_repl", "replicationPassword": "Repl-pass-1", "semiSync": False,
             "timeout": 60}
    created = ReplicationTopologyProvider().create(props)
    assert created.outs["replicating"] == ["db2"]
    DatabaseUsersProvider().create({
        "primary": nodes[0], "rootUser": "root", "rootPassword": "Root-pass-1", "monitoringUser": "replstack_mon",
        "monitoringPassword": "Mon-pass-1", "checkUser": "replstack_check", "checkPassword": "Check-pass-1",
        "checkHosts": ["%"]})
    with connect(Endpoint.admin_of_node(nodes[0], "root", "")) as conn:
        execute(conn, "CREATE DATABASE standin")
        execute(conn, "CREATE TABLE standin.t (id INT PRIMARY KEY)")
        execute(conn, "INSERT INTO standin.t VALUES (42)")
    deadline = time.monotonic() + 30
    with connect(Endpoint.admin_of_node(nodes[1], "root", "")) as conn:
        while True:
            rows = query(conn, "SELECT id FROM standin.t") if query(
                conn, "SELECT 1 FROM information_schema.tables WHERE table_schema = 'standin'") else []
            if rows:
                break
            assert time.monotonic() < deadline, "the row did not replicate to db2"
            time.sleep(0.3)
        assert rows == [{"id": 42}]
        assert query(conn, "SELECT @@read_only AS r")[0]["r"] == 1
        assert query(conn, "SELECT user FROM mysql.user WHERE user = 'replstack_check'")
    read = ReplicationTopologyProvider().read("topology-db1", props)
    assert read.outs["replicating"] == ["db2"]
