"""Faults that must converge and leave nothing behind: a server no state knows of, a stack whose state was
lost, and two checkouts that share a stack name and a baseDir. Real mariadbd and HAProxy, through the CLI."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import psutil
import pymysql
import pytest

from components.waiting import wait_until
from tests.support.cli import PULUMI, CliStack, cli_stack
from tests.support.cluster import cluster_config
from tests.support.processes import kill_processes_under, processes_under

pytestmark = pytest.mark.timeout(600)

REPAIR = Path(__file__).resolve().parents[2] / "scripts" / "repair.py"


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def first_node_scalar(stack: CliStack, sql: str):
    """One value from the stack's first node, as its root account."""
    node, outputs = stack.outputs()["nodes"][0], stack.outputs()
    with pymysql.connect(host=node["host"], port=node["port"], user=outputs["rootUser"],
                         password=outputs["rootPassword"]) as conn, conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchone()[0]


def cleanup(*stacks: CliStack) -> None:
    for stack in stacks:
        stack.run("destroy", "--yes")
        stack.run("stack", "rm", "--yes", "--force")


def cluster_dir(stack: CliStack) -> Path:
    return stack.data_dir / f"replstack-{stack.name}"


def start_stray_server(stack: CliStack) -> int:
    """A mariadbd started from a config under the cluster directory that no resource records, as a create
    interrupted between starting its server and recording it leaves one."""
    source = cluster_dir(stack) / "db2"
    stray = cluster_dir(stack) / "stray"
    (stray / "tmp").mkdir(parents=True)
    text = (source / "my.cnf").read_text().replace(str(source), str(stray))
    text = re.sub(r"(?m)^(port|report_port) = \d+$", lambda m: f"{m.group(1)} = 0", text)
    text = re.sub(r"(?m)^socket = .*$", f"socket = {stray}/s.sock", text)
    (stray / "my.cnf").write_text(text)
    shutil.copytree(source / "data", stray / "data", ignore=shutil.ignore_patterns("*.pid", "*.sock"))
    proc = subprocess.Popen(["/usr/sbin/mariadbd", f"--defaults-file={stray}/my.cnf"], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_until(lambda: (stray / "s.sock").exists(), timeout=60, what="the stray server's socket")
    return proc.pid


def test_destroy_stops_a_server_that_no_state_records(tmp_path):
    stack = cli_stack(tmp_path, cluster_config(tmp_path / "data", nodes=2, proxies=[]))
    try:
        stack.up().ok()
        stray = start_stray_server(stack)
        assert alive(stray)
        destroy = stack.run("destroy", "--yes").ok().output
        assert "ClusterOwner" in destroy
        assert processes_under(stack.data_dir) == [], "the cluster owner stops what still runs from its directory"
        assert not cluster_dir(stack).exists()
    finally:
        cleanup(stack)
        kill_processes_under(tmp_path)


def test_a_second_checkout_cannot_take_over_the_cluster_directory(tmp_path):
    shared = tmp_path / "shared-base"
    first = cli_stack(tmp_path / "first", cluster_config(shared, nodes=1, proxies=[]), name="same")
    second = cli_stack(tmp_path / "second", cluster_config(shared, nodes=1, proxies=[]), name="same")
    try:
        first.up().ok()
        pid = int(first.state("db1")["pid"])
        for attempt in (second.preview_diff(), second.up()):
            assert attempt.returncode != 0
            assert "belongs to stack 'same' of project 'replstack'" in attempt.output
            assert str(first.project.state_dir) in attempt.output, "the message says whose it is"
            assert "Traceback" not in attempt.output
        assert second.run("destroy", "--yes").returncode == 0
        assert alive(pid) and int(first.state("db1")["pid"]) == pid, "the first cluster is untouched"
        first.expect_no_changes().ok()
    finally:
        cleanup(second, first)
        kill_processes_under(tmp_path)


def test_a_running_server_is_adopted_only_when_it_runs_the_current_config(tmp_path):
    """The state is lost (stack removed without destroy); the next up finds the servers running. With the
    same config they are adopted; with another config the server is restarted on it, not adopted."""
    stack = cli_stack(tmp_path, cluster_config(tmp_path / "data", nodes=1, proxies=[]))
    try:
        stack.up().ok()
        pid = int(stack.state("db1")["pid"])
        stack.run("stack", "rm", "--yes", "--force").ok()
        stack.run("stack", "init").ok()
        stack.write_config(cluster_config(tmp_path / "data", nodes=1, proxies=[]))
        stack.up().ok()
        assert int(stack.state("db1")["pid"]) == pid, "same config, same port: adopted"

        stack.run("stack", "rm", "--yes", "--force").ok()
        stack.run("stack", "init").ok()
        config = cluster_config(tmp_path / "data", nodes=1, proxies=[])
        config["replstack:database"]["maxConnections"] = 321
        stack.write_config(config)
        stack.up().ok()
        new_pid = int(stack.state("db1")["pid"])
        assert new_pid != pid and not alive(pid), "another config: restarted, not adopted"
        assert first_node_scalar(stack, "SELECT @@max_connections") == 321
    finally:
        cleanup(stack)
        kill_processes_under(tmp_path)


def run_repair(stack: CliStack) -> str:
    done = subprocess.run([sys.executable, str(REPAIR), "--stack", stack.name, "--cwd", str(stack.project.root)], env=stack.env,
                          capture_output=True, text=True, timeout=300)
    print(done.stdout + done.stderr)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def kill_up_after(stack: CliStack, progress_lines: int) -> None:
    """`scripts/pulumi up` killed with SIGKILL, the whole engine tree at once (its own session), after it
    printed ``progress_lines`` lines of progress: a different moment of the run for each count."""
    proc = subprocess.Popen([str(PULUMI), "--cwd", str(stack.project.root), "up", "--yes", "--stack", stack.name,
                             "--non-interactive"], env=stack.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    seen = 0
    assert proc.stdout is not None
    for line in proc.stdout:
        if "creat" in line or "updat" in line:
            seen += 1
        if seen >= progress_lines:
            break
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


@pytest.mark.parametrize("progress_lines", [6, 14, 22])
def test_up_killed_mid_run_is_repaired_and_converges(tmp_path, progress_lines):
    stack = cli_stack(tmp_path, cluster_config(tmp_path / "data"))
    try:
        kill_up_after(stack, progress_lines)
        report = run_repair(stack)
        assert "repair: done" in report
        stack.up().ok()
        stack.expect_no_changes().ok()
        outputs = stack.outputs()
        with pymysql.connect(host=outputs["writeEndpoint"].rsplit(":", 1)[0],
                             port=int(outputs["writeEndpoint"].rsplit(":", 1)[1]), user=outputs["rootUser"],
                             password=outputs["rootPassword"], autocommit=True) as conn, conn.cursor() as cur:
            cur.execute("CREATE DATABASE killed_and_repaired")
        for node in outputs["nodes"][1:]:
            with pymysql.connect(host=node["host"], port=node["port"], user=outputs["rootUser"],
                                 password=outputs["rootPassword"]) as conn, conn.cursor() as cur:
                wait_until(lambda: cur.execute("SHOW DATABASES LIKE 'killed_and_repaired'") == 1, timeout=30,
                           what=f"the database on {node['name']}")
        stack.run("destroy", "--yes").ok()
        assert processes_under(stack.data_dir) == []
        assert not cluster_dir(stack).exists()
    finally:
        cleanup(stack)
        kill_processes_under(tmp_path)


def test_damaged_config_files_and_port_catalog_are_drift_that_up_repairs(tmp_path):
    stack = cli_stack(tmp_path, cluster_config(tmp_path / "data", nodes=2))
    try:
        stack.up().ok()
        base = cluster_dir(stack)
        pids = {name: int(stack.state(name)["pid"]) for name in ("db1", "db2")}
        (base / "db2" / "my.cnf").write_text("[mariadbd]\nskip-grant-tables\n")
        (base / "haproxy1" / "haproxy.cfg").write_text("garbage\n")
        preview = stack.preview_diff().ok().output
        assert "rewrite: my.cnf on disk differs from what replstack wrote" in preview
        assert "rewrite: haproxy.cfg on disk differs" in preview and "Traceback" not in preview
        stack.up().ok()
        stack.expect_no_changes().ok()
        assert (base / "db2" / "my.cnf").read_text() == stack.state("db2")["config"]
        assert (base / "haproxy1" / "haproxy.cfg").read_text() == stack.state("haproxy1")["config"]

        catalog = (base / "ports.json").read_text()
        (base / "ports.json").write_text("{not json")
        preview = stack.preview_diff().ok().output
        assert "Traceback" not in preview and "JSONDecodeError" not in preview
        assert "ports.json is not valid JSON" in preview and "the ports in state are written back" in preview
        stack.up().ok()
        stack.expect_no_changes().ok()
        assert json.loads((base / "ports.json").read_text()) == json.loads(catalog), "rebuilt from state"
        assert (base / "ports.json.damaged").read_text() == "{not json"
        assert {name: int(stack.state(name)["pid"]) for name in pids} == pids, "nothing restarted"
    finally:
        cleanup(stack)
        kill_processes_under(tmp_path)


def test_a_port_taken_by_another_program_is_named_and_leased_anew(tmp_path):
    stack = cli_stack(tmp_path, cluster_config(tmp_path / "data", nodes=1, proxies=[]))
    squatter = socket.socket()
    try:
        stack.up().ok()
        node = stack.outputs()["nodes"][0]
        old_pid = int(stack.state("db1")["pid"])
        os.kill(old_pid, signal.SIGKILL)
        wait_until(lambda: not alive(old_pid), timeout=10, what="the killed mariadbd to go")
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)

        def take_port() -> bool:
            try:
                squatter.bind((node["host"], node["port"]))
            except OSError:
                return False
            return True

        wait_until(take_port, timeout=30, what=f"port {node['port']} to be free for the squatter")
        squatter.listen()

        preview = stack.preview_diff("--refresh").ok().output
        assert f"re-lease: port {node['port']} (mysql) is taken by pid {os.getpid()}" in preview
        assert "start: mariadbd is not running" in preview and "Traceback" not in preview
        stack.up("--refresh").ok()
        stack.expect_no_changes().ok()
        moved = stack.outputs()["nodes"][0]
        assert moved["port"] != node["port"]
        with pymysql.connect(host=moved["host"], port=moved["port"], user="root",
                             password=stack.outputs()["rootPassword"]) as conn, conn.cursor() as cur:
            cur.execute("SELECT @@port")
            assert cur.fetchone()[0] == moved["port"]
    finally:
        squatter.close()
        cleanup(stack)
        kill_processes_under(tmp_path)


def test_repair_puts_back_a_checkpoint_and_metadata_a_kill_left_empty(tmp_path):
    """What a SIGKILL during the engine's checkpoint write leaves (seen in the fault suite): an empty
    checkpoint, or an empty metadata file beside it ("failed to load checkpoint: EOF")."""
    stack = cli_stack(tmp_path, cluster_config(tmp_path / "data", nodes=1, proxies=[]))
    try:
        stack.up().ok()
        stack.config_set("replstack:database.maxConnections", 555)
        stack.up().ok()  # a second checkpoint, so that a .bak exists
        folder = stack.project.state_dir / ".pulumi" / "stacks" / "replstack"
        (folder / f"{stack.name}.json.attrs").write_text("")
        assert "failed to load checkpoint" in stack.run("stack", "export").output
        assert "removed cli.json.attrs" in run_repair(stack)
        stack.expect_no_changes().ok()

        (folder / f"{stack.name}.json").write_text("")
        report = run_repair(stack)
        assert "was damaged (kept as cli.json.damaged); restored the last good copy" in report
        stack.up().ok()
        stack.expect_no_changes().ok()
        assert first_node_scalar(stack, "SELECT @@max_connections") == 555
    finally:
        cleanup(stack)
        kill_processes_under(tmp_path)
