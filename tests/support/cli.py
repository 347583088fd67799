"""The Pulumi CLI as a user runs it: ``scripts/pulumi`` (the pinned engine with the project's environment),
pointed with ``--cwd`` at a temporary project, with its own file backend. Plain ``up`` previews first, which
the Automation API's ``up`` does not: these tests go through the commands the README tells users to run."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import pymysql
import yaml

from tests.support.engine import PASSPHRASE, PROJECT_DIR, TempProject, replstack_project

PULUMI = str(PROJECT_DIR / "scripts" / "pulumi")
# Commands that change nothing (``CliStack.read`` keeps what they printed until another command runs).
READ_ONLY = {("stack", "output"), ("stack", "export")}


@dataclass
class CommandResult:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def ok(self) -> "CommandResult":
        assert self.returncode == 0, f"{' '.join(self.argv)} exited {self.returncode}:\n{self.output}"
        return self


@dataclass
class CliStack:
    """One stack of a temporary project, driven through ``scripts/pulumi``."""

    project: TempProject
    name: str
    data_dir: Path
    echo: bool = True  # print each command's output (tests); the benchmarks turn it off
    # What the read-only commands (``stack output``, ``stack export``) last printed, with the state files they
    # read then: kept while those files are unchanged and no other command ran (each read is a CLI run of about
    # half a second, and tests read outputs and state often).
    _reads: dict[tuple[str, ...], tuple[Any, str]] = field(default_factory=dict, repr=False)

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "REPLSTACK_STATE_DIR": str(self.project.state_dir),
                "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE}

    def run(self, *args: str, timeout: float = 600, stdin: str | None = None) -> CommandResult:
        """``scripts/pulumi --cwd <project> ARGS --stack NAME --non-interactive``; output is printed too, so
        that a failing test shows what the user would have seen."""
        if args[:2] not in READ_ONLY:
            self._reads.clear()
        argv = [PULUMI, "--cwd", str(self.project.root), *args, "--stack", self.name, "--non-interactive"]
        done = subprocess.run(argv, env=self.env, capture_output=True, text=True, timeout=timeout, input=stdin,
                              stdin=None if stdin is not None else subprocess.DEVNULL)
        result = CommandResult(argv, done.returncode, done.stdout, done.stderr)
        if self.echo and "--show-secrets" not in args:
            print(f"$ pulumi {' '.join(args)}\n{result.output}")
        return result

    # -- what users type --------------------------------------------------------------------------------------
    def preview_diff(self, *extra: str) -> CommandResult:
        return self.run("preview", "--diff", *extra)

    def up(self, *extra: str) -> CommandResult:
        return self.run("up", "--yes", *extra)

    def expect_no_changes(self) -> CommandResult:
        return self.run("preview", "--expect-no-changes")

    def config_set(self, key: str, value: Any) -> None:
        text = value if isinstance(value, str) else json.dumps(value)
        self.run("config", "set", "--path", key, text).ok()

    def config_set_secret(self, key: str, value: str) -> None:
        """As a user should: the value on standard input, never on a command line."""
        self.run("config", "set", "--secret", key, stdin=value).ok()

    def config(self) -> dict[str, Any]:
        path = self.project.root / f"Pulumi.{self.name}.yaml"
        return (yaml.safe_load(path.read_text()) or {}).get("config", {})

    def write_config(self, config: dict[str, Any]) -> None:
        self.project.write_config(self.name, config)

    def read(self, *args: str) -> str:
        """A read-only command's output, run again after another command or a change of the stack's state
        files (an engine run outside this object: a killed ``up``, the repair script)."""
        files = self._state_files()
        if args not in self._reads or self._reads[args][0] != files:
            self._reads[args] = (files, self.run(*args).ok().stdout)
        return self._reads[args][1]

    def _state_files(self) -> tuple[tuple[str, int, int], ...]:
        found = []
        for path in sorted((self.project.state_dir / ".pulumi").glob(f"**/{self.name}.json*")):
            try:
                info = path.stat()
            except FileNotFoundError:
                continue
            found.append((str(path), info.st_mtime_ns, info.st_size))
        return tuple(found)

    def outputs(self) -> dict[str, Any]:
        return json.loads(self.read("stack", "output", "--json", "--show-secrets"))

    def state(self, resource: str) -> dict[str, Any]:
        """A resource's outputs in state, by name."""
        exported = json.loads(self.read("stack", "export"))
        for res in exported["deployment"]["resources"]:
            if res["urn"].endswith("::" + resource):
                return res.get("outputs", {})
        raise KeyError(resource)

    def connect(self, address: str, password: str | None = None, **kwargs: Any) -> pymysql.connections.Connection:
        outputs = self.outputs()
        host, port = address.rsplit(":", 1)
        return pymysql.connect(host=host, port=int(port), user=outputs["rootUser"],
                               password=password if password is not None else outputs["rootPassword"],
                               autocommit=True, connect_timeout=5, **kwargs)


def insert_marker(stack: CliStack, address: str) -> str:
    """A row with a new marker written at ``address`` (``host:port``), into ``app.items`` (made when missing);
    returns the marker, for a test to look for where the row should arrive."""
    marker = uuid.uuid4().hex
    with stack.connect(address) as conn, conn.cursor() as cur:
        cur.execute("CREATE DATABASE IF NOT EXISTS app")
        cur.execute("CREATE TABLE IF NOT EXISTS app.items (id INT AUTO_INCREMENT PRIMARY KEY, marker CHAR(32))")
        cur.execute("INSERT INTO app.items (marker) VALUES (%s)", (marker,))
    return marker


def cli_stack(tmp_path: Path, config: dict[str, Any], name: str = "cli", echo: bool = True) -> CliStack:
    """A temporary copy of the replstack project with one stack initialised and configured."""
    project = replstack_project(tmp_path)
    stack = CliStack(project=project, name=name, data_dir=tmp_path / "data", echo=echo)
    stack.run("stack", "init").ok()
    stack.write_config(config)
    return stack


@contextlib.contextmanager
def cli_cluster(tmp_path: Path, config: dict[str, Any], name: str = "cli",
                prepare: Callable[[CliStack], None] | None = None) -> Iterator[CliStack]:
    """A stack made with ``cli_stack`` and brought up with ``up`` (after ``prepare``, for what the stack needs
    first: files of the project, secrets); on exit, even when the test failed, it is destroyed, removed, and
    whatever still runs from ``tmp_path`` is killed."""
    from tests.support.processes import kill_processes_under

    stack = cli_stack(tmp_path, config, name)
    try:
        if prepare is not None:
            prepare(stack)
        stack.up().ok()
        yield stack
    finally:
        try:
            stack.run("destroy", "--yes")
            stack.run("stack", "rm", "--yes", "--force")
        finally:
            kill_processes_under(tmp_path)
