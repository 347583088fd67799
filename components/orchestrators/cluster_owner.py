"""The owner of a local cluster's directory: created before any service, deleted after all of them.

Why it exists. A service started by a create that the engine never recorded (the engine was killed between the
two) is in no resource's state, so no delete would stop it; and two checkouts that share a stack name and a
``baseDir`` would each take the other's servers for their own. This resource answers both:

* it marks the directory with its owner (project, stack, state backend and a token kept in state) in
  ``<cluster dir>/owner.json``, and refuses a directory another owner holds, saying whose it is;
* its delete, which runs after every service's, stops every process still started from a config under the
  directory and removes the directory (its contents are kept with ``keepData``), so a destroy leaves nothing
  behind even after an interrupted run.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import pulumi
from pulumi.dynamic import CheckFailure, CreateResult, ReadResult, Resource, UpdateResult

from components.dynamic import NO_ACTION, PlannedProvider, resource_options
from components.orchestrators.hosts import Host, host_for
from components.orchestrators.lifecycle.process import stop_process
from components.orchestrators.lifecycle.supervision import remove_units_under

MARKER = "owner.json"


class ClusterOwnedElsewhere(RuntimeError):
    """The cluster directory belongs to another stack or state backend."""


def _identity(owner: dict[str, Any]) -> tuple[str, str, str]:
    return owner.get("project", ""), owner.get("stack", ""), owner.get("backend", "")


def describe(owner: dict[str, Any]) -> str:
    project, stack, backend = _identity(owner)
    return f"stack {stack!r} of project {project!r} (state in {backend or 'an unknown backend'})"


def read_marker(host: Host, cluster_dir: str) -> dict[str, Any] | None:
    """The directory's owner record; a damaged one counts as no owner (it is rewritten on claim)."""
    text = host.read_file(str(Path(cluster_dir) / MARKER))
    if text is None:
        return None
    try:
        marker = json.loads(text)
    except ValueError:
        return None
    return marker if isinstance(marker, dict) else None


def foreign_owner(host: Host, cluster_dir: str, owner: dict[str, Any], token: str | None) -> dict[str, Any] | None:
    """The marker of another owner of ``cluster_dir``, or None when it is free or ours. Ours means the same
    project, stack and state backend (a stack whose state was lost and made anew may take its directory back)
    or the same token."""
    marker = read_marker(host, cluster_dir)
    if marker is None or (token and marker.get("token") == token):
        return None
    return None if _identity(marker) == _identity(owner) else marker


class LocalClusterOwnerProvider(PlannedProvider):
    compared = ("clusterDir", "owner", "keepData")
    replaced_by = ("clusterDir",)

    def refuse(self, olds: dict[str, Any], news: dict[str, Any]) -> list[CheckFailure]:
        other = foreign_owner(host_for(news.get("access")), news["clusterDir"], news["owner"], olds.get("token"))
        if other is None:
            return []
        return [CheckFailure("clusterDir", (
            f"{news['clusterDir']} belongs to {describe(other)}; this is {describe(news['owner'])}. Use another "
            "local.baseDir or stack name, or destroy that stack first"))]

    def plan(self, olds: dict[str, Any], news: dict[str, Any]) -> str:
        if not olds:
            return f"create: claim {news['clusterDir']} for this stack (owner.json)"
        if self.changes(olds, news):
            return "update: record the new owner details and data policy"
        return NO_ACTION

    def create(self, props: dict[str, Any]) -> CreateResult:
        token = secrets.token_hex(12)
        self._claim(props, token)
        return CreateResult(id_=token, outs={**props, "token": token})

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        self._claim(news, olds.get("token") or id_)
        return UpdateResult(outs={**news, "token": olds.get("token") or id_})

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        return ReadResult(id_=id_, outs=props)

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        """After every service's delete: remove the systemd units of services under the directory and stop
        whatever still runs from it (a server whose create was never recorded), then remove the directory, or
        only the owner record when the data is kept."""
        cluster_dir = props["clusterDir"]
        host = host_for(props.get("access"))
        if foreign_owner(host, cluster_dir, props["owner"], props.get("token") or id_) is not None:
            return  # someone else's now: leave it alone
        remove_units_under(host, cluster_dir, float(props.get("stopTimeout", 60)))
        for pid in host.processes_under(cluster_dir):
            stop_process(host, pid, lambda p: host.process_alive(p, cluster_dir.rstrip("/") + "/"),
                         float(props.get("stopTimeout", 60)), "leftover process")
        if props.get("keepData"):
            host.remove_tree(str(Path(cluster_dir, MARKER)))
        else:
            host.remove_tree(cluster_dir)

    @staticmethod
    def _claim(props: dict[str, Any], token: str) -> None:
        host = host_for(props.get("access"))
        other = foreign_owner(host, props["clusterDir"], props["owner"], token)
        if other is not None:
            raise ClusterOwnedElsewhere(f"{props['clusterDir']} belongs to {describe(other)}")
        marker = {**props["owner"], "token": token}
        host.make_dirs(props["clusterDir"])
        host.write_file(str(Path(props["clusterDir"]) / MARKER), json.dumps(marker, indent=2) + "\n", mode=0o600)


class LocalClusterOwner(Resource, module="replstack/local", name="ClusterOwner"):
    """The local cluster's directory, claimed for one stack; deleted last."""

    token: pulumi.Output[str]

    def __init__(self, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions | None = None):
        super().__init__(LocalClusterOwnerProvider(), name, {**props, "token": None},
                         resource_options(opts, legacy=False))
