#!/usr/bin/env python3
"""Benchmark of the local backend: median of N runs of `up` from empty, no-op `preview` and `destroy` of a
3-node MariaDB cluster with HAProxy, beside a baseline measured in the same run (bench/baseline.sh builds the
same cluster with plain commands and no engine), and the peak memory of the pulumi process tree.

Also the preview of a change (``maxConnections`` raised: three nodes to update live), the gate a pull request
waits for. Goals on a 2-core machine: up <= 5x the baseline, no-op preview <= 4 s, preview of a change <= 2 s,
destroy <= 5 s. Prints figures; it is not a test and fails nothing.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.cluster import cluster_config  # noqa: E402
from tests.support.engine import replstack_project  # noqa: E402
from tests.support.processes import kill_processes_under  # noqa: E402
from tests.support.sampling import Sampler  # noqa: E402

SERVICES = {"mariadbd", "haproxy"}


class PeakMemory(Sampler):
    """The summed RSS of this process's descendants (the pulumi CLI, language host, program and providers),
    leaving out the database and proxy servers they start; keeps the peak."""

    interval = 0.05

    def __init__(self) -> None:
        super().__init__()
        self.peak = 0
        self._me = psutil.Process()

    def sample(self) -> None:
        total = 0
        for child in self._me.children(recursive=True):
            try:
                if child.name() not in SERVICES:
                    total += child.memory_info().rss
            except psutil.NoSuchProcess:
                continue
        self.peak = max(self.peak, total)


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def free_port_base() -> int:
    """A base port with base+1..base+11 free on loopback."""
    for _ in range(200):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = probe.getsockname()[1] - 1
        if base + 12 < 65535 and all(_free(base + i) for i in range(1, 12)):
            return base
    raise RuntimeError("no free port range found")


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def baseline(work: Path) -> tuple[float, float]:
    script = ROOT / "bench" / "baseline.sh"
    target = work / "baseline"
    try:
        up = timed(lambda: subprocess.run([str(script), "up", str(target), str(free_port_base())], check=True))
        down = timed(lambda: subprocess.run([str(script), "down", str(target)], check=True))
    finally:
        kill_processes_under(target)
        shutil.rmtree(target, ignore_errors=True)
    return up, down


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="replstack-bench-"))
    figures: dict[str, list[float]] = {"baseline up": [], "baseline down": [], "up": [], "preview": [],
                                       "change preview": [], "destroy": []}
    peak = 0
    try:
        project = replstack_project(work / "engine")
        config = cluster_config(work / "data")
        stack = project.stack("bench", config)
        changed = {**config, "replstack:database": {**config["replstack:database"], "maxConnections": 1500}}
        for run in range(1, args.runs + 1):
            base_up, base_down = baseline(work)
            figures["baseline up"].append(base_up)
            figures["baseline down"].append(base_down)
            with PeakMemory() as memory:
                figures["up"].append(timed(lambda: stack.up(on_output=lambda line: None)))
            peak = max(peak, memory.peak)
            figures["preview"].append(timed(lambda: stack.preview(on_output=lambda line: None)))
            project.write_config("bench", changed)
            figures["change preview"].append(timed(lambda: stack.preview(on_output=lambda line: None)))
            project.write_config("bench", config)
            figures["destroy"].append(timed(lambda: stack.destroy(on_output=lambda line: None)))
            print(f"run {run}/{args.runs}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in figures.items()), flush=True)
        stack.workspace.remove_stack("bench")
    finally:
        kill_processes_under(work)
        shutil.rmtree(work, ignore_errors=True)

    median = {k: statistics.median(v) for k, v in figures.items()}
    ratio = median["up"] / median["baseline up"]
    print(f"\nmedian of {args.runs} runs, 3 MariaDB nodes + HAProxy, local backend, {psutil.cpu_count()} cores")
    print(f"  baseline up (shell, no engine)  {median['baseline up']:6.2f} s")
    print(f"  baseline teardown               {median['baseline down']:6.2f} s")
    print(f"  pulumi up from empty            {median['up']:6.2f} s   {ratio:4.1f}x baseline  (goal <= 5x: "
          f"{'met' if ratio <= 5 else 'missed'})")
    print(f"  pulumi preview, no changes      {median['preview']:6.2f} s   (goal <= 4 s: "
          f"{'met' if median['preview'] <= 4 else 'missed'})")
    print(f"  pulumi preview, maxConnections  {median['change preview']:6.2f} s   (goal <= 2 s: "
          f"{'met' if median['change preview'] <= 2 else 'missed'})")
    print(f"  pulumi destroy                  {median['destroy']:6.2f} s   (goal <= 5 s: "
          f"{'met' if median['destroy'] <= 5 else 'missed'})")
    print(f"  peak memory of the pulumi process tree during up: {peak / 2**20:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
