"""The contract every orchestrator backend implements.

A backend does placement and the life of processes or containers; it never decides topology. For each service
the cluster asks it for two resources:

* a **placement**: where the service runs (its host address, its ports by name, its directory), chosen when
  the placement is created and kept in state, so a service keeps its ports across updates;
* a **service**: the database or proxy itself, created from files the configurator rendered for that placement
  plus its resources. Create installs and starts it and waits until it answers; read reports drift (a dead
  process); update applies a new config (live when it can, by restart when it must); delete stops it and
  removes its data unless the stack keeps data.

Outputs of a service that the rest of the cluster relies on: ``host``, ``port`` (databases) or ``ports``
(proxies), ``running``, and a generation that changes on every (re)start.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import pulumi


@dataclass
class PlacedService:
    """What the cluster gets back for one service."""

    resource: pulumi.Resource
    host: pulumi.Output[str]
    ports: pulumi.Output[Mapping[str, int]]
    # A counter of the service's (re)starts, planned at check time so that it is known during a preview: the
    # steps that verify replication and routing take it as input, so they check again after any restart, and
    # only then.
    generation: pulumi.Output[Any]
    # How the engine reaches the service's host for SQL and control sockets (the control channel): None for
    # this machine, else the backend's access (an SSH host, ...), which the bootstrap steps forward through.
    access: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class DatabaseRequest:
    """A database service to run: its rendered config and the settings it was rendered from (so that an
    update can tell dynamic changes from restart-needing ones), and the administrative account to create."""

    service: str
    config: pulumi.Input[str]
    settings: pulumi.Input[Mapping[str, str]]
    placement: pulumi.Input[Mapping[str, Any]]
    root_user: str
    root_password: pulumi.Input[str]
    # The other nodes by name, with their role and placement: a new replica is seeded from a copy of one of them.
    peers: Mapping[str, tuple[str, pulumi.Input[Mapping[str, Any]]]] | None = None
    # MySQL and Percona Server: the server's flavor and version (components.dialect.Dialect.inputs) and the
    # mysqld it runs (database.binaryDir); None for MariaDB, whose server the backend knows.
    dialect: Mapping[str, str] | None = None
    server_binary: str | None = None


@dataclass(frozen=True)
class ProxyRequest:
    """A proxy to run: its rendered config, and its routing by node name (``write``, ``read``), which the
    preview shows in words."""

    service: str
    kind: str
    config: pulumi.Input[str]
    placement: pulumi.Input[Mapping[str, Any]]
    routes: Mapping[str, list[str]]
    # Files written beside the config, by name (the health-check command and its option file): a secret, since
    # the option file holds the check account's password.
    files: pulumi.Input[Mapping[str, str]] | None = None
    # Inputs its kind adds to the service (components.proxies.kinds: ``resource_inputs``), e.g. the account a
    # ShardProxy gives its clients.
    inputs: Mapping[str, Any] | None = None


class Orchestrator(abc.ABC):
    """One backend. ``cluster`` names the cluster (project and stack) for directories and labels."""

    name: str
    # How the bootstrap steps reach a service's host (components.orchestrators.hosts.transport): its control
    # sockets are used through it, never through a TCP port.
    transport: str = "local"
    # The MariaDB command-line client on the proxies' host: the proxies' health checks run it.
    sql_client: str = "/usr/bin/mariadb"
    # Where mariadb-backup and mbstream are on the database hosts: snapshots run them there
    # (components.snapshots). None: this backend takes no snapshots this way.
    tools_dir: str | None = None
    # The mariadbd the database hosts run, and how long it may take to start (a restore from a snapshot starts it).
    server_binary: str = "/usr/sbin/mariadbd"
    start_timeout: float = 120

    # Whether the backend takes snapshots by its own means (``snapshot_schedule``) rather than with tools_dir.
    own_snapshots: bool = False

    def __init__(self, cluster: str):
        self.cluster = cluster

    def snapshot_schedule(self, node: str, opts: pulumi.ResourceOptions) -> pulumi.Resource | None:
        """database.snapshots by the backend's own means (kube: VolumeSnapshots made by a CronJob), when
        ``own_snapshots``."""
        return None

    # The network keys (components.spec.NetworkSpec) this backend applies; the others are ignored, and the
    # preview says so. Backends that run services on existing hosts apply none.
    network_keys: tuple[str, ...] = ()

    def ignored_network(self, given: Mapping[str, list[str]]) -> list[str]:
        """What the preview says about network settings this backend does not apply, one line per key path."""
        lines = []
        for path, keys in given.items():
            ignored = [k for k in keys if k not in self.network_keys]
            if ignored:
                lines.append(f"replstack:{path}: {', '.join(ignored)} ignored by the {self.name} orchestrator (its "
                             "services use the addresses of the hosts they run on)")
        return lines

    # The resource keys (components.spec: ClusterSpec.resource_settings) this backend applies, each with the
    # values it honours (None: any); the others are ignored, and the preview says so with ``resource_note``.
    resource_keys: Mapping[str, tuple[Any, ...] | None] = {}
    resource_note: str = "it does not make containers or volumes"

    def ignored_resources(self, given: Mapping[str, Mapping[str, Any]]) -> list[str]:
        """What the preview says about resource settings this backend does not apply, one line per key path."""
        lines = []
        for path, keys in given.items():
            ignored = [f"{key} ({value})" for key, value in keys.items()
                       if key not in self.resource_keys
                       or (self.resource_keys[key] is not None and value not in self.resource_keys[key])]
            if ignored:
                lines.append(f"replstack:{path}: {', '.join(ignored)} ignored by the {self.name} orchestrator "
                             f"({self.resource_note})")
        return lines

    @property
    @abc.abstractmethod
    def runs_as_root(self) -> bool:
        """Whether database servers run as the OS root account (my.cnf then says ``user = root``)."""

    @abc.abstractmethod
    def proxy_source_hosts(self) -> list[str]:
        """The addresses proxies connect to the databases from, as the servers see them (the health-check
        account is limited to them)."""

    def plan(self, services: Sequence[str]) -> None:
        """Told every service of the cluster, in order (nodes by number, then proxies), before any is placed:
        a backend that spreads services over hosts decides here."""

    def claim(self, opts: pulumi.ResourceOptions) -> pulumi.Resource | None:
        """The resource that owns everything the backend makes for this cluster, if it has one: created before
        any placement (every placement depends on it) and so deleted after every service. The local backend's
        marks and cleans up the cluster directory."""
        return None

    @abc.abstractmethod
    def place(self, service: str, port_names: Sequence[str], opts: pulumi.ResourceOptions,
              fixed: Mapping[str, int] | None = None, fixed_by: str = "the stack") -> pulumi.Output[dict]:
        """A placement for ``service`` with one port per name; resolves to {host, ports, dir}. ``fixed`` are the
        ports the stack sets by name (``fixed_by`` names its key): used as they are, or the placement fails."""

    @abc.abstractmethod
    def database(self, request: DatabaseRequest, opts: pulumi.ResourceOptions) -> PlacedService:
        """A running database server."""

    @abc.abstractmethod
    def proxy(self, request: ProxyRequest, opts: pulumi.ResourceOptions) -> PlacedService:
        """A running proxy."""
