"""sysbench through HAProxy against the same load straight to the servers, in one run.

A 3-node cluster (local backend, one HAProxy) gets its sysbench tables from the stack itself
(``bootstrap.sysbench``: prepared through HAProxy's write listener), then, for each round:

* ``oltp_read_write`` through HAProxy's write port, and straight to the primary;
* ``oltp_read_only`` through HAProxy's read port (balanced over the two replicas), and straight to one replica.

Prints each run's transactions per second and the ratios proxied/direct (goals on a 2-core machine: write >= 0.9,
read >= 0.8 of one replica direct), and where the time goes: ``oltp_read_only`` straight to both replicas at
once (what the read port balances over, without HAProxy in between), the round trip of one query
(``oltp_point_select``, one thread) through the read port and straight to the replica, and the CPU time HAProxy
used during the run. The password reaches sysbench in a 0600 option file, never on its command line.
Run: ``.venv/bin/python bench/proxy.py [--seconds 10] [--threads 4] [--tables 4] [--rows 10000] [--rounds 2]``.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.cli import CliStack, cli_stack  # noqa: E402
from tests.support.cluster import cluster_config  # noqa: E402
from tests.support.processes import kill_processes_under  # noqa: E402

_TPS = re.compile(r"transactions:\s+\d+\s+\(([\d.]+) per sec\.\)")
_QPS = re.compile(r"queries:\s+\d+\s+\(([\d.]+) per sec\.\)")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (and its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def sysbench(work: Path, address: str, user: str, password: str, test: str, args: argparse.Namespace,
             threads: int | None = None, pattern: re.Pattern = _TPS) -> float:
    """TPS (or what ``pattern`` reads) of one run against ``address``, or against several servers at once
    (``h1:p1,h2:p2``: sysbench spreads its connections over them)."""
    pairs = [a.rsplit(":", 1) for a in address.split(",")]
    host, port = ",".join(h for h, _ in pairs), ",".join(p for _, p in pairs)
    options = work / "sysbench.options"
    fd = os.open(options, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(f"mysql-host={host}\nmysql-port={port}\nmysql-user={user}\nmysql-password={password}\n"
                  "mysql-db=sbtest\ndb-driver=mysql\n")
    run = subprocess.run(["sysbench", f"--config-file={options}", test, f"--tables={args.tables}",
                          f"--table-size={args.rows}", f"--threads={threads or args.threads}", f"--time={args.seconds}",
                          "--report-interval=0", "run"], capture_output=True, text=True, timeout=args.seconds + 120)
    found = pattern.search(run.stdout)
    if run.returncode != 0 or not found:
        raise SystemExit(f"sysbench {test} against {address} failed: {run.stdout[-600:]}{run.stderr[-600:]}")
    return float(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--tables", type=int, default=4)
    parser.add_argument("--rows", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="replstack-bench-proxy-"))
    config = cluster_config(tmp / "data", nodes=3, bootstrap={"sysbench": {"tables": args.tables, "rows": args.rows}})
    stack: CliStack = cli_stack(tmp, config, name="bench", echo=False)
    try:
        stack.up().ok()
        out = stack.outputs()
        haproxy = out["proxies"][0]
        nodes = {n["role"]: n for n in reversed(out["nodes"])}
        primary = f"{nodes['primary']['host']}:{nodes['primary']['port']}"
        replica = f"{nodes['replica']['host']}:{nodes['replica']['port']}"
        replicas = ",".join(f"{n['host']}:{n['port']}" for n in out["nodes"] if n["role"] == "replica")
        user, password = out["rootUser"], out["rootPassword"]
        pid_file = next(tmp.glob("data/*/haproxy1/haproxy.pid"))
        haproxy_pid = int(pid_file.read_text().split()[0])
        print(f"sysbench {args.threads} threads, {args.tables} x {args.rows} rows, {args.seconds} s per run")
        for round_ in range(1, args.rounds + 1):
            cpu_before, started = cpu_seconds(haproxy_pid), time.monotonic()
            results = {
                "write via HAProxy": sysbench(tmp, haproxy["writeEndpoint"], user, password, "oltp_read_write", args),
                "write direct": sysbench(tmp, primary, user, password, "oltp_read_write", args),
                "read via HAProxy": sysbench(tmp, haproxy["readEndpoint"], user, password, "oltp_read_only", args),
                "read direct (one replica)": sysbench(tmp, replica, user, password, "oltp_read_only", args),
                # Where the read side's time goes: the same two replicas without HAProxy in between.
                "read direct (both replicas)": sysbench(tmp, replicas, user, password, "oltp_read_only", args),
            }
            cpu = (cpu_seconds(haproxy_pid) - cpu_before) / (time.monotonic() - started)
            for what, tps in results.items():
                print(f"round {round_}: {what:28s} {tps:9.1f} tps")
            print(f"round {round_}: write ratio {results['write via HAProxy'] / results['write direct']:.2f} "
                  f"(goal >= 0.9), read ratio "
                  f"{results['read via HAProxy'] / results['read direct (one replica)']:.2f} (goal >= 0.8); HAProxy "
                  f"used {cpu:.0%} of a core")
            print(f"round {round_}: both replicas without HAProxy: "
                  f"{results['read direct (both replicas)'] / results['read direct (one replica)']:.2f} of one "
                  f"replica direct; HAProxy's own share: "
                  f"{results['read via HAProxy'] / results['read direct (both replicas)']:.2f} of that")
            # The best of three short alternating runs each: the machine's other load only ever adds to a round trip.
            short = argparse.Namespace(**{**vars(args), "seconds": 3})
            proxied = max(sysbench(tmp, haproxy["readEndpoint"], user, password, "oltp_point_select", short, 1, _QPS)
                          for _ in range(3))
            direct = max(sysbench(tmp, replica, user, password, "oltp_point_select", short, 1, _QPS)
                         for _ in range(3))
            print(f"round {round_}: one query's round trip (1 thread, best of 3): {1e6 / proxied:.0f} us via "
                  f"HAProxy, {1e6 / direct:.0f} us direct; load average {os.getloadavg()[0]:.1f} on "
                  f"{os.cpu_count()} cores")
    finally:
        try:
            stack.run("destroy", "--yes")
            stack.run("stack", "rm", "--yes", "--force")
        finally:
            kill_processes_under(tmp)
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
