"""The engine's own behaviour seen from the CLI: a temporary project run by ``pulumi`` itself (not the
Automation API), and the processes the engine starts for it.

``EngineCli.command`` is the engine's ``pulumi`` with the environment of ``scripts/engine-env`` and the project's
own state and Pulumi home (``TempProject.env``); ``EngineCli.script_command`` is ``scripts/pulumi`` itself, which
keeps the shared Pulumi home of ``scripts/engine-env`` and takes the project's state directory and passphrase
from the environment. Both pass ``--cwd``, so they run the temporary project.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import psutil
import yaml

from tests.support.engine import PASSPHRASE, PROJECT_DIR, TempProject


@dataclass
class EngineCli:
    project: TempProject
    stack: str = "dev"

    def command(self, *args: str) -> list[str]:
        pulumi = Path(self.project.env["PULUMI_ROOT"]) / "bin" / "pulumi"
        return [str(pulumi), "--cwd", str(self.project.root), *args, "--non-interactive"]

    def script_command(self, *args: str) -> list[str]:
        return [str(PROJECT_DIR / "scripts" / "pulumi"), "--cwd", str(self.project.root), *args, "--non-interactive"]

    @property
    def script_env(self) -> dict[str, str]:
        """What ``scripts/pulumi`` reads from the environment: this project's state directory and passphrase."""
        return {**os.environ, "REPLSTACK_STATE_DIR": str(self.project.state_dir),
                "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE}

    def run(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """Runs a command to its end; ``stdout`` holds its output and errors together."""
        return subprocess.run(self.command(*args), env=self.project.env, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout)

    def start(self, *args: str, script: bool = False) -> subprocess.Popen[str]:
        """Starts a command in a session of its own, as a shell runs a foreground job (Ctrl-C is a SIGINT to
        that process group). Its output goes to one pipe: read it with ``communicate``."""
        argv = self.script_command(*args) if script else self.command(*args)
        return subprocess.Popen(argv, env=self.script_env if script else self.project.env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)

    def init(self, config: Mapping[str, Any]) -> None:
        """Creates the stack with the CLI and writes its configuration."""
        proc = self.run("stack", "init", self.stack)
        assert proc.returncode == 0, proc.stdout
        self.project.write_config(self.stack, config)

    def resources(self) -> list[dict[str, Any]]:
        """The resources the stack's state records."""
        proc = self.run("stack", "export", "--stack", self.stack)
        assert proc.returncode == 0, proc.stdout
        return json.loads(proc.stdout).get("deployment", {}).get("resources") or []

    def shared_home_logs(self, cli_pid: int) -> list[Path]:
        """The CLI's own log files that a ``scripts/pulumi`` run of this project left in the shared Pulumi home:
        named after the CLI's pid until it knows the stack, then after the project."""
        logs = Path(self.script_env_value("PULUMI_HOME")) / "logs"
        name = yaml.safe_load((self.project.root / "Pulumi.yaml").read_text())["name"]
        found = [*logs.glob(f"organization+{name}+*.log"), *logs.glob(f"pulumi-*-{cli_pid}-*.log")]
        return [path for path in found if path.is_file()]

    def script_env_value(self, key: str) -> str:
        out = subprocess.run([str(PROJECT_DIR / "scripts" / "engine-env")], env=self.script_env, check=True,
                             capture_output=True, text=True).stdout
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)[key]


def descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def alive(procs: Iterable[psutil.Process]) -> list[psutil.Process]:
    """Those of ``procs`` that still run (a zombie has ended)."""
    running = []
    for proc in procs:
        try:
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                running.append(proc)
        except psutil.NoSuchProcess:
            pass
    return running


def describe(procs: Iterable[psutil.Process]) -> str:
    lines = []
    for proc in procs:
        try:
            lines.append(f"{proc.pid} {' '.join(proc.cmdline()[:4])}")
        except psutil.NoSuchProcess:
            lines.append(f"{proc.pid} (gone)")
    return "\n".join(lines)


def wait_until(condition: Callable[[], Any], timeout: float, what: str | Callable[[], str],
               interval: float = 0.05) -> Any:
    """Polls ``condition`` until it returns something true, and returns it; fails naming ``what`` (a text, or a
    function that tells what is still wrong at that moment)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what if isinstance(what, str) else what()}")
        time.sleep(interval)


def kill_all(procs: Iterable[psutil.Process]) -> None:
    """The safety net of a test's cleanup: SIGKILL to whatever of ``procs`` still runs."""
    procs = list(procs)
    for proc in alive(procs):
        try:
            proc.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(procs, timeout=10)
