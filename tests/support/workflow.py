"""The CI workflow (.github/workflows/pulumi.yml) as data: its triggers, jobs and the commands of each job."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.support.engine import PROJECT_DIR

WORKFLOW = PROJECT_DIR / ".github" / "workflows" / "pulumi.yml"
# GitHub's default shell for `run:` steps on Linux.
SHELL = ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c"]


def load(path: Path = WORKFLOW) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    # YAML 1.1 reads the key `on` as True.
    if True in data:
        data["on"] = data.pop(True)
    return data


def commands(job: dict[str, Any]) -> list[tuple[str, str, dict[str, str]]]:
    """(step name, script, step env) of every `run:` step of a job, in order; `uses:` steps are GitHub's."""
    return [(step.get("name", ""), step["run"], {k: str(v) for k, v in (step.get("env") or {}).items()})
            for step in job["steps"] if "run" in step]
