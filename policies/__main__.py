"""replstack's CrossGuard policy pack: checks a cluster's plan before it is applied.

Run it with ``scripts/pulumi preview --policy-pack policies`` (and ``up --policy-pack policies``). Resources are
recognised by their types: every replstack resource is ``pulumi-python:dynamic/replstack/<area>:<Kind>``, a
database node is a ``MariaDBServer`` of any backend, a proxy an ``HAProxy`` (or another proxy kind), and the
stack's own settings come as the inputs of its ``StackPolicy`` (components/stack_policy.py): the environment, the
overrides, ``keepData``/``allowDataLoss``, the chosen plan's bounds, and what the change removes.

Every rule is a stack validation (it sees every resource, so it can read the stack's overrides), mandatory unless
said otherwise. A stack lowers a rule only by listing it in its own stack file::

    replstack:policyOverrides:
      production-ready: {level: advisory, reason: "single-host rehearsal of the production layout"}

The first policy, ``policy-overrides``, reads that list before the rules run (the SDK runs a pack's stack
policies in order), lowers each listed rule for this analysis (a level the engine configured, e.g. from
``--policy-pack-config``, is only ever lowered), and reports every override as an advisory line, so every preview
shows it.

Secrets: the SDK hands validations plain values (it unwraps Pulumi secrets), so ``no-plain-passwords`` could not
tell a secret from clear text. This pack marks, before the SDK unwraps them, every string that arrived inside a
secret (``SecretText``, a ``str``: other rules read it as the plain value it is).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Callable, Iterator

import pulumi_policy.policy as _sdk
from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyPack,
    PolicyResource,
    ReportViolation,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.deserialize import SPECIAL_SECRET_SIG, SPECIAL_SIG_KEY
from pulumi_policy.proxy import UnknownValueError

TYPE_PREFIX = "pulumi-python:dynamic/replstack/"
DATABASE_KIND = "MariaDBServer"
PROXY_KINDS = ("HAProxy", "ProxySQL", "MaxScale", "ShardProxy", "MySQLRouter", "Sphinx")
STACK_POLICY_KIND = "StackPolicy"
PRODUCTION = "production"
MIN_PRODUCTION_NODES = 3
# Registries images may come from unless the pack's config says otherwise (--policy-pack-config).
DEFAULT_REGISTRIES = ("docker.io",)
# Input names that hold a password or a key, compared case-insensitively on how the name ends. Not "token":
# the cluster owner's token is an ownership marker kept in clear on the host, not a credential.
SECRET_NAME = re.compile(r"(password|passwd|passphrase|privatekey|secretkey|apikey)$", re.IGNORECASE)


# -- secrets: keep track of which strings arrived as secrets ------------------------------------------------
class SecretText(str):
    """A string that arrived inside a Pulumi secret."""


def _mark_secret(value: Any) -> Any:
    if isinstance(value, str):
        return SecretText(value)
    if isinstance(value, list):
        return [_mark_secret(v) for v in value]
    if isinstance(value, dict):
        if value.get(SPECIAL_SIG_KEY) == SPECIAL_SECRET_SIG:
            return _mark_secret(value.get("value"))
        if SPECIAL_SIG_KEY in value:
            return value
        return {k: _mark_secret(v) for k, v in value.items()}
    return value


def _keep_secretness(value: Any) -> Any:
    if isinstance(value, list):
        return [_keep_secretness(v) for v in value]
    if isinstance(value, dict):
        if value.get(SPECIAL_SIG_KEY) == SPECIAL_SECRET_SIG:
            return _mark_secret(value.get("value"))
        if SPECIAL_SIG_KEY in value:
            return value
        return {k: _keep_secretness(v) for k, v in value.items()}
    return value


_sdk_deserialize = _sdk.deserialize_properties


def _deserialize_properties(props: dict[str, Any], proxy_secrets: bool = False) -> dict[str, Any]:
    """The SDK's own deserialisation, with strings inside secrets marked first (remediations keep theirs)."""
    return _sdk_deserialize(props if proxy_secrets else _keep_secretness(props), proxy_secrets)


_sdk.deserialize_properties = _deserialize_properties


# -- reading resources -------------------------------------------------------------------------------------------
class _Unknown:
    """A value a preview cannot know yet."""


UNKNOWN = _Unknown()


def _get(props: Any, key: Any) -> Any:
    try:
        return props[key]
    except UnknownValueError:
        return UNKNOWN
    except (KeyError, IndexError, TypeError):
        return None


def _kind(resource: PolicyResource) -> str | None:
    if not resource.resource_type.startswith(TYPE_PREFIX):
        return None
    return resource.resource_type.rsplit(":", 1)[-1]


