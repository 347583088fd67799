"""Errors reach the user of the CLI as one line (the reason, and the log file that holds the traceback), never as
a Python traceback: from a dynamic provider and from the program."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest

from tests.support.engine import temp_project
from tests.support.engine_cli import EngineCli

PROGRAMS = Path(__file__).parent / "programs"
DETAILS = re.compile(r"\(details: (\S+\.log)\)")


def _up(tmp_path: Path, fail: str) -> tuple[str, EngineCli]:
    cli = EngineCli(temp_project(tmp_path, PROGRAMS / "failing", name="failing"))
    cli.init({"toolchain:fail": fail})
    proc = cli.run("up", "--yes", "--stack", cli.stack)
    assert proc.returncode != 0, proc.stdout
    assert "Traceback (most recent call last)" not in proc.stdout, proc.stdout
    return proc.stdout, cli


def _error_lines(output: str) -> list[str]:
    """The error lines of the diagnostics, without the engine's closing `update failed`."""
    return [line.strip() for line in output.splitlines()
            if line.strip().startswith("error:") and "update failed" not in line]


@pytest.mark.parametrize("fail, reason, raised_at", [
    ("provider-own", "db9 did not start: port 3306 is taken", 'raise StepFailed("db9 did not start'),
    ("provider-other", "KeyError: 'port'", 'return {"host": "127.0.0.1"}["port"]'),
    ("program-own", "the cluster needs at least one node", 'raise StepFailed("the cluster needs'),
    ("program-other", "ZeroDivisionError: division by zero", "print(1 / 0)"),
])
def test_an_error_is_one_line_naming_a_log_with_the_traceback(tmp_path, fail, reason, raised_at):
    output, cli = _up(tmp_path, fail)
    errors = _error_lines(output)
    assert errors, output
    for line in errors:
        match = DETAILS.search(line)
        assert line.startswith(f"error: {reason} (details: ") and match and line.endswith(")"), output
    logs_dir = Path(cli.project.env["PULUMI_HOME"]) / "logs" / "replstack"
    log = Path(DETAILS.search(errors[0]).group(1))
    assert log.parent == logs_dir
    assert stat.S_IMODE(os.stat(log).st_mode) == 0o600
    text = log.read_text()
    assert "Traceback (most recent call last)" in text and raised_at in text, text
    if fail.startswith("provider"):
        assert "resource: urn:pulumi:dev::failing::pulumi-python:dynamic:Resource::failing" in text
        assert "operation: Create" in text
        assert "Resource (failing):" in output  # the engine names the resource above the line
    # The project's own exceptions say their message alone; anything else says its type first.
    assert ("StepFailed" in errors[0]) is False


def test_run_error_is_its_message_alone(tmp_path):
    output, _ = _up(tmp_path, "program-runerror")
    assert "error: invalid stack configuration:" in output
    assert "replstack:database.nodes: 0 is below 1" in output
    assert "(details:" not in output and "RunError" not in output
