"""A real local cluster for integration tests: a temporary project, stack, state and data directory; ``up``
on entry, and on exit ``destroy``, stack removal and a kill of anything still running from the directory,
even when the test failed."""

from __future__ import annotations

import contextlib
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import pymysql
from pulumi import automation as auto

from tests.support.engine import TempProject, replstack_project
from tests.support.processes import kill_processes_under


@dataclass
class LocalCluster:
    project: TempProject
    stack: auto.Stack
    data_dir: Path
    outputs: dict[str, Any] = field(default_factory=dict)
    destroyed: bool = False

    def refresh_outputs(self) -> dict[str, Any]:
        self.outputs = {k: v.value for k, v in self.stack.outputs().items()}
        return self.outputs

    def connect(self, address: str, **kwargs: Any) -> pymysql.connections.Connection:
        host, port = address.rsplit(":", 1)
        return pymysql.connect(host=host.strip("[]"), port=int(port), user=self.outputs["rootUser"],
                               password=self.outputs["rootPassword"], autocommit=True, connect_timeout=5, **kwargs)

    def node(self, name: str) -> dict[str, Any]:
        return next(n for n in self.outputs["nodes"] if n["name"] == name)

    def node_address(self, name: str) -> str:
        node = self.node(name)
        return f"{node['host']}:{node['port']}"

    def resource_outputs(self, name: str) -> dict[str, Any]:
        """The outputs a resource has in state, found by its name."""
        deployment = self.stack.export_stack().deployment
        for res in deployment["resources"]:
            if res["urn"].endswith("::" + name):
                return res.get("outputs", {})
        raise KeyError(name)


def cluster_config(data_dir: Path, nodes: int = 3, proxies: list[dict[str, Any]] | None = None,
                   **extra: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "replstack:orchestrator": "local",
        "replstack:local": {"baseDir": str(data_dir)},
        "replstack:database": {"nodes": nodes, "memory": 256},
        "replstack:proxies": [{"kind": "haproxy"}] if proxies is None else proxies,
    }
    config.update({f"replstack:{k}": v for k, v in extra.items()})
    return config


@contextlib.contextmanager
def local_cluster(tmp_path: Path, stack_name: str = "test", up: bool = True, **config: Any) -> Iterator[LocalCluster]:
    data_dir = tmp_path / "data"
    project = replstack_project(tmp_path)
    stack = project.stack(stack_name, cluster_config(data_dir, **config))
    cluster = LocalCluster(project=project, stack=stack, data_dir=data_dir)
    try:
        if up:
            stack.up(on_output=print)
            cluster.refresh_outputs()
        yield cluster
    finally:
        try:
            if not cluster.destroyed:
                stack.destroy(on_output=print)
            stack.workspace.remove_stack(stack_name)
        finally:
            kill_processes_under(tmp_path)
            shutil.rmtree(tmp_path, ignore_errors=True)
