"""The project's Pulumi engine, as tests drive it through the Automation API.

Everything comes from ``scripts/engine-env`` (the same environment ``scripts/pulumi`` and ``make`` use), with
the state backend, the Pulumi home and the project itself moved into a temporary directory per test, so that no
test writes into the work tree or shares state with another.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import yaml
from pulumi import automation as auto

PROJECT_DIR = Path(__file__).resolve().parents[2]
PASSPHRASE = "replstack-test"


def engine_env(state_dir: Path) -> dict[str, str]:
    """The engine environment with its file backend in ``state_dir``."""
    out = subprocess.run(
        [str(PROJECT_DIR / "scripts" / "engine-env")],
        env={**os.environ, "REPLSTACK_STATE_DIR": str(state_dir), "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE},
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


@dataclass
class TempProject:
    """A Pulumi project laid out in a temporary directory: its own Pulumi.yaml (same runtime, the shared
    virtualenv by absolute path), the program linked in, and its own state directory."""

    root: Path
    state_dir: Path
    env: dict[str, str]

    def stack(self, name: str, config: Mapping[str, Any] | None = None) -> auto.Stack:
        """Creates (or selects) a stack of this project and sets its configuration."""
        workspace_opts = auto.LocalWorkspaceOptions(
            work_dir=str(self.root),
            pulumi_home=self.env["PULUMI_HOME"],
            env_vars=self.env,
            pulumi_command=auto.PulumiCommand(root=self.env["PULUMI_ROOT"]),
        )
        stack = auto.create_or_select_stack(name, work_dir=str(self.root), opts=workspace_opts)
        if config is not None:
            self.write_config(name, config)
        return stack

    def write_config(self, stack: str, config: Mapping[str, Any]) -> None:
        """Writes the stack's config file as a user would: native YAML values under ``config:``, keeping the
        encryption salt that ``stack init`` put there."""
        path = self.root / f"Pulumi.{stack}.yaml"
        settings = yaml.safe_load(path.read_text()) if path.exists() else {}
        settings = settings or {}
        settings["config"] = dict(config)
        path.write_text(yaml.safe_dump(settings, sort_keys=False))


def temp_project(tmp_path: Path, program: Path, name: str = "replstack") -> TempProject:
    """Lays out a project in ``tmp_path/project`` that runs ``program`` (a directory with ``__main__.py``)."""
    return _lay_out(tmp_path, name, [e for e in program.iterdir() if not e.name.startswith("Pulumi.")])


def replstack_project(tmp_path: Path) -> TempProject:
    """The replstack program itself (``__main__.py`` and ``components``), in a temporary project."""
    return _lay_out(tmp_path, "replstack", [PROJECT_DIR / "__main__.py", PROJECT_DIR / "components"])


def _lay_out(tmp_path: Path, name: str, entries: list[Path]) -> TempProject:
    root = tmp_path / "project"
    state_dir = tmp_path / "state"
    root.mkdir(parents=True)
    state_dir.mkdir(parents=True)
    for entry in entries:
        (root / entry.name).symlink_to(entry)
    settings = {
        "name": name,
        "runtime": {
            "name": "python",
            "options": {"toolchain": "pip", "virtualenv": str((PROJECT_DIR / ".venv").resolve())},
        },
    }
    (root / "Pulumi.yaml").write_text(yaml.safe_dump(settings))
    env = engine_env(state_dir)
    env["PULUMI_HOME"] = str(tmp_path / "pulumi-home")
    return TempProject(root=root, state_dir=state_dir, env=env)


def remove_project(project: TempProject) -> None:
    shutil.rmtree(project.root, ignore_errors=True)
