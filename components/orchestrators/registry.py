"""The backend registry: a backend's name maps to its implementation, the stack section that configures it (a
typed model), and what it can run. The spec checks stacks against it and ``orchestrator_for`` builds from it;
adding a backend is adding an entry here."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Backend:
    name: str
    section: str                 # the stack key of its settings (``replstack:<section>``)
    flavors: tuple[str, ...]     # database flavors it runs
    proxies: tuple[str, ...]     # proxy kinds it runs
    implementation: str          # "module:Class" of its Orchestrator, imported when the backend is used
    available: bool = True

    def orchestrator_class(self) -> Any:
        module, name = self.implementation.split(":")
        return getattr(importlib.import_module(module), name)


BACKENDS: dict[str, Backend] = {
    "local": Backend("local", "local", ("mariadb", "mysql", "percona"),
                     ("haproxy", "shardproxy", "sphinx", "proxysql", "maxscale", "mysqlrouter"),
                     "components.orchestrators.local:LocalOrchestrator"),
    "onpremise": Backend("onpremise", "onpremise", ("mariadb",), ("haproxy",),
                         "components.orchestrators.onpremise:OnPremiseOrchestrator"),
    "opensvc": Backend("opensvc", "opensvc", (), (), "", available=False),
    "slapos": Backend("slapos", "slapos", (), (), "", available=False),
    "kube": Backend("kube", "kube", ("mariadb",), ("haproxy",), "components.orchestrators.kube:KubeOrchestrator"),
}


def available() -> tuple[str, ...]:
    return tuple(name for name, backend in BACKENDS.items() if backend.available)
