"""The typed model of a replstack stack, and the one place where stack input is validated.

A stack file sets keys under the ``replstack`` namespace (``replstack:database``, ``replstack:proxies``, ...).
``load_spec`` turns them into a ``ClusterSpec`` before any resource is registered; every problem is reported
at once, each line naming the key path, the bad value and what is allowed, so that a failed ``preview`` says
exactly what to fix and nothing has been touched.
"""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Any, Literal, Mapping, get_args

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

from components.configurator.tags import DATABASE_TAGS

NAMESPACE = "replstack"

Orchestrator = Literal["local", "onpremise", "opensvc", "slapos", "kube"]
ProxyKind = Literal["haproxy", "proxysql", "maxscale", "shardproxy", "mysqlrouter", "sphinx"]
Flavor = Literal["mariadb", "mysql", "percona"]
Topology = Literal["master-slave"]

# What each orchestrator can run today; a known value that is not here yet is refused with this list.
IMPLEMENTED_ORCHESTRATORS: tuple[str, ...] = ("local",)
IMPLEMENTED_PROXIES: dict[str, tuple[str, ...]] = {"local": ("haproxy",)}
IMPLEMENTED_FLAVORS: dict[str, tuple[str, ...]] = {"local": ("mariadb",)}

_NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}$")


class SpecError(ValueError):
    """A stack configuration that cannot be used; the message lists every problem, one per line."""


