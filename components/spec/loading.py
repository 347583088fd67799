"""From the engine's config to a ``ClusterSpec``: decoding, replication-manager's key names, and error
messages that name the key and what is allowed."""

from __future__ import annotations

import json
from typing import Any, Mapping, get_args

from pydantic import BaseModel, ValidationError

from components import rm_keys
from components.spec.base import HostFacts, NAMESPACE, SpecError
from components.spec.stack import ClusterSpec


def config_from_pulumi_env(raw: Mapping[str, str]) -> dict[str, Any]:
    """The ``replstack:*`` entries of the engine's config map, decoded: structured values arrive as JSON text,
    plain strings as themselves."""
    out: dict[str, Any] = {}
    prefix = NAMESPACE + ":"
    for key, text in raw.items():
        if not key.startswith(prefix):
            continue
        name = key[len(prefix):]
        try:
            out[name] = json.loads(text)
        except (TypeError, ValueError):
            out[name] = text
    return out


# replication-manager's own key names, accepted so that its users can bring a configuration over.
RM_ALIASES: dict[str, tuple[str, ...]] = {
    "prov-orchestrator": ("orchestrator",),
    "prov-serialized": ("serialized",),
    "prov-db-service-plan-batch": ("serialized",),  # the name replication-manager's documentation uses
    "prov-service-plan": ("servicePlan",),
    "prov-service-plan-registry": ("servicePlanRegistry",),
    "prov-db-disk-size": ("database", "diskSize"),
    "prov-db-disk-system-size": ("database", "systemDiskSize"),
    "prov-db-memory": ("database", "memory"),
    "prov-db-cpu-cores": ("database", "cores"),
    "prov-db-disk-iops": ("database", "iops"),
    "prov-db-max-connections": ("database", "maxConnections"),
    "prov-db-expire-log-days": ("database", "expireLogsDays"),
    "prov-db-domain": ("database", "domainId"),
    "prov-db-tags": ("database", "tags"),
    "prov-db-net-iface": ("database", "network", "iface"),
    "prov-db-net-mask": ("database", "network", "netmask"),
    "prov-db-net-gateway": ("database", "network", "gateway"),
    "prov-db-cni": ("database", "network", "cni"),
    "prov-db-disk-snapshot-prefered-master": ("database", "snapshots", "enabled"),
    "prov-db-disk-snapshot-keep": ("database", "snapshots", "keep"),
    "prov-db-binary-basedir": ("local", "mariadbBinDir"),
    "prov-db-client-basedir": ("local", "clientBinDir"),
    "prov-db-disk-fs": ("database", "disk", "fs"),
    "prov-db-disk-fs-compress": ("database", "disk", "compression"),
    "prov-db-disk-pool": ("database", "disk", "pool"),
    "prov-db-disk-type": ("database", "disk", "type"),
    "prov-db-disk-device": ("database", "disk", "device"),
    "prov-db-disk-temp-size": ("database", "tmpfsMb"),
    "prov-db-docker-tmpfs-size": ("database", "tmpfsMb"),
    "prov-db-docker-img": ("database", "image"),
    "prov-db-image": ("database", "image"),  # the API setting that writes prov-db-docker-img
}


def _apply_rm_aliases(config: dict[str, Any]) -> dict[str, Any]:
    """replication-manager's keys turned into replstack's (an alias), or refused saying where they belong
    (components.rm_keys)."""
    out = {k: v for k, v in config.items()
           if k not in RM_ALIASES and k not in rm_keys.PROXY_ALIASES and k not in rm_keys.REFUSED}
    problems = [rm_keys.refusal(k) for k in config if k in rm_keys.REFUSED and k not in RM_ALIASES]
    for rm_key, path in RM_ALIASES.items():
        if rm_key not in config:
            continue
        value = config[rm_key]
        if rm_key in rm_keys.LIST_VALUED:
            value = rm_keys.as_list(value)
        target = out
        for part in path[:-1]:
            section = target.setdefault(part, {})
            if not isinstance(section, dict):
                break
            target = section
        else:
            if path[-1] in target:
                problems.append(f"{NAMESPACE}:{rm_key}: also set as {'.'.join(path)}; set only one of them")
            target[path[-1]] = value
    problems += rm_keys.apply_proxy_aliases(config, out)
    if problems:
        raise SpecError("\n".join(problems))
    return out


def load_spec(config: Mapping[str, Any], host: HostFacts | None = None) -> ClusterSpec:
    """Validates the stack's ``replstack`` settings; raises ``SpecError`` naming every bad key. ``host`` is what
    the local orchestrator's checks read from this host (memory, project directory, OS user); by default the
    host running the program."""
    context: dict[str, Any] = {"host": host or HostFacts.current()}
    try:
        spec = ClusterSpec.model_validate(_apply_rm_aliases(dict(config)), context=context)
    except ValidationError as error:
        raise SpecError("\n".join(_describe(e) for e in error.errors())) from None
    spec._plan_notice = context.get("plan_notice")
    return spec


def _describe(error: Mapping[str, Any]) -> str:
    loc = _key_path(error["loc"])
    kind = error["type"]
    # A secret's value is never repeated in an error.
    value = "(the value is not shown)" if error["loc"][:1] == ("rootPassword",) or error["loc"][-1:] == (
        "password",) else repr(error.get("input"))
    ctx = error.get("ctx") or {}
    if kind == "extra_forbidden":
        return f"{NAMESPACE}:{loc}: unknown key; allowed keys here: {', '.join(_allowed_keys(error['loc']))}"
    if kind == "literal_error":
        return f"{NAMESPACE}:{loc}: {value} is not allowed; allowed values: {ctx.get('expected', '')}"
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        bound = {"greater_than_equal": ">=", "less_than_equal": "<=", "greater_than": ">", "less_than": "<"}[kind]
        limit = next(iter(ctx.values()))
        return f"{NAMESPACE}:{loc}: {value} is out of range; allowed: {bound} {limit}"
    if kind == "missing":
        return f"{NAMESPACE}:{loc}: required key is missing"
    if kind == "value_error":
        message = str(ctx.get("error", error["msg"]))
        if isinstance(ctx.get("error"), SpecError):
            return message
        return f"{NAMESPACE}:{loc}: {message}"
    return f"{NAMESPACE}:{loc}: {value} is invalid: {error['msg']}"


def _key_path(loc: tuple[Any, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += ("." if path else "") + str(part)
    return path or "(root)"


def _allowed_keys(loc: tuple[Any, ...]) -> list[str]:
    """The keys the model at ``loc[:-1]`` accepts, by their stack-file names."""
    model: Any = ClusterSpec
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = _field_by_key(model, part)
        annotation = field.annotation if field else None
        model = _model_in(annotation)
        if model is None:
            return []
    return [field.alias or name for name, field in model.model_fields.items()]


def _field_by_key(model: Any, key: str) -> Any:
    for name, field in model.model_fields.items():
        if key in (name, field.alias):
            return field
    return None


def _model_in(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None
