#!/usr/bin/env python3
"""Fault suite, run on demand (`make faults`): prints a table; it is not a test and fails nothing.

1. `up` from empty interrupted at random moments, by SIGKILL to the whole engine tree or by SIGINT (Ctrl-C),
   then `make repair`'s script, then `up`: converged? (no changes left, a row written through the write
   endpoint reaches every replica); then `destroy`: nothing left? (no process or directory of the cluster, no
   engine process of the run).
2. kill -9 of a random node (the primary included) under a write load through the write endpoint, then one
   `up --refresh`: repaired? acknowledged rows lost (every insert the server acknowledged must be on every node).

Every cluster lives in a temporary directory with its own state; ports are leased free at run time.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import pymysql

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from components.waiting import wait_until  # noqa: E402
from tests.support.cli import PULUMI, CliStack, cli_stack  # noqa: E402
from tests.support.cluster import cluster_config  # noqa: E402
from tests.support.processes import kill_processes_under, processes_under  # noqa: E402

ENGINE_PROCESSES = ("pulumi", "pulumi-language-python", "pulumi-language-python-exec", "pulumi-resource-pulumi-python")


def engine_processes(project: Path) -> list[int]:
    """Engine-side processes of a run in ``project``: the CLI and its plugins (their working directory)."""
    found = []
    for proc in psutil.process_iter(["pid", "cwd", "cmdline"]):
        try:
            cmd = " ".join(proc.info["cmdline"] or [])
            if proc.info["cwd"] == str(project) and any(name in cmd for name in ENGINE_PROCESSES + ("pulumi.dynamic",)):
                found.append(proc.info["pid"])
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def interrupt_up(stack: CliStack, sig: int, progress_lines: int) -> None:
    proc = subprocess.Popen([PULUMI, "--cwd", str(stack.project.root), "up", "--yes", "--stack", stack.name,
                             "--non-interactive"], env=stack.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    seen = 0
    assert proc.stdout is not None
    for line in proc.stdout:
        seen += ("creat" in line or "updat" in line)
        if seen >= progress_lines:
            break
    os.killpg(proc.pid, sig)
    try:
        proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def repair(stack: CliStack) -> bool:
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "repair.py"), "--stack", stack.name, "--cwd",
                           str(stack.project.root)], env=stack.env, capture_output=True, text=True)
    return done.returncode == 0


def connect(address: str, outputs: dict) -> pymysql.connections.Connection:
    host, port = address.rsplit(":", 1)
    return pymysql.connect(host=host, port=int(port), user=outputs["rootUser"], password=outputs["rootPassword"],
                           autocommit=True, connect_timeout=3)


def converged(stack: CliStack) -> bool:
    if stack.up().returncode != 0 or stack.expect_no_changes().returncode != 0:
        return False
    outputs = stack.outputs()
    marker = f"m{random.randrange(10**9)}"
    with connect(outputs["writeEndpoint"], outputs) as conn, conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE {marker}")
    for node in outputs["nodes"]:
        with connect(f"{node['host']}:{node['port']}", outputs) as conn, conn.cursor() as cur:
            wait_until(lambda: cur.execute(f"SHOW DATABASES LIKE '{marker}'") == 1, timeout=30, what=node["name"])
    return True


def nothing_left(stack: CliStack) -> bool:
    stack.run("destroy", "--yes")
    cluster = stack.data_dir / f"replstack-{stack.name}"
    return not processes_under(stack.data_dir) and not cluster.exists() and not engine_processes(stack.project.root)


def interrupted_runs(work: Path, runs: int, sig: int, rng: random.Random) -> list[tuple[int, bool, bool, bool]]:
    rows = []
    for run in range(runs):
        tmp = work / f"{signal.Signals(sig).name}-{run}"
        stack = cli_stack(tmp, cluster_config(tmp / "data"), echo=False)
        point = rng.randint(1, 30)
        try:
            interrupt_up(stack, sig, point)
            repaired = repair(stack)
            ok = repaired and converged(stack)
            clean = nothing_left(stack)
        finally:
            stack.run("stack", "rm", "--yes", "--force")
            kill_processes_under(tmp)
        rows.append((point, repaired, ok, clean))
        print(f"  {signal.Signals(sig).name} after {point:2d} progress lines: repair {'ok' if repaired else 'FAILED'}, "
              f"converged {'yes' if ok else 'NO'}, nothing left {'yes' if clean else 'NO'}", flush=True)
    return rows


class Writer(threading.Thread):
    """Inserts rows through the write endpoint, one transaction each, and keeps the ids acknowledged."""

    def __init__(self, stack: CliStack):
        super().__init__(daemon=True)
        self.outputs = stack.outputs()
        self.acknowledged: list[int] = []
        self.stop = threading.Event()

    def run(self) -> None:
        n = 0
        while not self.stop.is_set() and n < 100_000:
            n += 1
            try:
                with connect(self.outputs["writeEndpoint"], self.outputs) as conn, conn.cursor() as cur:
                    cur.execute("INSERT INTO faultload.rows (id) VALUES (%s)", (n,))
                self.acknowledged.append(n)
            except pymysql.MySQLError:
                time.sleep(0.05)


def node_kills(work: Path, runs: int, rng: random.Random) -> list[tuple[str, bool, int]]:
    tmp = work / "node-kills"
    stack = cli_stack(tmp, cluster_config(tmp / "data"), echo=False)
    rows = []
    try:
        stack.up().ok()
        outputs = stack.outputs()
        with connect(outputs["writeEndpoint"], outputs) as conn, conn.cursor() as cur:
            cur.execute("CREATE DATABASE faultload")
            cur.execute("CREATE TABLE faultload.rows (id INT PRIMARY KEY)")
        for run in range(runs):
            victim = rng.choice(["db1", "db2", "db3"])
            writer = Writer(stack)
            writer.start()
            wait_until(lambda: len(writer.acknowledged) > 20, timeout=30, what="writes")
            os.kill(int(stack.state(victim)["pid"]), signal.SIGKILL)
            repaired = stack.up("--refresh").returncode == 0
            writer.stop.set()
            writer.join()
            lost = 0
            for node in stack.outputs()["nodes"]:
                with connect(f"{node['host']}:{node['port']}", outputs) as conn, conn.cursor() as cur:
                    wait_until(lambda: cur.execute("SELECT 1 FROM faultload.rows WHERE id = %s",
                                                   (writer.acknowledged[-1],)) == 1, timeout=30, what=node["name"])
                    cur.execute("SELECT id FROM faultload.rows")
                    present = {row[0] for row in cur.fetchall()}
                lost = max(lost, len(set(writer.acknowledged) - present))
            with connect(outputs["writeEndpoint"], outputs) as conn, conn.cursor() as cur:
                cur.execute("DELETE FROM faultload.rows")
            rows.append((victim, repaired, lost))
            print(f"  kill -9 {victim} under load: repaired {'yes' if repaired else 'NO'}, "
                  f"acknowledged rows lost {lost}", flush=True)
    finally:
        stack.run("destroy", "--yes")
        stack.run("stack", "rm", "--yes", "--force")
        kill_processes_under(tmp)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(10**6)
    rng = random.Random(seed)
    print(f"fault suite, seed {seed}, {args.runs} runs per case")
    work = Path(tempfile.mkdtemp(prefix="replstack-faults-"))
    try:
        killed = interrupted_runs(work, args.runs, signal.SIGKILL, rng)
        interrupted = interrupted_runs(work, args.runs, signal.SIGINT, rng)
        nodes = node_kills(work, args.runs, rng)
    finally:
        kill_processes_under(work)
        shutil.rmtree(work, ignore_errors=True)

    def score(rows, index):
        return f"{sum(1 for r in rows if r[index])}/{len(rows)}"

    print("\ncase                               converged  nothing left")
    print(f"up killed (SIGKILL, engine tree)    {score(killed, 2):>9}  {score(killed, 3):>12}")
    print(f"up interrupted (SIGINT)             {score(interrupted, 2):>9}  {score(interrupted, 3):>12}")
    print(f"kill -9 of a node under load        repaired {score(nodes, 1)}, acknowledged rows lost "
          f"{sum(r[2] for r in nodes)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
