"""Upgrade safety: a stack created by the previous release's code (before resources had types of their own)
is refreshed, previewed, updated and destroyed by the current code through the CLI, with no replacement, no
error, and nothing left behind. The previous code is taken from the project's own history."""

from __future__ import annotations

import io
import json
import re
import subprocess
import tarfile

import pytest

from tests.support.cli import CliStack
from tests.support.cluster import cluster_config
from tests.support.engine import PROJECT_DIR, _lay_out
from tests.support.processes import kill_processes_under, listening_ports, processes_under

pytestmark = pytest.mark.timeout(600)

# Resource kinds that release did not have.
NEW_KINDS = {"local:ClusterOwner", "secrets:GeneratedPassword", "cluster:StackPolicy"}
# The last commit whose resources were all ``pulumi-python:dynamic:Resource``.
PREVIOUS_RELEASE = "f9ee9fa937d6120de0731cb8c76ad2509b29f769"


def previous_code(target) -> list:
    """``__main__.py`` and ``components/`` as they were at PREVIOUS_RELEASE, unpacked under ``target``."""
    archive = subprocess.run(["git", "-C", str(PROJECT_DIR), "archive", "--format=tar", PREVIOUS_RELEASE,
                              "__main__.py", "components"], check=True, capture_output=True).stdout
    target.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(target, filter="data")
    return [target / "__main__.py", target / "components"]


def dynamic_types(stack: CliStack) -> set[str]:
    resources = json.loads(stack.run("stack", "export").ok().stdout)["deployment"]["resources"]
    return {r["type"] for r in resources if r["type"].startswith("pulumi-python:dynamic")}


def switch_program(stack: CliStack, entries: list) -> None:
    for entry in entries:
        link = stack.project.root / entry.name
        link.unlink()
        link.symlink_to(entry)


def test_stack_of_the_previous_release_refreshes_previews_updates_and_destroys(tmp_path):
    project = _lay_out(tmp_path, "replstack", previous_code(tmp_path / "previous"))
    stack = CliStack(project=project, name="upgrade", data_dir=tmp_path / "data")
    stack.run("stack", "init").ok()
    stack.write_config(cluster_config(stack.data_dir))
    try:
        stack.up().ok()
        assert dynamic_types(stack) == {"pulumi-python:dynamic:Resource"}
        pids = {name: int(stack.state(name)["pid"]) for name in ("db1", "db2", "db3")}

        switch_program(stack, [PROJECT_DIR / "__main__.py", PROJECT_DIR / "components"])
        stack.run("refresh", "--yes").ok()
        preview = stack.preview_diff().ok().output
        assert "Traceback" not in preview
        summary = preview.rsplit("Resources:", 1)[1]
        assert "replace" not in summary and "to delete" not in summary, summary
        # New resources are only of kinds that release did not have (the owner of the cluster directory, new
        # generated passwords): nothing it had is created again.
        created = set(re.findall(r"pulumi-python:dynamic/replstack/([\w/]+:\w+): \(create\)", preview))
        assert "local:ClusterOwner" in created and created <= NEW_KINDS, created
        stack.up().ok()
        stack.expect_no_changes().ok()
        types = dynamic_types(stack)
        assert "pulumi-python:dynamic:Resource" not in types
        assert "pulumi-python:dynamic/replstack/local:MariaDBServer" in types
        assert {name: int(stack.state(name)["pid"]) for name in pids} == pids, "the upgrade restarts nothing"

        ports = {n["port"] for n in stack.outputs()["nodes"]}
        stack.run("destroy", "--yes").ok()
        assert processes_under(stack.data_dir) == []
        assert not ports & listening_ports()
        assert not stack.data_dir.exists() or not any(stack.data_dir.rglob("*.cnf"))
    finally:
        stack.run("destroy", "--yes")
        stack.run("stack", "rm", "--yes", "--force")
        kill_processes_under(tmp_path)
