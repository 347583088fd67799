"""Time to add one replica to a cluster holding a dataset, beside the bare commands measured in the same run.

A 2-node cluster (local backend, one HAProxy) gets a dataset (``--size-mb``, 1024 by default), then:

* bare: on the replica's host, ``mariadb-backup --backup --stream=xbstream`` of db2 piped to ``mbstream -x``
  into a scratch datadir, ``--prepare``, ``mariadbd`` started on it, ``CHANGE MASTER`` at the copy's GTID
  position, caught up with the primary; then that server is stopped and removed;
* replstack: ``database.nodes: 3`` and ``up`` (preview included, as users run it): the copy, the start, the
  attach, the catch-up, the data check and the proxies' reload.

Prints each step's seconds, the dataset's size, and the ratio (goal: at most 1.5x the bare commands).
Run: ``.venv/bin/python -m bench.resize [--size-mb N]``.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pymysql  # noqa: E402

from components.orchestrators.lifecycle.seed import copy_position  # noqa: E402
from components.orchestrators.hosts import LocalHost  # noqa: E402
from tests.support.cli import CliStack, cli_stack  # noqa: E402
from tests.support.cluster import cluster_config  # noqa: E402
from tests.support.processes import kill_processes_under  # noqa: E402

ROW_BYTES = 1000


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def sql(stack: CliStack, address: str, statement: str, args=None):
    with stack.connect(address) as conn, conn.cursor() as cur:
        cur.execute(statement, args)
        return cur.fetchall()


def node_address(stack: CliStack, name: str) -> str:
    node = next(n for n in stack.outputs()["nodes"] if n["name"] == name)
    return f"{node['host']}:{node['port']}"


def load(stack: CliStack, size_mb: int) -> float:
    primary = node_address(stack, "db1")
    rows = size_mb * 2**20 // ROW_BYTES
    per_table = max(rows // 8, 1)
    sql(stack, primary, "CREATE DATABASE IF NOT EXISTS bench")
    for i in range(8):
        sql(stack, primary, f"CREATE TABLE bench.t{i} (id INT PRIMARY KEY, pad CHAR(250), pad2 CHAR(250), "
                            "pad3 CHAR(250), pad4 CHAR(240)) ENGINE=InnoDB")
        sql(stack, primary, f"INSERT INTO bench.t{i} SELECT seq, MD5(seq), MD5(seq + 1), MD5(seq + 2), MD5(seq + 3) "
                            f"FROM bench.seq_1_to_{per_table}")
    target = sql(stack, primary, "SELECT @@gtid_binlog_pos")[0][0]
    sql(stack, node_address(stack, "db2"), "SELECT MASTER_GTID_WAIT(%s, 3600)", (target,))
    return sum(f.stat().st_size for f in (stack.data_dir / f"replstack-{stack.name}" / "db2" / "data" / "bench")
               .iterdir()) / 2**20


def bare(stack: CliStack, scratch: Path) -> dict[str, float]:
    """The same work by hand, on this host, against db2 and db1."""
    cluster = stack.data_dir / f"replstack-{stack.name}"
    db2 = cluster / "db2"
    exported = json.loads(stack.run("stack", "export", "--show-secrets").ok().stdout)
    repl_password = next(r["outputs"]["value"] for r in exported["deployment"]["resources"]
                         if r["urn"].endswith("::replication-password"))
    if isinstance(repl_password, dict):  # a secret, shown: its plaintext is JSON
        repl_password = json.loads(repl_password["plaintext"])
    datadir, tmpdir = scratch / "data", scratch / "tmp"
    datadir.mkdir(parents=True)
    tmpdir.mkdir()
    times: dict[str, float] = {}
    started = time.monotonic()
    backup = subprocess.Popen(["mariadb-backup", f"--defaults-file={db2 / 'my.cnf'}", "--backup",
                               "--stream=xbstream", "--user=root", f"--socket={db2 / 'mariadbd.sock'}",
                               f"--target-dir={db2 / 'tmp'}"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    subprocess.run(["mbstream", "-x", "-C", str(datadir)], stdin=backup.stdout, check=True)
    assert backup.wait() == 0
    times["stream backup | mbstream -x"] = time.monotonic() - started
    mark = time.monotonic()
    subprocess.run(["mariadb-backup", "--prepare", f"--target-dir={datadir}"], check=True, capture_output=True)
    times["--prepare"] = time.monotonic() - mark
    gtid = copy_position(LocalHost(), str(datadir))
    port = free_port()
    config = scratch / "my.cnf"
    config.write_text(f"[mariadbd]\ndatadir={datadir}\nsocket={scratch / 's.sock'}\nport={port}\nbind_address="
                      f"127.0.0.1\nserver_id=99\nlog_bin=mariadb-bin\nlog_slave_updates=1\nrelay_log=relay-bin\n"
                      f"read_only=1\ntmpdir={tmpdir}\nlog_error={scratch / 'error.log'}\nuser=root\n"
                      f"pid_file={scratch / 'pid'}\ninnodb_buffer_pool_size=128M\n")
    mark = time.monotonic()
    server = subprocess.Popen(["mariadbd", f"--defaults-file={config}"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        while True:
            try:
                conn = pymysql.connect(unix_socket=str(scratch / "s.sock"), user="root", autocommit=True)
                break
            except pymysql.MySQLError:
                time.sleep(0.05)
        times["start mariadbd"] = time.monotonic() - mark
        mark = time.monotonic()
        host, db1_port = node_address(stack, "db1").rsplit(":", 1)
        with conn.cursor() as cur:
            cur.execute("SET GLOBAL gtid_slave_pos = %s", (gtid,))
            cur.execute("CHANGE MASTER TO MASTER_HOST = %s, MASTER_PORT = %s, MASTER_USER = 'replstack_repl', "
                        "MASTER_PASSWORD = %s, MASTER_USE_GTID = slave_pos", (host, int(db1_port), repl_password))
            cur.execute("START SLAVE")
            target = sql(stack, node_address(stack, "db1"), "SELECT @@gtid_binlog_pos")[0][0]
            cur.execute("SELECT MASTER_GTID_WAIT(%s, 600)", (target,))
            assert cur.fetchone()[0] == 0
        times["CHANGE MASTER + catch up"] = time.monotonic() - mark
        conn.close()
    finally:
        server.terminate()
        server.wait(60)
    times["total"] = time.monotonic() - started
    return times


def step_times(output: str) -> list[tuple[str, float]]:
    """Each resource step of an update as ``up`` prints it (``db3 created (9s)``), slowest first."""
    steps = re.findall(r"(\S+) (created|updated|deleted|replaced) \((\d+(?:\.\d+)?)s\)", output)
    return sorted(((f"{name} ({op})", float(seconds)) for name, op, seconds in steps), key=lambda item: -item[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=1024, help="dataset size to load (MB of rows)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="replstack-bench-resize-"))
    stack = cli_stack(tmp, cluster_config(tmp / "data", nodes=2), name="bench", echo=False)
    try:
        stack.up().ok()
        mark = time.monotonic()
        size = load(stack, args.size_mb)
        print(f"dataset: {size:.0f} MB on disk in 8 tables (loaded and replicated in {time.monotonic() - mark:.0f}s)")
        times = bare(stack, tmp / "bare")
        for step, seconds in times.items():
            print(f"bare      {step:32s} {seconds:7.1f} s")
        stack.config_set("replstack:database.nodes", 3)
        mark = time.monotonic()
        output = stack.up().ok().output
        took = time.monotonic() - mark
        record = json.loads((tmp / "data" / "replstack-bench" / "db3" / "seed.json").read_text())
        print(f"replstack up (nodes 2 -> 3, preview included) {took:7.1f} s; the copy: {record['copiedMB']} MB "
              f"from {record['source']} in {record['seconds']} s")
        checked = (tmp / "data" / "replstack-bench" / "db3" / "seed.log").read_text().strip().splitlines()[-1]
        print(f"replstack data check: {checked.split(' ', 2)[2]}")
        for name, seconds in step_times(output)[:6]:
            print(f"replstack step {name:40s} {seconds:7.1f} s")
        print(f"ratio: {took / times['total']:.2f} x the bare commands (goal <= 1.5)")
    finally:
        stack.run("destroy", "--yes")
        stack.run("stack", "rm", "--yes", "--force")
        kill_processes_under(tmp)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
