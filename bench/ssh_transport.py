#!/usr/bin/env python3
"""Cost of the SSH transport (components/orchestrators/ssh.py) against a real sshd on a loopback address
(tests/support/sshd.py): a connect, a run on a pooled connection, a put (write_file) of 4 KiB and of 1 MiB, and
a forward (opened, one connection through it, one round trip, closed) to a TCP port and to a unix socket.
Beside them, the OpenSSH client running `true` on the same host (a new connection each time). Medians of N
runs; prints figures, fails nothing."""

from __future__ import annotations

import argparse
import contextlib
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Iterator

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from components.orchestrators.ssh import SshHost  # noqa: E402
from tests.support.sshd import sshd_hosts  # noqa: E402


def median_ms(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


@contextlib.contextmanager
def echo_server(family: int, address) -> Iterator[None]:
    """Answers each connection's bytes with the same bytes, until the peer closes."""
    server = socket.socket(family, socket.SOCK_STREAM)
    server.bind(address)
    server.listen(16)
    server.settimeout(0.2)
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        with conn:
            while data := conn.recv(65536):
                conn.sendall(data)

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except (socket.timeout, TimeoutError):
                continue
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(5)
        server.close()


def round_trip(address: tuple[str, int]) -> None:
    with socket.create_connection(address, timeout=10) as conn:
        conn.sendall(b"ping")
        assert conn.recv(16) == b"ping"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="runs per figure (default 20; connects: a quarter)")
    args = parser.parse_args()
    runs, connects = args.runs, max(args.runs // 4, 3)

    with sshd_hosts(1) as hosts:
        sshd = hosts[0]
        host = SshHost(sshd.access())
        base = sshd.base
        figures: list[tuple[str, float]] = []

        def fresh_run() -> None:
            host.close()
            host.run(["true"])

        figures.append(("connect + first run (key, pinned host key)", median_ms(fresh_run, connects)))
        figures.append(("run `true` on the pooled connection", median_ms(lambda: host.run(["true"]), runs)))
        small, large = "x" * 4096, "x" * (1 << 20)
        figures.append(("put 4 KiB (write_file)", median_ms(lambda: host.write_file(f"{base}/small", small), runs)))
        figures.append(("put 1 MiB (write_file)", median_ms(lambda: host.write_file(f"{base}/large", large), runs)))
        figures.append(("read_file 4 KiB", median_ms(lambda: host.read_file(f"{base}/small"), runs)))
        figures.append(("process_alive", median_ms(lambda: host.process_alive(1, ""), runs)))

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            tcp_port = probe.getsockname()[1]
        unix_path = str(base / "echo.sock")
        with echo_server(socket.AF_INET, ("127.0.0.1", tcp_port)), echo_server(socket.AF_UNIX, unix_path):
            def forward_tcp() -> None:
                with host.forward_tcp("127.0.0.1", tcp_port) as address:
                    round_trip(address)

            def forward_unix() -> None:
                with host.forward_unix(unix_path) as address:
                    round_trip(address)

            figures.append(("forward_tcp: open, connect, round trip, close", median_ms(forward_tcp, runs)))
            figures.append(("forward_unix: open, connect, round trip, close", median_ms(forward_unix, runs)))
            with host.forward_tcp("127.0.0.1", tcp_port) as address:
                figures.append(("  a connection + round trip through an open forward_tcp",
                                median_ms(lambda: round_trip(address), runs)))

        ssh_client = shutil.which("ssh")
        if ssh_client:
            known = hosts.known_hosts()
            command = [ssh_client, "-q", "-i", str(hosts.root / "client_ed25519"), "-p", str(sshd.port),
                       "-o", f"UserKnownHostsFile={known}", "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes",
                       "-o", "IdentitiesOnly=yes", f"root@{sshd.address}", "true"]
            figures.append(("baseline: OpenSSH client `ssh host true` (new connection)",
                            median_ms(lambda: subprocess.run(command, check=True, stdin=subprocess.DEVNULL),
                                      connects)))
        host.close()

    print(f"SSH transport against sshd on a loopback address; medians of {runs} runs ({connects} for connects)")
    for name, value in figures:
        print(f"  {name:<62} {value:8.1f} ms")


if __name__ == "__main__":
    main()
