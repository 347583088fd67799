"""A real sysbench ``oltp_read_write`` load through an endpoint, for the length of a ``with`` block.

sysbench reads its options, the password among them, from a 0600 option file (``--config-file``), never from
its command line, and reports every second; the report lines are kept with the time they were read, so a test
can tell failures inside a window (a switchover) from failures outside it.

What counts as failed: sysbench retries a transaction that hit a deadlock or a lock wait timeout (its default
``--mysql-ignore-errors``: 1213, 1020, 1205; ``err/s`` in its reports, shown here as "retried": contention
between its own threads, not a failure of the cluster), and stops on any other error. The load is a supervisor
that starts sysbench again whenever it stops, as a client application would reconnect; each stop is one failed
transaction at the time it happened. (Letting sysbench re-open lost connections itself is not an option: Debian's
sysbench 1.0.20 crashes in its MariaDB client library when it reconnects after the server side closed the
connection.) After the load, ``consistent`` compares the sbtest tables' checksums on the nodes given: every
node holds the same rows.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pymysql

# "[ 3s ] thds: 2 tps: 95.99 qps: 1921.77 (r/w/o: 1345.84/383.96/191.98) lat (ms,95%): 31.37 err/s: 0.00
#  reconn/s: 0.00"
_REPORT = re.compile(r"\[ *(\d+)s \] thds: \d+ tps: ([\d.]+) .* err/s: ([\d.]+) reconn/s: ([\d.]+)")


@dataclass(frozen=True)
class Second:
    """One report line: when it was read (time.monotonic), transactions and failures per second."""

    at: float
    tps: float
    errors: float
    reconnects: float


class SysbenchLoad:
    def __init__(self, address: str, user: str, password: str, workdir: Path, tables: int = 2,
                 table_size: int = 10000, threads: int = 2, database: str = "sbtest"):
        host, port = address.rsplit(":", 1)
        self.address, self.database, self.tables, self.table_size = address, database, tables, table_size
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.options = workdir / "sysbench.cfg"
        fd = os.open(self.options, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(f"db-driver=mysql\nmysql-host={host}\nmysql-port={port}\nmysql-user={user}\n"
                         f"mysql-password={password}\nmysql-db={database}\n"
                         f"threads={threads}\n"
                         "report-interval=1\ntime=0\ndb-ps-mode=disable\n")
        self.connection = dict(host=host, port=int(port), user=user, password=password, autocommit=True,
                               connect_timeout=5)
        self.seconds: list[Second] = []
        self.output: list[str] = []
        self.restarts: list[float] = []
        self._proc: subprocess.Popen | None = None
        self._supervisor: threading.Thread | None = None
        self._stopping = threading.Event()

    def _sysbench(self, command: str) -> list[str]:
        # The test's own options are read from its command line only (the option file holds sysbench's).
        return ["sysbench", f"--config-file={self.options}", "oltp_read_write", f"--tables={self.tables}",
                f"--table-size={self.table_size}", command]

    def prepare(self) -> None:
        with pymysql.connect(**self.connection) as conn, conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE IF NOT EXISTS `{self.database}`")
        subprocess.run(self._sysbench("prepare"), check=True, capture_output=True, text=True, timeout=300)

    def __enter__(self) -> "SysbenchLoad":
        self._supervisor = threading.Thread(target=self._supervise, daemon=True)
        self._supervisor.start()
        return self

    def _supervise(self) -> None:
        while not self._stopping.is_set():
            self._proc = subprocess.Popen(self._sysbench("run"), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                          text=True, start_new_session=True)
            assert self._proc.stdout is not None
            for line in self._proc.stdout:
                self.output.append(line.rstrip())
                match = _REPORT.search(line)
                if match:
                    self.seconds.append(Second(time.monotonic(), float(match.group(2)), float(match.group(3)),
                                               float(match.group(4))))
            code = self._proc.wait()
            if not self._stopping.is_set():
                self.restarts.append(time.monotonic())
                self.output.append(f"(sysbench ended with {code}; started again)")
                self._stopping.wait(0.2)

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        proc = self._proc
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        if self._supervisor is not None:
            self._supervisor.join(15)

    # -- what a test reads ----------------------------------------------------------------------------------
    def wait_running(self, timeout: float = 30) -> None:
        """Until sysbench reports committed transactions."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(s.tps > 0 for s in self.seconds):
                return
            time.sleep(0.2)
        raise AssertionError("sysbench committed nothing:\n" + "\n".join(self.output[-20:]))

    def transactions(self) -> float:
        return sum(s.tps for s in self.seconds)

    def failed(self, outside: list[tuple[float, float]] = ()) -> float:
        """Failed transactions (sysbench stopped on an error) outside the given windows (time.monotonic pairs)."""
        def inside(at: float) -> bool:
            return any(start - 1.5 <= at <= end + 1.5 for start, end in outside)

        return sum(1 for at in self.restarts if not inside(at))

    def summary(self, outside: list[tuple[float, float]] = ()) -> str:
        return (f"sysbench oltp_read_write: {self.transactions():.0f} transactions in {len(self.seconds)} s, "
                f"{len(self.restarts)} failed ({self.failed(outside):.0f} outside the windows), "
                f"{sum(s.errors for s in self.seconds):.0f} retried after a deadlock or lock wait")

    def checksums(self, address: str) -> dict[str, int]:
        host, port = address.rsplit(":", 1)
        with pymysql.connect(**{**self.connection, "host": host, "port": int(port)}) as conn, conn.cursor() as cur:
            cur.execute("CHECKSUM TABLE " + ", ".join(f"`{self.database}`.sbtest{i}"
                                                       for i in range(1, self.tables + 1)))
            return {name: value for name, value in cur.fetchall()}
