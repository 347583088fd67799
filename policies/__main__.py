"""replstack's CrossGuard policy pack: checks a cluster's plan before it is applied.

Run it with ``scripts/pulumi preview --policy-pack policies``. Database services are recognised by their inputs
(a rendered ``config`` and the ``settings`` it was rendered from), which are known at preview time.
"""

from collections.abc import Mapping

from pulumi_policy import (
    EnforcementLevel,
    PolicyPack,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

DYNAMIC = "pulumi-python:dynamic:Resource"


def _database_settings(props: Mapping) -> Mapping | None:
    settings = props.get("settings")
    return settings if isinstance(settings, Mapping) and "server_id" in settings else None


def _read_only_is_explicit(args: ResourceValidationArgs, report: ReportViolation) -> None:
    settings = _database_settings(args.props) if args.resource_type == DYNAMIC else None
    if settings is not None and settings.get("read_only") not in ("0", "1"):
        report(f"{args.name}: read_only must be 0 (primary) or 1 (replica), not {settings.get('read_only')!r}")


def _one_writable_primary(args: StackValidationArgs, report: ReportViolation) -> None:
    writable = [r.name for r in args.resources
                if r.resource_type == DYNAMIC and (_database_settings(r.props) or {}).get("read_only") == "0"]
    if len(writable) > 1:
        report(f"more than one writable database node: {', '.join(sorted(writable))}; replicas must be read_only")


def _high_availability(args: StackValidationArgs, report: ReportViolation) -> None:
    nodes = [r.name for r in args.resources if r.resource_type == DYNAMIC and _database_settings(r.props)]
    if len(nodes) == 1:
        report("the cluster has a single database node: no replica to fail over to")


PolicyPack(
    name="replstack",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=[
        ResourceValidationPolicy(
            name="read-only-is-explicit",
            description="Every database node states read_only: 0 on the primary, 1 on replicas.",
            validate=_read_only_is_explicit,
        ),
        StackValidationPolicy(
            name="one-writable-primary",
            description="Exactly one database node takes writes; every replica is read-only.",
            validate=_one_writable_primary,
        ),
        StackValidationPolicy(
            name="high-availability",
            description="A cluster should have at least one replica.",
            enforcement_level=EnforcementLevel.ADVISORY,
            validate=_high_availability,
        ),
    ],
)
