"""Proxy kinds: what the cluster, the users step, the proxy-sync step and the backends need to know about one kind
of proxy, behind one small interface (like the backends' registry). A kind owns:

- its listeners (the placement's port names) and which of them is the write, read and stats side;
- its pure renderers: ``render_config`` (the main file) and ``render_files`` (files beside it, a secret);
- the accounts it needs on the databases (``accounts``: user and grants; the cluster generates their passwords)
  and the objects it needs there (``schema``: idempotent statements run on the primary by the users step);
- how a backend runs it (``lifecycle``: write config, start, reload, stop, remove over the ``Host`` transport;
  ``refreshes``: whether every ``up`` refreshes it, as Sphinx reindexes);
- how the proxy-sync step reads what it routes (``sync_entry`` and ``routing_gaps``).

Kinds are registered by name in ``KINDS``; a module is imported when its kind is used.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping

from components.configurator.placement import Placement

if TYPE_CHECKING:
    from components.orchestrators.hosts import Host
    from components.spec import BootstrapSpec, ProxySpec


@dataclass(frozen=True)
class Account:
    """A database account a kind logs in with. ``key`` names its generated password (one per kind and key,
    shared by every proxy of the kind); ``grants`` are ``<privileges> ON <object>`` clauses."""

    key: str
    user: str
    grants: tuple[str, ...]


@dataclass(frozen=True)
class Node:
    name: str
    host: str
    port: int


@dataclass(frozen=True)
class RenderContext:
    """Everything a renderer reads (no secrets: those are passed separately)."""

    cluster: str
    proxy: "ProxySpec"
    placement: Placement
    primary: Node
    replicas: list[Node]
    bootstrap: "BootstrapSpec"
    sql_client: str
    run_as_root: bool
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ProxyKind:
    """The base: every method has the behaviour of a kind that needs nothing of it."""

    name: str
    label: str                    # how messages and the README name it
    resource_type: str            # the backend resource's type name (``replstack/local:<resource_type>``)
    listeners: tuple[str, ...]    # the placement's port names
    write_listener: str | None = None
    read_listener: str | None = None
    stats_listener: str | None = None
    unused_listeners: tuple[str, ...] = ()
    # The main config holds a secret (rendered with the passwords, kept in state as a secret).
    config_has_secrets: bool = False
    # Files beside the config (``render_files``), a secret; rendered without the nodes' addresses when
    # ``files_need_nodes`` is off.
    has_files: bool = False
    files_need_nodes: bool = True
    # The proxy-sync entry is ``{"socket": ...}`` itself (HAProxy's, as earlier versions recorded it) rather than
    # ``{"kind": ..., "target": {...}}``.
    sync_by_socket: bool = False
    # Every ``up`` refreshes the proxy (Sphinx: reindex), so its plan always says so.
    refreshes: bool = False
    # The binaries it runs, by role, and the Debian package shipping each.
    packages: Mapping[str, str] = field(default_factory=dict)
    # Secrets of its own that are no database account (ProxySQL's admin interface), generated like passwords.
    local_secrets: tuple[str, ...] = ()

    # -- ports ---------------------------------------------------------------------------------------------
    def ports(self, placed: Mapping[str, Any]) -> dict[str, int]:
        """The listeners clients use, by name (the stack output's ``ports``)."""
        return {n: int(p) for n, p in placed.items() if n not in self.unused_listeners}

    # -- accounts and schema ---------------------------------------------------------------------------------
    def accounts(self, proxy: "ProxySpec", boot: "BootstrapSpec") -> list[Account]:
        return []

    def schema(self, proxy: "ProxySpec") -> list[str]:
        return []

    # -- rendering -----------------------------------------------------------------------------------------
    def render_config(self, ctx: RenderContext, secrets: Mapping[str, str]) -> str:
        raise NotImplementedError

    def render_files(self, ctx: RenderContext, secrets: Mapping[str, str]) -> dict[str, str] | None:
        return None

    # -- running -------------------------------------------------------------------------------------------
    def local_binaries(self, local: Any) -> dict[str, str]:
        """What the local and onpremise backends run, by role, from their section."""
        return {}

    def lifecycle(self, host: "Host", props: Mapping[str, Any]) -> Any:
        raise NotImplementedError

    def resource_inputs(self, root_user: str, root_password: Any) -> dict[str, Any]:
        """Extra inputs of the backend resource (e.g. the account a ShardProxy gives its clients)."""
        return {}

    # -- proxy sync ----------------------------------------------------------------------------------------
    def sync_entry(self, placement: Placement) -> dict[str, Any]:
        """What the proxy-sync step reads the proxy through (merged into its entry)."""
        return {}

    def routing_gaps(self, host: "Host", entry: Mapping[str, Any], primary: str, readers: list[str]) -> list[str]:
        return []

    def describe_routes(self, routes: Mapping[str, list[str]]) -> str:
        return f"start {self.label}"


KINDS: dict[str, str] = {
    "haproxy": "components.proxies.kind_haproxy:KIND",
    "shardproxy": "components.proxies.kind_shardproxy:KIND",
    "sphinx": "components.proxies.kind_sphinx:KIND",
    "proxysql": "components.proxies.kind_rendered:PROXYSQL",
    "maxscale": "components.proxies.kind_rendered:MAXSCALE",
    "mysqlrouter": "components.proxies.kind_rendered:MYSQLROUTER",
}
# Kinds the local backend runs only when their binary is installed (on PATH): name -> binary.
NEEDS_BINARY_ON_PATH = {"proxysql": "proxysql", "maxscale": "maxscale", "mysqlrouter": "mysqlrouter"}


def kind(name: str) -> ProxyKind:
    try:
        module, attribute = KINDS[name].split(":")
    except KeyError:
        raise ValueError(f"no proxy kind named {name!r}; known: {', '.join(KINDS)}") from None
    return getattr(importlib.import_module(module), attribute)


def tcp_answers(host: str, port: int, timeout: float = 2.0) -> bool:
    import socket

    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            return True
    except OSError:
        return False
