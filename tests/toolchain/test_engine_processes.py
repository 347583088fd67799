"""The processes the engine starts end with it, and Ctrl-C stops an `up` during its preview: through the CLI,
as users run it."""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from pathlib import Path

import psutil
import pytest

from tests.support.engine import temp_project
from tests.support.engine_cli import EngineCli, alive, descendants, describe, kill_all, wait_until

PROGRAMS = Path(__file__).parent / "programs"


def _role(proc: psutil.Process) -> str | None:
    """Which engine process this is, from its command line."""
    try:
        cmdline = " ".join(proc.cmdline())
    except psutil.NoSuchProcess:
        return None
    if "pulumi-language-python-exec" in cmdline:
        return "program"
    if "replstack_runtime.py dynamic" in cmdline or "-m pulumi.dynamic" in cmdline:
        return "provider"
    if cmdline.split(" ", 1)[0].endswith("/pulumi-language-python"):
        return "language host"
    return None


def test_engine_processes_exit_when_the_engine_is_killed(tmp_path):
    """kill -9 of `pulumi` while a dynamic resource's create runs: the language host, the program and the
    dynamic-provider server all exit; the process the provider started in a session of its own (as mariadbd
    is) keeps running."""
    pids_file = tmp_path / "pids.json"
    cli = EngineCli(temp_project(tmp_path, PROGRAMS / "blocking", name="orphans"))
    cli.init({"toolchain:pids": str(pids_file), "toolchain:release": str(tmp_path / "never")})

    up = cli.start("up", "--yes", "--stack", cli.stack)
    engine: list[psutil.Process] = []
    detached: list[psutil.Process] = []
    try:
        wait_until(lambda: pids_file.exists() or up.poll() is not None, 120, "the provider's create to start")
        assert up.poll() is None, up.communicate()[0]
        pids = json.loads(pids_file.read_text())
        detached = [psutil.Process(pids["detached"])]
        engine = [p for p in descendants(up.pid) if p.pid != pids["detached"]]
        roles = {_role(p) for p in engine}
        assert {"language host", "program", "provider"} <= roles, describe(engine)

        up.kill()
        up.communicate(timeout=30)

        wait_until(lambda: not alive(engine), 20,
                   lambda: "the engine's processes to exit; still running:\n" + describe(alive(engine)))
        assert alive(detached), "the detached process died with the provider that started it"
    finally:
        if up.poll() is None:
            up.kill()
            up.communicate(timeout=30)
        kill_all(engine + detached)


@pytest.mark.parametrize("slow", ["program", "provider"])
def test_ctrl_c_during_the_preview_of_up_cancels_it(tmp_path, slow):
    """`scripts/pulumi up --yes` whose preview waits (in the program, or in a provider's check), interrupted
    there as Ctrl-C does (SIGINT to its process group): it stops at once, fails, creates nothing, leaves no
    engine process behind, and prints no Python traceback."""
    marker, created = tmp_path / "slow-part-started", tmp_path / "created"
    # A project name of its own: the CLI's own log in the shared Pulumi home of scripts/pulumi is found by it.
    project = temp_project(tmp_path, PROGRAMS / "slow_preview", name=f"cancel-{uuid.uuid4().hex[:12]}")
    cli = EngineCli(project)
    cli.init({"toolchain:slow": slow, "toolchain:marker": str(marker), "toolchain:release": str(tmp_path / "never"),
              "toolchain:created": str(created)})

    up = cli.start("up", "--yes", "--stack", cli.stack, script=True)
    engine: list[psutil.Process] = []
    try:
        wait_until(lambda: marker.exists() or up.poll() is not None, 120, "the slow part of the preview")
        assert up.poll() is None, up.communicate()[0]
        engine = descendants(up.pid)
        interrupted = time.monotonic()
        os.killpg(up.pid, signal.SIGINT)
        output, _ = up.communicate(timeout=60)
        took = time.monotonic() - interrupted

        assert up.returncode != 0, output
        assert took < 20, f"took {took:.1f}s to stop:\n{output}"
        assert "Updating" not in output, output
        assert "Traceback" not in output and "KeyboardInterrupt" not in output, output
        assert not created.exists(), created.read_text()
        assert cli.resources() == []
        wait_until(lambda: not alive(engine), 20,
                   lambda: "the engine's processes to exit; still running:\n" + describe(alive(engine)))
    finally:
        if up.poll() is None:
            os.killpg(up.pid, signal.SIGKILL)
            up.communicate(timeout=30)
        kill_all(engine)
        for log in cli.shared_home_logs(up.pid):
            log.unlink(missing_ok=True)
