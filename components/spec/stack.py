"""``ClusterSpec``: a whole stack, with the checks across its sections."""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any, Literal, Mapping

from pydantic import Field, PrivateAttr, SecretStr, ValidationInfo, field_validator, model_validator

from components import plans
from components.orchestrators import registry
from components.orchestrators.kube_config import KubeSpec
from components.orchestrators.onpremise_config import OnPremiseSpec
from components.spec.base import (HostFacts, IMPLEMENTED_FLAVORS, IMPLEMENTED_ORCHESTRATORS, IMPLEMENTED_PROXIES,
                                  NAMESPACE, Orchestrator, RESERVED_ACCOUNTS, SERVER_BINARIES, USER_KEYS, _Model,
                                  _NAME, _check_executable, _host, _refuse)
from components.spec.bootstrap import BootstrapSpec
from components.spec.database import DatabaseSpec
from components.spec.local import LocalSpec
from components.spec.proxies import ProxySpec
from components.spec.resources import _disk_size_given


# The rules of the policy pack (policies/__main__.py), by name: what policyOverrides may name.
POLICY_RULES = ("production-ready", "one-writable-primary", "read-only-is-explicit", "high-availability",
                "no-plain-passwords", "within-plan", "pinned-images", "keep-primary", "no-data-loss",
                "distinct-ports")


class PolicyOverride(_Model):
    """One rule of the policy pack lowered by this stack, with why."""

    level: Literal["advisory", "disabled"] = Field(description="advisory: reported, not failing; disabled: not run")
    reason: str = Field(min_length=1, description="why this stack lowers the rule; shown in every preview")

    @field_validator("reason")
    @classmethod
    def _one_line(cls, reason: str) -> str:
        if not reason.strip() or not reason.isprintable():
            raise ValueError(f"{reason!r} is not a reason; allowed: one line of printable text saying why")
        return reason.strip()


