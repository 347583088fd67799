"""replstack's CrossGuard policy pack: checks a cluster's plan before it is applied.

Run it with ``scripts/pulumi preview --policy-pack policies``. Resources are recognised by their types: every
replstack resource is ``pulumi-python:dynamic/replstack/<area>:<Kind>``, and a database node is a
``MariaDBServer`` of any backend. Its ``settings`` input (what its my.cnf was rendered from) is known at
preview time.
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

TYPE_PREFIX = "pulumi-python:dynamic/replstack/"
DATABASE_KIND = "MariaDBServer"


def is_database(resource_type: str) -> bool:
    """A database node, whatever the backend that runs it."""
    return resource_type.startswith(TYPE_PREFIX) and resource_type.rsplit(":", 1)[-1] == DATABASE_KIND


def _settings(props: Mapping) -> Mapping:
    settings = props.get("settings")
    return settings if isinstance(settings, Mapping) else {}


def _read_only_is_explicit(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if is_database(args.resource_type) and _settings(args.props).get("read_only") not in ("0", "1"):
        report(f"{args.name}: read_only must be 0 (primary) or 1 (replica), not "
               f"{_settings(args.props).get('read_only')!r}")


def _one_writable_primary(args: StackValidationArgs, report: ReportViolation) -> None:
    writable = [r.name for r in args.resources
                if is_database(r.resource_type) and _settings(r.props).get("read_only") == "0"]
    if len(writable) > 1:
        report(f"more than one writable database node: {', '.join(sorted(writable))}; replicas must be read_only")


def _high_availability(args: StackValidationArgs, report: ReportViolation) -> None:
    nodes = [r.name for r in args.resources if is_database(r.resource_type)]
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
