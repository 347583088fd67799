"""Orchestrator backends, chosen by name (``replstack:orchestrator``)."""

from __future__ import annotations

from pathlib import Path

from components.orchestrators.base import Orchestrator
from components.spec import ClusterSpec


def orchestrator_for(spec: ClusterSpec, cluster: str, project_dir: Path) -> Orchestrator:
    """The backend the spec names; the spec has already refused names that are not implemented."""
    if spec.orchestrator == "local":
        from components.orchestrators.local import LocalOrchestrator

        return LocalOrchestrator(cluster, spec.local, project_dir, keep_data=spec.keep_data)
    raise ValueError(f"orchestrator {spec.orchestrator!r} is not available")  # unreachable after validation
