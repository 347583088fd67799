"""Orchestrator backends, chosen by name (``replstack:orchestrator``) from the registry."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from components.orchestrators.registry import BACKENDS

if TYPE_CHECKING:
    from components.orchestrators.base import Orchestrator
    from components.spec import ClusterSpec


def orchestrator_for(spec: ClusterSpec, cluster: str, project_dir: Path) -> Orchestrator:
    """The backend the spec names; the spec has already refused names that are not available."""
    backend = BACKENDS[spec.orchestrator]
    if not backend.available:
        raise ValueError(f"orchestrator {spec.orchestrator!r} is not available")  # unreachable after validation
    cls = backend.orchestrator_class()
    if spec.orchestrator == "local":
        return cls(cluster, spec.local, project_dir, keep_data=spec.keep_data)
    import pulumi

    identity = {"project": pulumi.get_project(), "stack": pulumi.get_stack(),
                "backend": os.environ.get("PULUMI_BACKEND_URL", "")}
    # The kube backend sizes pods and volumes from the database and proxy specs itself.
    sizes = {"database": spec.database, "proxies": spec.proxy_services()} if spec.orchestrator == "kube" else {}
    return cls(cluster, getattr(spec, backend.section), keep_data=spec.keep_data, stack_identity=identity, **sizes)