class ClusterSpec(_Model):
    """A whole stack: which orchestrator, the database service, its proxies and the bootstrap."""

    orchestrator: Orchestrator = "local"
    service_plan: str | None = Field(None, alias="servicePlan", description="a plan of the registry: node count "
                                     "and resources; keys the stack sets itself win")
    service_plan_registry: str | None = Field(None, alias="servicePlanRegistry", description="a CSV file or an "
                                              "http(s) URL; default: the shipped catalogue")
    serialized: bool = Field(False, description="provision databases one after the other instead of together")
    keep_data: bool = Field(False, alias="keepData", description="keep datadirs on destroy")
    environment: str = Field("development", description="the environment this stack is (production, staging, "
                             "...); the policy pack holds production stacks to more rules")
    policy_overrides: dict[str, PolicyOverride] = Field(
        default_factory=dict, alias="policyOverrides", description="policy rule name -> {level, reason}: a rule "
        "of the policy pack this stack lowers, shown in every preview")
    allow_data_loss: bool = Field(False, alias="allowDataLoss", description="let a change delete a node's data "
                                  "without keepData (the policy pack refuses it otherwise)")
    root_password: SecretStr | None = Field(None, alias="rootPassword", description="set it as a Pulumi secret; "
                                            "generated when absent")
    database: DatabaseSpec = Field(default_factory=DatabaseSpec)
    proxies: list[ProxySpec] = Field(default_factory=list)
    bootstrap: BootstrapSpec = Field(default_factory=BootstrapSpec)
    local: LocalSpec = Field(default_factory=LocalSpec)
    # Backends still to come: their sections are accepted so a stack can carry them, but are not used yet.
    onpremise: OnPremiseSpec | None = None
    opensvc: dict[str, Any] | None = None
    slapos: dict[str, Any] | None = None
    kube: KubeSpec | None = None
    # What the preview says about the plan registry (its cached copy used), set by load_spec.
    _plan_notice: str | None = PrivateAttr(None)

    @property
    def plan_notice(self) -> str | None:
        return self._plan_notice

    @field_validator("environment")
    @classmethod
    def _environment_name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(f"{value!r} is not an environment name: lower-case letters, digits and '-', starting "
                             "with a letter, e.g. production, staging, development")
        return value

    @field_validator("policy_overrides")
    @classmethod
    def _known_rules(cls, overrides: dict[str, PolicyOverride]) -> dict[str, PolicyOverride]:
        unknown = [rule for rule in overrides if rule not in POLICY_RULES]
        if unknown:
            raise ValueError(f"{', '.join(map(repr, unknown))} is not a rule of the policy pack; allowed: "
                             f"{', '.join(POLICY_RULES)}")
        return overrides

    @field_validator("root_password")
    @classmethod
    def _password_text(cls, value: SecretStr | None) -> SecretStr | None:
        """Printable ASCII: the SQL client replstack uses (PyMySQL) sends passwords as latin-1 while the server
        hashes what it was given as utf8mb4, so a non-ASCII password would be set but never accepted."""
        if value is not None and not re.fullmatch(r"[ -~]*", value.get_secret_value()):
            raise ValueError("has a non-ASCII or control character (the value is not shown); allowed: printable "
                             "ASCII (letters, digits, punctuation, space), since replstack's SQL client sends "
                             "passwords as latin-1 and a non-ASCII one could never log in")
        return value

    @model_validator(mode="before")
    @classmethod
    def _expand_plan(cls, data: Any, info: ValidationInfo) -> Any:
        """A service plan fills node count and resources before anything else reads them. Precedence: a key the
        stack sets itself, then the plan, then the default. What the preview must say about the registry (a cached
        copy used) goes to the validation context."""
        if not isinstance(data, Mapping):
            return data
        name = data.get("servicePlan", data.get("service_plan"))
        registry = data.get("servicePlanRegistry", data.get("service_plan_registry"))
        if name is None:
            return data
        if not isinstance(name, str) or not (registry is None or isinstance(registry, str)):
            return data  # the fields' own validation names the type
        try:
            loaded = plans.load(registry, _host(info).project_dir)
            plan = loaded.plan(name)
        except plans.PlanError as error:
            _refuse([("servicePlanRegistry" if registry and "is not a plan" not in str(error) else "servicePlan",
                      str(error))])
        if isinstance(info.context, dict):
            info.context["plan_notice"] = loaded.notice
        out = dict(data)
        database = out.get("database") if out.get("database") is not None else {}
        if isinstance(database, Mapping):
            out["database"] = _with_defaults(DatabaseSpec, database, _sized(database, plan.database_keys()))
        proxies = out.get("proxies")
        if isinstance(proxies, list):
            out["proxies"] = [_with_defaults(ProxySpec, p, _sized(p, plan.proxy_keys())) if isinstance(p, Mapping)
                              else p for p in proxies]
        return out

    @model_validator(mode="after")
    def _cross_checks(self, info: ValidationInfo) -> ClusterSpec:
        problems: list[tuple[str, str]] = []
        if self.orchestrator not in IMPLEMENTED_ORCHESTRATORS:
            problems.append(("orchestrator", f"{self.orchestrator!r} is not available in this version; available: "
                             + ", ".join(IMPLEMENTED_ORCHESTRATORS)))
        else:
            section = registry.BACKENDS[self.orchestrator].section
            if section != "local" and getattr(self, section) is None:
                problems.append((section, f"the {self.orchestrator} orchestrator needs its section "
                                 f"replstack:{section} (see stacks/Pulumi.{self.orchestrator}.yaml)"))
            kinds = IMPLEMENTED_PROXIES[self.orchestrator]
            for i, proxy in enumerate(self.proxies):
                if proxy.kind not in kinds:
                    problems.append((f"proxies[{i}].kind", f"{proxy.kind!r} is not supported by the "
                                     f"{self.orchestrator} orchestrator yet; supported: {', '.join(kinds)}"))
            flavors = IMPLEMENTED_FLAVORS[self.orchestrator]
            if self.orchestrator == "local" and self.database.flavor in SERVER_BINARIES:
                problems += self._local_flavor()
            elif self.database.flavor not in flavors:
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
        snapshot_node = self.database.snapshots.node
        if snapshot_node is not None and snapshot_node not in nodes:
            problems.append(("database.snapshots.node", f"{snapshot_node!r} is not a node of this cluster; allowed: "
                             f"{', '.join(nodes)}"))
        problems += self._fixed_port_checks()
        problems += self._topology_checks()
        problems += self._flavor_checks()
        if self.database.preferred_primary is not None and self.database.preferred_primary not in nodes:
            problems.append(("database.preferredPrimary", f"{self.database.preferred_primary!r} is not a node of "
                             f"this cluster; allowed: {', '.join(nodes)}"))
        if self.orchestrator == "local":
            problems += self._local_host_checks(_host(info))
            problems += self._local_binary_dir()
        _refuse(problems)
        return self

    def _flavor_checks(self) -> list[tuple[str, str]]:
        """MySQL and Percona: a version replstack supports, and tags whose settings their server takes."""
        from components.configurator import flavors

        db = self.database
        if db.flavor == "mariadb":
            return []
        version = self.server_version()
        try:
            flavors.check_supported(db.flavor, version)
        except flavors.FlavorError as error:
            return [("database.version", str(error))]
        return [("database.tags", problem) for problem in flavors.tag_problems(db.flavor, version, db.tags)]

    def _local_flavor(self) -> list[tuple[str, str]]:
        """MySQL and Percona Server on the local backend: the mysqld of database.binaryDir, which says its flavor
        and version (that version drives the SQL and my.cnf names), on what the lifecycle supports for them."""
        from components.configurator import flavors

        db = self.database
        if db.flavor == "mariadb":
            return []
        if db.binary_dir is None:
            return [("database.binaryDir", f"the {db.flavor} flavor runs the mysqld of database.binaryDir (a "
                     f"{db.flavor} 8.0 or later release's bin directory); allowed: a directory holding mysqld")]
        try:
            server = detected_server(str(Path(db.binary_dir) / "mysqld"))
        except (OSError, subprocess.SubprocessError, flavors.FlavorError) as error:
            return [("database.binaryDir", f"{db.binary_dir}/mysqld did not say its version ({error}); allowed: "
                     f"a directory holding a {db.flavor} server's mysqld")]
        problems = []
        if server.flavor != db.flavor:
            problems.append(("database.binaryDir", f"{db.binary_dir}/mysqld is {server.flavor} {server.dotted}, not "
                             f"{db.flavor}; allowed: a directory holding a {db.flavor} server's mysqld (or "
                             f"database.flavor {server.flavor})"))
        elif db.version and flavors.parse_dotted(db.version)[:2] != server.version[:2]:
            problems.append(("database.version", f"{db.version} but {db.binary_dir}/mysqld is {server.flavor} "
                             f"{server.dotted}; allowed: {'.'.join(map(str, server.version[:2]))} or unset"))
        if self.bootstrap.topology != "master-slave":
            problems.append(("bootstrap.topology", f"{self.bootstrap.topology} with the {db.flavor} flavor: the "
                             "local backend runs mysql and percona as master-slave only in this version; allowed: "
                             "master-slave"))
        for i, proxy in enumerate(self.proxies):
            if proxy.kind != "haproxy":
                problems.append((f"proxies[{i}].kind", f"{proxy.kind} with the {db.flavor} flavor: the local backend "
                                 "puts haproxy in front of mysql and percona in this version; allowed: haproxy"))
        if db.snapshots.enabled:
            problems.append(("database.snapshots.enabled", f"snapshots copy with mariadb-backup, which does not copy "
                             f"{db.flavor}; allowed: false"))
        return problems

    def server_version(self) -> tuple[int, int, int]:
        """The version of the MySQL or Percona servers this stack runs: what the mysqld of database.binaryDir
        says when the local backend runs it (and it is of the flavor: _local_flavor refuses it otherwise), else
        database.version, else the assumed one."""
        from components.configurator import flavors

        db = self.database
        if self.orchestrator == "local" and db.binary_dir is not None:
            try:
                server = detected_server(str(Path(db.binary_dir) / "mysqld"))
            except (OSError, subprocess.SubprocessError, flavors.FlavorError):
                server = None  # _local_flavor says why
            if server is not None and server.flavor == db.flavor:
                return server.version
        return flavors.parse_dotted(db.version) if db.version else flavors.ASSUMED[db.flavor]

    def server_dialect(self) -> dict[str, str]:
        """The flavor and version of the servers, as the SQL steps' inputs carry them
        (components.dialect.Dialect.inputs): nothing for MariaDB, so that its stacks keep the inputs they had."""
        from components.dialect import Dialect

        return {} if self.database.flavor == "mariadb" else Dialect(self.database.flavor, self.server_version()).inputs

    def _local_binary_dir(self) -> list[tuple[str, str]]:
        """database.binaryDir on the local backend: it holds the flavor's server binary, and for mariadb it is
        where mariadbd runs from (local.mariadbBinDir by its other name)."""
        db = self.database
        if db.binary_dir is None:
            return []
        binary = SERVER_BINARIES[db.flavor]
        if not os.access(Path(db.binary_dir) / binary, os.X_OK):
            return [("database.binaryDir", f"{db.binary_dir!r} has no executable {binary}, which the {db.flavor} "
                     f"flavor runs; allowed: the directory holding {binary}")]
        if db.flavor == "mariadb":
            if "mariadb_bin_dir" in self.local.model_fields_set and self.local.mariadb_bin_dir != db.binary_dir:
                return [("database.binaryDir", f"{db.binary_dir!r} and local.mariadbBinDir "
                         f"{self.local.mariadb_bin_dir!r} name the server's directory twice; set only one of them")]
            self.local.mariadb_bin_dir = db.binary_dir
        return []

    def _topology_checks(self) -> list[tuple[str, str]]:
        """Node counts and options each topology needs (README: Topologies)."""
        boot, count = self.bootstrap, self.database.nodes
        topology = boot.topology
        problems: list[tuple[str, str]] = []
        if topology == "multi-master" and count != 2:
            problems.append(("database.nodes", f"{count} nodes with bootstrap.topology multi-master: two nodes "
                             "replicate from each other, a third would have no source; allowed: 2 (or the ring "
                             "topology for more)"))
        if topology == "ring" and count < 3:
            problems.append(("database.nodes", f"{count} node(s) with bootstrap.topology ring: a ring needs 3 nodes "
                             "or more; allowed: 3 or more (or multi-master for 2)"))
        if topology == "multi-tier-slave" and count < 3:
            problems.append(("database.nodes", f"{count} node(s) with bootstrap.topology multi-tier-slave: the "
                             "primary, a relay and at least one leaf replicating from the relay; allowed: 3 or "
                             "more (or master-slave for fewer)"))
        if topology != "master-slave" and boot.semi_sync:
            why = {"master-slave-no-gtid": "replstack turns it on for GTID replicas only",
                   "multi-master": "each node is a source of the other: each commit would wait on the other",
                   "ring": "each node is a source of the next: each commit would wait on the next node",
                   "multi-tier-slave": "the leaves replicate from the relay, so the primary would wait on the relay "
                   "alone"}[topology]
            problems.append(("bootstrap.semiSync", f"true with bootstrap.topology {topology}: {why}; allowed: "
                             "false, or the master-slave topology"))
        if "multi_master_writable" in boot.model_fields_set and topology != "multi-master":
            problems.append(("bootstrap.multiMasterWritable", f"applies to the multi-master topology only, not "
                             f"{topology}; allowed: remove the key"))
        if topology != "master-slave" and self.orchestrator == "kube":
            problems.append(("bootstrap.topology", f"{topology!r} is not supported by the kube orchestrator yet (its "
                             "services route by a primary and replica label); supported: master-slave"))
        return problems

    def network_settings(self) -> dict[str, list[str]]:
        """The network keys the stack sets, by key path (``database.network``, ``proxies[0].network``)."""
        given = {"database.network": self.database.network.given()}
        given.update({f"proxies[{i}].network": p.network.given() for i, p in enumerate(self.proxies)})
        return {key: keys for key, keys in given.items() if keys}

    def resource_settings(self) -> dict[str, dict[str, Any]]:
        """The resource keys the stack sets, with their values, by key path (``database``, ``proxies[0]``)."""
        given = {"database": self.database.resources_given()}
        given.update({f"proxies[{i}]": p.disk.given() for i, p in enumerate(self.proxies)})
        return {key: keys for key, keys in given.items() if keys}

    def fixed_ports(self) -> dict[str, tuple[dict[str, int], str]]:
        """The ports the stack fixes, by service: ({port name: port}, the key that sets them)."""
        fixed: dict[str, tuple[dict[str, int], str]] = {}
        for i, node in enumerate(self.database.node_names()):
            if node in self.database.ports:
                fixed[node] = ({"mysql": self.database.ports[node]}, f"replstack:database.ports.{node}")
            elif self.database.port is not None:
                fixed[node] = ({"mysql": self.database.port + i}, "replstack:database.port")
        for i, proxy in enumerate(self.proxy_services()):
            if proxy.ports:
                fixed[str(proxy.name)] = (dict(proxy.ports), f"replstack:proxies[{i}].ports")
        return fixed

    def _fixed_port_checks(self) -> list[tuple[str, str]]:
        """Listener names the proxy's kind has, ports in range, and no port fixed twice in the stack (services of
        a stack may share a host)."""
        from components.proxies.kinds import kind as proxy_kind

        problems: list[tuple[str, str]] = []
        if self.database.port is not None and self.database.port + self.database.nodes - 1 > 65535:
            problems.append(("database.port", f"{self.database.port} + {self.database.nodes - 1} (one port per node) "
                             "goes past 65535; allowed: a port that leaves room for every node"))
        for i, proxy in enumerate(self.proxies):
            try:
                listeners = [n for n in proxy_kind(proxy.kind).listeners
                             if n not in proxy_kind(proxy.kind).unused_listeners]
            except (KeyError, ValueError):
                continue
            for name, port in proxy.ports.items():
                if name not in listeners:
                    problems.append((f"proxies[{i}].ports", f"{name!r} is not a listener of {proxy.kind}; allowed: "
                                     f"{', '.join(listeners)}"))
                elif not 1 <= int(port) <= 65535:
                    problems.append((f"proxies[{i}].ports.{name}", f"{port} is not a TCP port; allowed: 1 to 65535"))
        seen: dict[int, str] = {}
        for service, (ports, key) in self.fixed_ports().items():
            for name, port in ports.items():
                where = f"{service}/{name}"
                if port in seen:
                    problems.append((key.removeprefix(f"{NAMESPACE}:"), f"port {port} ({where}) is also fixed for "
                                     f"{seen[port]}; allowed: a port no other service of the stack has"))
                seen.setdefault(port, where)
        return problems

    def _local_host_checks(self, host: HostFacts) -> list[tuple[str, str]]:
        """What the local backend needs from this host: memory for every node, the HAProxy binary when a proxy
        runs, and the OS account that runs the servers left alone (it has an administrator account)."""
        problems = []
        db = self.database
        if db.nodes * db.memory > host.memory_mb:
            plan = f" (servicePlan {self.service_plan})" if self.service_plan else ""
            problems.append(("database.memory", f"{db.memory} MB per node x {db.nodes} nodes{plan} is more than this "
                             f"host's {host.memory_mb} MB of memory; allowed on the local orchestrator: at most "
                             f"{host.memory_mb // db.nodes} MB per node with {db.nodes} node(s)"))
        if any(p.kind == "haproxy" for p in self.proxies):
            try:
                _check_executable(self.local.haproxy_binary, f"{self.local.haproxy_binary!r} is not an executable "
                                  "file; allowed: the path of an installed haproxy, e.g. /usr/sbin/haproxy")
            except ValueError as error:
                problems.append(("local.haproxyBinary", str(error)))
            client = str(Path(self.local.client_bin_dir) / "mariadb")
            if not (os.path.isfile(client) and os.access(client, os.X_OK)):
                problems.append(("local.clientBinDir", f"{self.local.client_bin_dir!r} has no executable mariadb "
                                 "client, which the proxies' health checks run; allowed: the directory of "
                                 "mariadb-install-db and mariadb, e.g. /usr/bin"))
        problems += self._local_proxy_binaries()
        if host.os_user.lower() not in RESERVED_ACCOUNTS:
            for field, key in USER_KEYS.items():
                user = getattr(self.bootstrap, field)
                if field != "root_user" and user.lower() == host.os_user.lower():
                    problems.append((f"bootstrap.{key}", f"{user!r} is reserved on the local orchestrator: it is the "
                                     "OS account that runs the servers, which has its own administrator account "
                                     f"{user}@localhost on every node; allowed: another name"))
        return problems

    def _local_proxy_binaries(self) -> list[tuple[str, str]]:
        """Proxies the local backend runs only with a binary this host must have: named at preview time, with
        what would run here instead."""
        from components.proxies.kinds import NEEDS_BINARY_ON_PATH

        problems = []
        runnable = [k for k in IMPLEMENTED_PROXIES["local"] if k not in NEEDS_BINARY_ON_PATH]
        for i, proxy in enumerate(self.proxies):
            binary = NEEDS_BINARY_ON_PATH.get(proxy.kind)
            if binary and shutil.which(binary) is None:
                problems.append((f"proxies[{i}].kind", f"{proxy.kind!r} needs the {binary} binary on PATH, which this "
                                 "host does not have (its config is rendered and checked, but nothing could run "
                                 f"it); allowed: install {binary} here, use a backend that provides its image, or "
                                 f"a kind the local backend runs: {', '.join(runnable)}"))
            if proxy.kind == "sphinx":
                for name in ("searchd", "indexer"):
                    path = str(Path(self.local.sphinx_bin_dir) / name)
                    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
                        problems.append(("local.sphinxBinDir", f"{self.local.sphinx_bin_dir!r} has no executable "
                                         f"{name}, which sphinx proxies run; allowed: the directory of searchd and "
                                         "indexer (package sphinxsearch), e.g. /usr/bin"))
        return problems

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

    def snapshot_node(self) -> str:
        """The node the snapshots copy: the one the stack names, else the preferred primary."""
        return self.database.snapshots.node or self.primary_name()


def _with_defaults(model: Any, section: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """``section`` with each of ``values`` (by stack key) added where the stack does not set that key itself."""
    out = dict(section)
    for key, value in values.items():
        field_name = next(name for name, f in model.model_fields.items() if key in (name, f.alias))
        if key not in out and field_name not in out:
            out[key] = value
    return out


def _sized(section: Mapping[str, Any], keys: Mapping[str, Any]) -> dict[str, Any]:
    """A plan's keys for a section, without diskSize when the section sets disk.sizeGb (the same setting)."""
    if _disk_size_given(section) is None:
        return dict(keys)
    return {k: v for k, v in keys.items() if k not in ("diskSize", "disk_size")}


@functools.lru_cache(maxsize=None)
def detected_server(binary: str):
    """What ``<binary> --version`` says (components.configurator.flavors.ServerVersion), asked once per program."""
    from components.configurator import flavors

    text = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30).stdout
    return flavors.parse_version(text)