def is_database(resource_type: str) -> bool:
    """A database node, whatever the backend that runs it."""
    return resource_type.startswith(TYPE_PREFIX) and resource_type.rsplit(":", 1)[-1] == DATABASE_KIND


# The kube backend's workloads (pulumi-kubernetes objects): replstack labels each with its component, so its
# StatefulSets count as database nodes and its Deployments as proxies, and their images are checked.
KUBE_WORKLOADS = ("kubernetes:apps/v1:StatefulSet", "kubernetes:apps/v1:Deployment", "kubernetes:batch/v1:CronJob")


def _kube_component(resource: PolicyResource) -> str | None:
    if resource.resource_type not in KUBE_WORKLOADS:
        return None
    labels = _get(_get(resource.props, "metadata"), "labels")
    if not isinstance(labels, Mapping) or _get(labels, "app.kubernetes.io/managed-by") != "replstack":
        return None
    component = _get(labels, "app.kubernetes.io/component")
    return component if isinstance(component, str) else None


def _node_count(args: StackValidationArgs) -> int:
    return len(_databases(args)) + sum(1 for r in args.resources if _kube_component(r) == "database")


def _has_proxy(args: StackValidationArgs) -> bool:
    return bool(_proxies(args)) or any(_kube_component(r) == "proxy" for r in args.resources)


def _databases(args: StackValidationArgs) -> list[PolicyResource]:
    return [r for r in args.resources if _kind(r) == DATABASE_KIND]


def _proxies(args: StackValidationArgs) -> list[PolicyResource]:
    return [r for r in args.resources if _kind(r) in PROXY_KINDS]


def _stack_policy(args: StackValidationArgs) -> Mapping[str, Any]:
    for resource in args.resources:
        if _kind(resource) == STACK_POLICY_KIND:
            return resource.props
    return {}


def _setting(stack: Mapping[str, Any], key: str, default: Any = None) -> Any:
    value = _get(stack, key)
    return default if value is None or value is UNKNOWN else value


def _read_only(resource: PolicyResource) -> Any:
    settings = _get(resource.props, "settings")
    if not isinstance(settings, Mapping):
        return None
    return _get(settings, "read_only")


