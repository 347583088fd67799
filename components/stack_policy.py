"""StackPolicy: what the policy pack (``policies/``) needs to know about a stack, as the inputs of one typed
resource, ``pulumi-python:dynamic/replstack/cluster:StackPolicy``.

A CrossGuard pack sees resources and their inputs, not the stack file, so the settings its rules read
(``environment``, ``policyOverrides``, ``allowDataLoss``, ``keepData``, the chosen plan's bounds, snapshots) are
put here. It is a resource of its own, not inputs of the cluster owner, because the owner is per host (one per
host on ``onpremise``) and its updates act on the host, while this one only records its inputs: changing an
override or the environment previews as one update that does nothing.

A pack cannot see what a change deletes (the engine analyses the resources the program registers, not the
ones it drops), so ``check``, which sees the inputs in state, stamps what the change removes: ``removedNodes``
(database nodes the stack had and no longer has) and ``removedPrimary`` (the primary in state when the new node
list lacks it). The ``no-data-loss`` and ``keep-primary`` rules read them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, Resource, UpdateResult

from components.dynamic import NO_ACTION, PlannedProvider, is_known, names, resource_options
from components.spec import ClusterSpec

# Inputs that say what the stack is; the stamped ones (what a change removes) are derived from them.
COMPARED = ("environment", "policyOverrides", "allowDataLoss", "keepData", "nodes", "primary", "proxies", "plan",
            "database", "snapshotsSupported", "snapshots")


class StackPolicyProvider(PlannedProvider):
    compared = COMPARED

    def stamp(self, olds: dict[str, Any], news: dict[str, Any]) -> dict[str, Any]:
        old_nodes = olds.get("nodes") if is_known(olds.get("nodes")) else None
        new_nodes = news.get("nodes") if is_known(news.get("nodes")) else []
        removed = [n for n in (old_nodes or []) if n not in new_nodes]
        old_primary = olds.get("primary") if is_known(olds.get("primary")) else None
        return {"removedNodes": removed,
                "removedPrimary": old_primary if old_primary and old_primary not in new_nodes else None}

    def plan(self, olds: dict[str, Any], news: dict[str, Any]) -> str:
        if not olds:
            return "create: record the stack's policy settings (no action on any host)"
        changed = self.changes(olds, news)
        if not changed:
            return NO_ACTION
        removed = self.stamp(olds, news)["removedNodes"]
        extra = f"; removes node(s) {names(removed)}" if removed else ""
        return f"update: record {names(changed)} (no action on any host){extra}"

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(id_="stack-policy", outs=props)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs=news)


class StackPolicy(Resource, module="replstack/cluster", name="StackPolicy"):
    """The stack's policy settings, for the policy pack; nothing runs."""

    def __init__(self, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions | None = None):
        super().__init__(StackPolicyProvider(), name, {**props, "removedNodes": None, "removedPrimary": None},
                         resource_options(opts, legacy=False))


def stack_policy_inputs(spec: ClusterSpec, project_dir: Path) -> dict[str, Any]:
    """The inputs of a stack's StackPolicy, from its validated spec."""
    database = spec.database
    snapshots_supported = "snapshots" in type(database).model_fields
    snapshots = getattr(database, "snapshots", None) if snapshots_supported else None
    if snapshots is not None and hasattr(snapshots, "model_dump"):
        snapshots = snapshots.model_dump(by_alias=True, mode="json")
    return {
        "environment": spec.environment,
        "policyOverrides": {rule: {"level": o.level, "reason": o.reason} for rule, o in spec.policy_overrides.items()},
        "allowDataLoss": spec.allow_data_loss,
        "keepData": spec.keep_data,
        "nodes": database.node_names(),
        "primary": spec.primary_name(),
        "proxies": [{"name": p.name, "kind": p.kind, "cores": p.cores} for p in spec.proxy_services()],
        "plan": _plan_bounds(spec, project_dir),
        "database": {"memory": database.memory, "cores": database.cores},
        "snapshotsSupported": snapshots_supported,
        "snapshots": snapshots,
    }


def _plan_bounds(spec: ClusterSpec, project_dir: Path) -> dict[str, Any] | None:
    """The chosen plan's resources (the spec already loaded its registry, so a URL's copy is cached), or None
    without a plan (or in a version without service plans)."""
    name = getattr(spec, "service_plan", None)
    if not name:
        return None
    try:
        from components import plans
    except ImportError:
        return None
    try:
        plan = plans.load(getattr(spec, "service_plan_registry", None), project_dir).plan(name)
    except plans.PlanError:
        return None
    return {"name": plan.name, "memory": plan.memory, "cores": plan.cores, "proxyCores": plan.proxy_cores}