class _Model(BaseModel):
    """Strict about keys (a typo is an error, not a silently ignored setting), lenient about scalars given as
    strings, since ``pulumi config set`` stores strings."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, validate_default=True)


class DatabaseSpec(_Model):
    """The database service: one primary and ``nodes - 1`` replicas, all alike."""

    flavor: Flavor = "mariadb"
    nodes: int = Field(3, ge=1, le=32, description="node count: one primary, the rest replicas")
    memory: int = Field(256, ge=128, le=4_194_304, description="memory per node, MB; sizes every buffer")
    cores: int = Field(1, ge=1, le=256, description="cores per node; sizes I/O and replication threads")
    iops: int = Field(300, ge=50, le=1_000_000, description="disk IOPS; sizes innodb_io_capacity")
    max_connections: int = Field(1000, alias="maxConnections", ge=10, le=100_000)
    expire_logs_days: int = Field(5, alias="expireLogsDays", ge=0, le=99)
    binlog_format: Literal["ROW", "MIXED", "STATEMENT"] = Field("ROW", alias="binlogFormat")
    domain_id: int = Field(0, alias="domainId", ge=0, le=4_294_967_295, description="gtid_domain_id")
    tags: list[str] = Field(default_factory=lambda: ["smallredolog", "noquerycache", "slow"])
    preferred_primary: str | None = Field(None, alias="preferredPrimary", description="node name, e.g. db1")
    settings: dict[str, str | int | float] = Field(
        default_factory=dict, description="extra my.cnf settings, applied after the generated ones")

    @field_validator("tags")
    @classmethod
    def _known_tags(cls, tags: list[str]) -> list[str]:
        unknown = [t for t in tags if t not in DATABASE_TAGS]
        if unknown:
            raise ValueError(f"unknown tag(s) {', '.join(map(repr, unknown))}; "
                             f"allowed: {', '.join(sorted(DATABASE_TAGS))}")
        return tags

    @field_validator("settings")
    @classmethod
    def _setting_names(cls, settings: dict[str, Any]) -> dict[str, Any]:
        bad = [k for k in settings if not re.fullmatch(r"[a-z][a-z0-9_\-]*", k)]
        if bad:
            raise ValueError(f"invalid my.cnf variable name(s) {', '.join(map(repr, bad))}: use lower-case names like "
                             "'innodb_flush_method'")
        return settings

    def node_names(self) -> list[str]:
        return [f"db{i}" for i in range(1, self.nodes + 1)]


class ProxySpec(_Model):
    """One proxy service in front of the databases."""

    kind: ProxyKind
    name: str | None = Field(None, description="service name; default <kind><n>")
    memory: int = Field(128, ge=32, le=1_048_576, description="MB")
    cores: int = Field(1, ge=1, le=256)

    @field_validator("name")
    @classmethod
    def _valid_name(cls, name: str | None) -> str | None:
        if name is not None and not _NAME.match(name):
            raise ValueError(f"{name!r} is not a valid service name: lower-case letters, digits and '-', "
                             "starting with a letter, at most 31 characters")
        return name


class BootstrapSpec(_Model):
    """How the replication topology and its users are set up after the databases start."""

    topology: Topology = "master-slave"
    semi_sync: bool = Field(False, alias="semiSync")
    replication_user: str = Field("replstack_repl", alias="replicationUser")
    monitoring_user: str = Field("replstack_monitor", alias="monitoringUser")
    check_user: str = Field("replstack_check", alias="checkUser", description="password-less, USAGE-only user "
                            "that proxies log in with for health checks")
    root_user: str = Field("root", alias="rootUser")
    proxy_sync_timeout: int = Field(60, alias="proxySyncTimeout", ge=1, le=3600, description="seconds")
    replication_timeout: int = Field(60, alias="replicationTimeout", ge=1, le=3600, description="seconds")

    @field_validator("replication_user", "monitoring_user", "check_user", "root_user")
    @classmethod
    def _valid_user(cls, user: str) -> str:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,79}", user):
            raise ValueError(f"{user!r} is not a valid user name: letters, digits and '_', at most 80 characters")
        return user


class LocalSpec(_Model):
    """The ``local`` orchestrator: services run as processes on this host."""

    base_dir: str | None = Field(None, alias="baseDir", description="where service directories go; relative "
                                 "paths are taken from the project directory")
    bind_address: str = Field("127.0.0.1", alias="bindAddress")
    mariadb_bin_dir: str = Field("/usr/sbin", alias="mariadbBinDir", description="directory of mariadbd")
    client_bin_dir: str = Field("/usr/bin", alias="clientBinDir", description="directory of mariadb-install-db")
    haproxy_binary: str = Field("/usr/sbin/haproxy", alias="haproxyBinary")
    start_timeout: int = Field(120, alias="startTimeout", ge=5, le=3600, description="seconds")
    stop_timeout: int = Field(60, alias="stopTimeout", ge=1, le=3600, description="seconds")

    @field_validator("bind_address")
    @classmethod
    def _ip(cls, value: str) -> str:
        try:
            ipaddress.ip_address(value)
        except ValueError:
            raise ValueError(f"{value!r} is not an IP address, e.g. 127.0.0.1") from None
        return value


class ClusterSpec(_Model):
    """A whole stack: which orchestrator, the database service, its proxies and the bootstrap."""

    orchestrator: Orchestrator = "local"
    service_plan: str | None = Field(None, alias="servicePlan")
    serialized: bool = Field(False, description="provision databases one after the other instead of together")
    keep_data: bool = Field(False, alias="keepData", description="keep datadirs on destroy")
    root_password: SecretStr | None = Field(None, alias="rootPassword", description="set it as a Pulumi secret; "
                                            "generated when absent")
    database: DatabaseSpec = Field(default_factory=DatabaseSpec)
    proxies: list[ProxySpec] = Field(default_factory=list)
    bootstrap: BootstrapSpec = Field(default_factory=BootstrapSpec)
    local: LocalSpec = Field(default_factory=LocalSpec)
    # Backends still to come: their sections are accepted so a stack can carry them, but are not used yet.
    onpremise: dict[str, Any] | None = None
    opensvc: dict[str, Any] | None = None
    slapos: dict[str, Any] | None = None
    kube: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _cross_checks(self) -> ClusterSpec:
        problems: list[tuple[str, str]] = []
        if self.service_plan is not None:
            problems.append(("servicePlan", "service plans are not available in this version; set database.nodes, "
                             "database.memory and database.cores instead"))
        if self.orchestrator not in IMPLEMENTED_ORCHESTRATORS:
            problems.append(("orchestrator", f"{self.orchestrator!r} is not available in this version; available: "
                             + ", ".join(IMPLEMENTED_ORCHESTRATORS)))
        else:
            kinds = IMPLEMENTED_PROXIES[self.orchestrator]
            for i, proxy in enumerate(self.proxies):
                if proxy.kind not in kinds:
                    problems.append((f"proxies[{i}].kind", f"{proxy.kind!r} is not supported by the "
                                     f"{self.orchestrator} orchestrator yet; supported: {', '.join(kinds)}"))
            flavors = IMPLEMENTED_FLAVORS[self.orchestrator]
            if self.database.flavor not in flavors:
                problems.append(("database.flavor", f"{self.database.flavor!r} is not supported by the "
                                 f"{self.orchestrator} orchestrator yet; supported: {', '.join(flavors)}"))
        names = [p.name for p in self.proxy_services()]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            problems.append(("proxies", f"duplicate proxy name(s) {', '.join(duplicates)}; names must be unique"))
        nodes = self.database.node_names()
        clashing = sorted(set(names) & set(nodes))
        if clashing:
            problems.append(("proxies", f"proxy name(s) {', '.join(clashing)} are database node names; "
                             f"the nodes are {', '.join(nodes)}"))
        if self.database.preferred_primary is not None and self.database.preferred_primary not in nodes:
            problems.append(("database.preferredPrimary", f"{self.database.preferred_primary!r} is not a node of "
                             f"this cluster; allowed: {', '.join(nodes)}"))
        users = [self.bootstrap.replication_user, self.bootstrap.monitoring_user, self.bootstrap.check_user,
                 self.bootstrap.root_user]
        if len(set(users)) != len(users):
            problems.append(("bootstrap", "rootUser, replicationUser, monitoringUser and checkUser must differ"))
        if problems:
            raise SpecError("\n".join(f"{NAMESPACE}:{key}: {msg}" for key, msg in problems))
        return self

    def proxy_services(self) -> list[ProxySpec]:
        """The proxies with their service names filled in (``haproxy1``, ``haproxy2``, ...)."""
        counters: dict[str, int] = {}
        named = []
        for proxy in self.proxies:
            counters[proxy.kind] = counters.get(proxy.kind, 0) + 1
            named.append(proxy.model_copy(update={"name": proxy.name or f"{proxy.kind}{counters[proxy.kind]}"}))
        return named

    def primary_name(self) -> str:
        return self.database.preferred_primary or self.database.node_names()[0]


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
    "prov-service-plan": ("servicePlan",),
    "prov-db-memory": ("database", "memory"),
    "prov-db-cpu-cores": ("database", "cores"),
    "prov-db-disk-iops": ("database", "iops"),
    "prov-db-max-connections": ("database", "maxConnections"),
    "prov-db-expire-log-days": ("database", "expireLogsDays"),
    "prov-db-domain": ("database", "domainId"),
    "prov-db-tags": ("database", "tags"),
}


def _apply_rm_aliases(config: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in config.items() if k not in RM_ALIASES}
    problems = []
    for rm_key, path in RM_ALIASES.items():
        if rm_key not in config:
            continue
        value = config[rm_key]
        if rm_key == "prov-db-tags" and isinstance(value, str):
            value = [t for t in value.split(",") if t]
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
    if problems:
        raise SpecError("\n".join(problems))
    return out


def load_spec(config: Mapping[str, Any]) -> ClusterSpec:
    """Validates the stack's ``replstack`` settings; raises ``SpecError`` naming every bad key."""
    try:
        return ClusterSpec.model_validate(_apply_rm_aliases(dict(config)))
    except ValidationError as error:
        raise SpecError("\n".join(_describe(e) for e in error.errors())) from None


def _describe(error: Mapping[str, Any]) -> str:
    loc = _key_path(error["loc"])
    kind = error["type"]
    value = error.get("input")
    ctx = error.get("ctx") or {}
    if kind == "extra_forbidden":
        return f"{NAMESPACE}:{loc}: unknown key; allowed keys here: {', '.join(_allowed_keys(error['loc']))}"
    if kind == "literal_error":
        return f"{NAMESPACE}:{loc}: {value!r} is not allowed; allowed values: {ctx.get('expected', '')}"
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        bound = {"greater_than_equal": ">=", "less_than_equal": "<=", "greater_than": ">", "less_than": "<"}[kind]
        limit = next(iter(ctx.values()))
        return f"{NAMESPACE}:{loc}: {value!r} is out of range; allowed: {bound} {limit}"
    if kind == "missing":
        return f"{NAMESPACE}:{loc}: required key is missing"
    if kind == "value_error":
        message = str(ctx.get("error", error["msg"]))
        if isinstance(ctx.get("error"), SpecError):
            return message
        return f"{NAMESPACE}:{loc}: {message}"
    return f"{NAMESPACE}:{loc}: {value!r} is invalid: {error['msg']}"


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