def _walk(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    """(path, value) of every entry under ``value``, depth first; unknown values come as UNKNOWN."""
    if isinstance(value, Mapping):
        for key in value:
            child = _get(value, key)
            child_path = f"{path}.{key}" if path else str(key)
            yield child_path, child
            yield from _walk(child, child_path)
    elif isinstance(value, Sequence) and not isinstance(value, str):
        for index in range(len(value)):
            child = _get(value, index)
            yield f"{path}[{index}]", child
            yield from _walk(child, f"{path}[{index}]")


def _names(items: list[str]) -> str:
    return ", ".join(sorted(items))


# -- the rules -------------------------------------------------------------------------------------------------
def _production_ready(args: StackValidationArgs, report: ReportViolation) -> None:
    stack = _stack_policy(args)
    if _setting(stack, "environment") != PRODUCTION:
        return
    nodes = _node_count(args)
    if nodes < MIN_PRODUCTION_NODES:
        report(f"a production stack has {nodes} database node(s), fewer than {MIN_PRODUCTION_NODES}: set "
               f"replstack:database.nodes to {MIN_PRODUCTION_NODES} or more (or a servicePlan x3.*)")
    if not _has_proxy(args):
        report("a production stack has no proxy: add one, e.g. replstack:proxies: [{kind: haproxy}]")
    if _setting(stack, "snapshotsSupported", False):
        snapshots = _setting(stack, "snapshots")
        enabled = _get(snapshots, "enabled") if isinstance(snapshots, Mapping) else None
        keep = _get(snapshots, "keep") if isinstance(snapshots, Mapping) else None
        if enabled is False or not isinstance(keep, (int, float)) or keep < 1:
            report("a production stack takes no snapshots: set replstack:database.snapshots.enabled to true (with "
                   "keep 1 or more, and a schedule, @daily by default)")


def _one_writable_primary(args: StackValidationArgs, report: ReportViolation) -> None:
    nodes = _databases(args)
    values = {r.name: _read_only(r) for r in nodes}
    if not nodes or any(v is UNKNOWN for v in values.values()):
        return
    writable = [name for name, value in values.items() if value == "0"]
    if len(writable) > 1:
        report(f"more than one writable database node: {_names(writable)}; only the primary may take writes: "
               "leave read_only to replstack (do not set it in database.settings) and name one primary with "
               "replstack:database.preferredPrimary")
    elif not writable:
        report(f"no writable database node among {_names(list(values))}: the cluster has no primary; name one "
               "with replstack:database.preferredPrimary")


def _read_only_is_explicit(args: StackValidationArgs, report: ReportViolation) -> None:
    for resource in _databases(args):
        value = _read_only(resource)
        if value is not UNKNOWN and value not in ("0", "1"):
            report(f"{resource.name}: read_only must be 0 (primary) or 1 (replica), not {value!r}; leave it to "
                   "replstack, which sets it from the node's role", resource.urn)


def _high_availability(args: StackValidationArgs, report: ReportViolation) -> None:
    if _node_count(args) == 1:
        report("the cluster has a single database node: no replica to fail over to; set replstack:database.nodes "
               "to 2 or more")


def _no_plain_passwords(args: StackValidationArgs, report: ReportViolation) -> None:
    for resource in args.resources:
        for path, value in _walk(resource.props, ""):
            key = re.split(r"[.\[]", path)[-1]
            if (SECRET_NAME.search(key) and isinstance(value, str) and value
                    and not isinstance(value, SecretText)):
                report(f"{resource.name}: input {path} holds a password in clear text (it would be stored in "
                       "state unencrypted): pass it as a secret (pulumi.Output.secret, or `pulumi config set "
                       "--secret` for a stack setting)", resource.urn)


def _within_plan(args: StackValidationArgs, report: ReportViolation) -> None:
    stack = _stack_policy(args)
    plan = _setting(stack, "plan")
    if not isinstance(plan, Mapping):
        return
    name = _get(plan, "name")
    database = _setting(stack, "database", {})
    for key, plan_key, unit in (("memory", "memory", " MB"), ("cores", "cores", "")):
        value, bound = _get(database, key), _get(plan, plan_key)
        if isinstance(value, (int, float)) and isinstance(bound, (int, float)) and value > bound:
            report(f"replstack:database.{key} is {value:g}{unit}, more than servicePlan {name} gives "
                   f"({bound:g}{unit}): remove database.{key} from the stack file (the plan sets it) or choose a "
                   "bigger servicePlan")
    bound = _get(plan, "proxyCores")
    for index, proxy in enumerate(_setting(stack, "proxies", []) or []):
        cores = _get(proxy, "cores")
        if isinstance(cores, (int, float)) and isinstance(bound, (int, float)) and cores > bound:
            report(f"replstack:proxies[{index}].cores is {cores:g}, more than servicePlan {name} gives "
                   f"({bound:g}): remove it (the plan sets it) or choose a bigger servicePlan")


_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


def image_problem(image: str, registries: Sequence[str]) -> str | None:
    """What is wrong with an image reference: not pinned (no tag, or ``latest``, and no digest), or from a
    registry not in ``registries``."""
    name = image.split("@", 1)[0]
    first, _, rest = name.partition("/")
    registry = first if rest and ("." in first or ":" in first or first == "localhost") else "docker.io"
    if registry not in registries:
        return (f"comes from {registry}, not an allowed registry ({', '.join(registries)}): use an image from one "
                "of them (or add the registry to allowedRegistries in the pack's config)")
    if _DIGEST.search(image):
        return None
    last = name.rsplit("/", 1)[-1]
    tag = last.split(":", 1)[1] if ":" in last else ""
    if not tag or tag == "latest":
        return ("is not pinned: give a version tag (e.g. mariadb:11.4.4) or a digest (@sha256:...), never "
                "latest or no tag")
    return None


def _pinned_images(args: StackValidationArgs, report: ReportViolation) -> None:
    registries = list(args.get_config().get("allowedRegistries") or DEFAULT_REGISTRIES)
    for resource in args.resources:
        if _kind(resource) is None and _kube_component(resource) is None:
            continue
        for path, value in _walk(resource.props, ""):
            if re.split(r"[.\[]", path)[-1] == "image" and isinstance(value, str):
                problem = image_problem(value, registries)
                if problem:
                    report(f"{resource.name}: image {value!r} ({path}) {problem}", resource.urn)


def _keep_primary(args: StackValidationArgs, report: ReportViolation) -> None:
    removed = _setting(_stack_policy(args), "removedPrimary")
    if isinstance(removed, str) and removed:
        report(f"the change removes the primary {removed}: switch over first (set replstack:database."
               "preferredPrimary to a node that stays, run up), then remove the node")


def _no_data_loss(args: StackValidationArgs, report: ReportViolation) -> None:
    stack = _stack_policy(args)
    removed = [n for n in (_setting(stack, "removedNodes", []) or []) if isinstance(n, str)]
    if removed and not _setting(stack, "keepData", False) and not _setting(stack, "allowDataLoss", False):
        report(f"the change deletes node(s) {_names(removed)} with their data: set replstack:keepData: true to keep "
               "their directories, or replstack:allowDataLoss: true for this change (and remove it afterwards)")


def _service_ports(resource: PolicyResource) -> Iterator[tuple[str, str, Any]]:
    """(host, port name, port) of a service's placement input, known values only."""
    placement = _get(resource.props, "placement")
    if not isinstance(placement, Mapping):
        return
    host, ports = _get(placement, "host"), _get(placement, "ports")
    if not isinstance(host, str) or not isinstance(ports, Mapping):
        return
    for name in ports:
        port = _get(ports, name)
        if isinstance(port, (int, float)) and not isinstance(port, bool):
            yield host, str(name), int(port)


def _distinct_ports(args: StackValidationArgs, report: ReportViolation) -> None:
    holders: dict[tuple[str, int], list[str]] = {}
    for resource in args.resources:
        if _kind(resource) is None:
            continue
        for host, name, port in _service_ports(resource):
            holders.setdefault((host, port), []).append(f"{resource.name} ({name})")
    for (host, port), services in sorted(holders.items()):
        if len(services) > 1:
            report(f"port {port} on host {host} is given to {', '.join(services)}: only one can listen there; "
                   "let the backend lease the ports (remove the fixed ones) or place the services on other hosts")


# -- overrides -------------------------------------------------------------------------------------------------
def _rule(name: str, description: str, validate: Callable[[StackValidationArgs, ReportViolation], None],
          level: EnforcementLevel = EnforcementLevel.MANDATORY, **extra: Any) -> StackValidationPolicy:
    return StackValidationPolicy(name=name, description=description, enforcement_level=level, validate=validate,
                                 **extra)


RULES = [
    _rule("production-ready", "A production stack has 3 or more database nodes, a proxy, and snapshots kept.",
          _production_ready),
    _rule("one-writable-primary", "Exactly one database node takes writes; every replica is read-only.",
          _one_writable_primary),
    _rule("read-only-is-explicit", "Every database node states read_only: 0 on the primary, 1 on replicas.",
          _read_only_is_explicit),
    _rule("high-availability", "A cluster should have at least one replica.", _high_availability,
          EnforcementLevel.ADVISORY),
    _rule("no-plain-passwords", "No resource input carries a password outside a secret.", _no_plain_passwords),
    _rule("within-plan", "Memory and cores stay within the chosen service plan.", _within_plan),
    _rule("pinned-images", "Images are pinned (tag or digest, never latest) and come from an allowed registry.",
          _pinned_images, config_schema=PolicyConfigSchema(
              properties={"allowedRegistries": {"type": "array", "items": {"type": "string"}}})),
    _rule("keep-primary", "A change never removes the primary.", _keep_primary),
    _rule("no-data-loss", "A change deletes a node's data only with keepData or an explicit allowDataLoss.",
          _no_data_loss),
    _rule("distinct-ports", "Services placed on one host do not share a port.", _distinct_ports),
]
RULE_NAMES = {rule.name for rule in RULES}
# The levels this stack lowers its rules to, for the current analysis (set by policy-overrides).
STACK_LEVELS: dict[str, EnforcementLevel] = {}
_ORDER = [EnforcementLevel.DISABLED, EnforcementLevel.ADVISORY, EnforcementLevel.MANDATORY,
          EnforcementLevel.REMEDIATE]


def _policy_overrides(args: StackValidationArgs, report: ReportViolation) -> None:
    """Runs before the rules (the pack lists it first): takes each rule's level for this analysis from the
    stack's ``policyOverrides`` and says so."""
    STACK_LEVELS.clear()
    overrides = _setting(_stack_policy(args), "policyOverrides", {})
    if not isinstance(overrides, Mapping):
        return
    for name in sorted(overrides):
        override = _get(overrides, name)
        level = _get(override, "level") if isinstance(override, Mapping) else None
        reason = _get(override, "reason") if isinstance(override, Mapping) else None
        if name not in RULE_NAMES or level not in ("advisory", "disabled"):
            continue
        STACK_LEVELS[name] = EnforcementLevel(level)
        report(f"rule {name} is lowered to {level} by this stack's replstack:policyOverrides: {reason}")


# The engine configures every policy's level (its default, or the pack config's), and the SDK reads that
# level before running a policy: a stack's override lowers it, never raises it.
_sdk_level = _sdk._PolicyAnalyzerServicer._get_enforcement_level


def _enforcement_level(servicer: Any, policy: Any) -> EnforcementLevel:
    level = _sdk_level(servicer, policy)
    lowered = STACK_LEVELS.get(policy.name)
    if lowered is not None and _ORDER.index(lowered) < _ORDER.index(level):
        return lowered
    return level


_sdk._PolicyAnalyzerServicer._get_enforcement_level = _enforcement_level


PolicyPack(
    name="replstack",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=[
        _rule("policy-overrides", "Rules this stack lowers, with its reasons (replstack:policyOverrides).",
              _policy_overrides, EnforcementLevel.ADVISORY),
        *RULES,
    ],
)
