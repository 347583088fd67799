"""The ``local`` orchestrator: every service is a process on this host, under one directory per cluster.

Layout (a person can see what runs where without reading code)::

    <baseDir>/<cluster>/ports.json        which service holds which port
    <baseDir>/<cluster>/db1/my.cnf        the node's whole config: `mariadbd --defaults-file=` it by hand
    <baseDir>/<cluster>/db1/data/         the datadir
    <baseDir>/<cluster>/db1/error.log     the server's log; mariadbd.pid, mariadbd.sock beside it
    <baseDir>/<cluster>/haproxy1/haproxy.cfg, haproxy.pid, admin.sock
    <baseDir>/<cluster>/shardproxy1/my.cnf, setup.sql, data/       a ShardProxy (MariaDB with Spider)
    <baseDir>/<cluster>/sphinx1/sphinx.conf, index/, searchd.pid    a Sphinx searchd and its index

Three Pulumi dynamic providers implement the backend contract (see ``base``): placement, database, proxy.
Processes are started detached, in their own session, so they outlive the ``pulumi`` run.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import pulumi
from pulumi.dynamic import CheckFailure, CreateResult, DiffResult, ReadResult, Resource, UpdateResult

from components.configurator.mariadb import node_paths
from components.configurator.placement import Placement
from components.configurator.settings import split_changes
from components.dynamic import (
    NO_ACTION,
    PlannedProvider,
    changed_keys,
    is_known,
    known_or,
    names,
    resource_options,
)
from components.orchestrators import ports
from components.orchestrators.base import DatabaseRequest, Orchestrator, PlacedService, ProxyRequest
from components.orchestrators.cluster_owner import LocalClusterOwner
from components.orchestrators.hosts import Host, LocalHost, host_for
from components.orchestrators.restarts import one_restart_at_a_time
from components.orchestrators.lifecycle.packages import ensure_installed
from components.orchestrators.lifecycle import seed
from components.dialect import Dialect
from components.orchestrators.lifecycle.mariadb import MariaDBBinaries, MariaDBServer
from components.proxies.kinds import ProxyKind, kind as proxy_kind
from components.spec import LocalSpec


# The outputs a database or proxy resource declares (computed by its provider), whatever backend registers it.
DATABASE_OUTPUTS = {"host": None, "port": None, "pid": None, "running": None, "installed": None, "version": None,
                    "generation": None}
PROXY_OUTPUTS = {"host": None, "ports": None, "pid": None, "running": None, "generation": None}
RESTART_LOCK = ".restart.lock"  # the per-host restart lock of earlier versions, removed with the cluster
# The planned action of a service recorded by a replstack version that kept no generation counter.
UPGRADE = "record: state from an earlier replstack version gets a restart counter (nothing restarts)"


# -- placement -------------------------------------------------------------------------------------------------
def _catalog_problem(props: Mapping[str, Any]) -> str | None:
    """What is wrong with the service's entry in ports.json, in words, or None: the file damaged, or the
    service missing from it or holding other ports than state records."""
    try:
        cluster_dir, service = Path(props["clusterDir"]), props["service"]
    except (KeyError, TypeError):
        return None
    try:
        entry = ports.recorded(cluster_dir, service, host_for(props.get("access")))
    except ports.CatalogDamaged as error:
        return str(error)
    except Exception:  # noqa: BLE001  (a host that cannot be reached now is not a catalog problem)
        return None
    if entry is None:
        return f"{cluster_dir / ports.CATALOG} has no entry for {service}"
    held = props.get("ports")
    if isinstance(held, Mapping) and {k: int(v) for k, v in held.items()} != entry:
        return f"{cluster_dir / ports.CATALOG} records other ports for {service} than state"
    return None


def _taken_ports(props: Mapping[str, Any]) -> dict[str, tuple[int, str]]:
    """The service's ports (from state) that a process other than the service itself holds, by name:
    {name: (port, who)}. Its own running service holding them is what should be."""
    held, host = _recorded_ports(props), props.get("host")
    service_dir = str(Path(props.get("clusterDir", "/nonexistent")) / str(props.get("service")))
    if held is None or not isinstance(host, str):  # damaged or unreachable: nothing to say about taken ports
        return {}
    taken = {}
    for name, port in held.items():
        try:
            holder = host_for(props.get("access")).port_holder(host, int(port))
        except Exception:  # noqa: BLE001  (an unreachable host is reported by the services, not here)
            continue
        if holder is not None and not holder.runs_from(service_dir):
            taken[name] = (int(port), str(holder))
    return taken


def _recorded_ports(props: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The ports a placement holds: its outputs when given them, else (check sees inputs only) the catalog's
    record; None when neither can be read (no record, a damaged catalog, an unreachable host)."""
    held = props.get("ports")
    if isinstance(held, Mapping):
        return held
    try:
        held = ports.recorded(Path(props.get("clusterDir", "/nonexistent")), str(props.get("service")),
                              host_for(props.get("access")))
    except Exception:  # noqa: BLE001  (damaged or unreachable: not known)
        return None
    return held if isinstance(held, Mapping) else None


def _held_ports(props: Mapping[str, Any]) -> dict[str, int]:
    """The ports a placement holds now (``_recorded_ports``), else the ports the stack fixed for it; empty when
    neither is known."""
    held = _recorded_ports(props)
    if held is None:
        held = props.get("fixedPorts") if isinstance(props.get("fixedPorts"), Mapping) else {}
    return {str(k): int(v) for k, v in held.items() if isinstance(v, (int, float))}


def fixed_ports_input(fixed: Mapping[str, int] | None, fixed_by: str) -> dict[str, Any]:
    """The placement inputs for ports the stack fixes; none at all when it fixes none, so that placements of
    stacks made before fixed ports existed see no change."""
    return {"fixedPorts": {k: int(v) for k, v in fixed.items()}, "fixedBy": fixed_by} if fixed else {}


class LocalPlacementProvider(PlannedProvider):
    """A directory and a set of leased ports for one service."""

    compared = ("clusterDir", "service", "host", "portNames", "fixedPorts")
    replaced_by = ("clusterDir", "service", "host")

    def refuse(self, olds: dict[str, Any], news: dict[str, Any]) -> list[CheckFailure]:
        """A port the stack fixes that another program holds now fails the preview, naming it."""
        fixed = news.get("fixedPorts")
        if not isinstance(fixed, Mapping) or not is_known(fixed) or not is_known(news.get("host")):
            return []
        held = _held_ports(olds) if olds else {}
        service_dir = str(Path(str(news.get("clusterDir"))) / str(news.get("service")))
        failures = []
        for name, port in sorted(fixed.items()):
            port = int(port)
            if held.get(name) == port:
                continue
            try:
                holder = host_for(news.get("access")).port_holder(news.get("bind") or news["host"], port)
            except Exception:  # noqa: BLE001  (a host that cannot be looked at: the lease says it at apply time)
                continue
            if holder is not None and not holder.runs_from(service_dir):
                failures.append(CheckFailure("fixedPorts", f"port {port} ({news['service']}/{name}, fixed by "
                                             f"{news.get('fixedBy', 'the stack')}) is in use on {news['host']} by "
                                             f"{holder}; allowed: a free port, or no fixed port (one is picked)"))
        return failures

    def plan(self, olds: dict[str, Any], news: dict[str, Any]) -> str:
        where = f"{news['clusterDir']}/{news['service']}" if is_known(news.get("clusterDir")) else "its directory"
        if not olds:
            return f"create: lease ports {names(known_or(news['portNames'], []))} on {news['host']}, in {where}"
        changed = self.changes(olds, news)
        if set(changed) & set(self.replaced_by):
            return f"replace: the service moves to {news['host']}, {where}; the old one is removed first"
        if "fixedPorts" in changed:
            fixed = {k: int(v) for k, v in (known_or(news.get("fixedPorts"), None) or {}).items()}
            held = _held_ports(olds)
            moves = [f"{name} {held[name] if name in held else 'new'} → {port}"
                     for name, port in sorted(fixed.items()) if held.get(name) != port]
            return (f"update: port(s) {', '.join(moves)} (fixed by {news.get('fixedBy', 'the stack')}); the service "
                    "restarts on them" if moves else "update: ports no longer fixed by the stack; the service keeps "
                    "those it holds")
        if changed:
            return f"update: lease ports {names(known_or(news['portNames'], []))}, keeping those held"
        taken = _taken_ports(olds)
        if taken:
            return "re-lease: " + "; ".join(f"port {port} ({name}) is taken by {holder}" for name, (port, holder)
                                            in sorted(taken.items())) + "; the service gets a new port and restarts"
        problem = _catalog_problem(olds)
        if problem:
            return f"record: {problem}; the ports in state are written back (the service keeps them)"
        return NO_ACTION

    def drifted(self, olds: dict[str, Any], news: dict[str, Any]) -> bool:
        return _catalog_problem(olds) is not None or bool(_taken_ports(olds))

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(id_=str(Path(props["clusterDir"]) / props["service"]), outs=self._lease(props, None))

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs=self._lease(news, olds.get("ports"), renew=list(_taken_ports(olds))))

    @staticmethod
    def _lease(props: dict[str, Any], known: dict[str, Any] | None, renew: list[str] = ()) -> dict[str, Any]:
        cluster_dir = Path(props["clusterDir"])
        fixed = {k: int(v) for k, v in (props.get("fixedPorts") or {}).items()}
        leased = ports.lease(cluster_dir, props["service"], props.get("bind") or props["host"], props["portNames"],
                             known={k: int(v) for k, v in (known or {}).items()}, renew=renew,
                             on=host_for(props.get("access")), fixed=fixed,
                             fixed_by=str(props.get("fixedBy") or "the stack"))
        return {**props, "ports": leased, "dir": str(cluster_dir / props["service"])}

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        return ReadResult(id_=id_, outs=props)

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        cluster_dir, host = Path(props["clusterDir"]), host_for(props.get("access"))
        if ports.release(cluster_dir, props["service"], host):
            host.remove_tree(str(cluster_dir / RESTART_LOCK))
            if isinstance(host, LocalHost):
                _remove_if_empty(cluster_dir)


class LocalPlacement(Resource, module="replstack/local", name="Placement"):
    """Where one service runs on this host: its directory and its ports by name."""

    host: pulumi.Output[str]
    ports: pulumi.Output[dict]
    dir: pulumi.Output[str]

    def __init__(self, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions | None = None):
        super().__init__(LocalPlacementProvider(), name, {**props, "ports": None, "dir": None},
                         resource_options(opts))


# -- database --------------------------------------------------------------------------------------------------
def _mariadb(props: Mapping[str, Any]) -> MariaDBServer:
    return MariaDBServer(
        host_for(props.get("access")),
        node_paths(Placement.from_output(props["placement"])),
        MariaDBBinaries(**props["binaries"]),
        dialect=Dialect.of(props),
    )


def _server(props: Mapping[str, Any]) -> str:
    """The server's program, as the plan names it."""
    return "mariadbd" if Dialect.of(props).mariadb else "mysqld"


def _supervisor(props: Mapping[str, Any]) -> str:
    """What the stack says keeps the service running (``onpremise.supervisor``): changing it restarts the
    service under the new one."""
    access = props.get("access") if is_known(props.get("access")) else None
    return str((access or {}).get("supervisor", "auto"))


def _placement_replaces(olds: Mapping[str, Any], news: Mapping[str, Any]) -> list[str]:
    """A service whose directory changes is a new service: replaced, the old one removed first. A directory
    not known yet counts as a change; ports being re-leased do not."""
    placement = news.get("placement")
    new_dir = placement.get("dir") if isinstance(placement, Mapping) else None
    changed = not is_known(new_dir) or (olds.get("placement") or {}).get("dir") != new_dir
    return ["placement"] if changed else []


# A service's config file that no longer holds what replstack wrote (edited by hand, damaged): it is drift,
# since the service would not start from it after its next restart.
CONFIG_REWRITE = ("rewrite: {file} on disk differs from what replstack wrote (edited or damaged); it is written "
                  "again (the running process read the good one: no restart)")


def _config_intact(host: Host, path: str | None, expected: Any) -> bool:
    """Whether the config file at ``path`` holds ``expected``; unknown or unreadable counts as intact (nothing
    to say), a missing or different file does not."""
    if not path or not isinstance(expected, str):
        return True
    return host.read_file(path) == expected


def _mariadb_config_path(props: Mapping[str, Any]) -> str | None:
    try:
        return node_paths(Placement.from_output(props["placement"])).config
    except (KeyError, TypeError, ValueError):
        return None


def _proxy_config_path(props: Mapping[str, Any]) -> str | None:
    try:
        return _proxy(props).paths.config
    except (KeyError, TypeError, ValueError):
        return None


class PortTaken(RuntimeError):
    """A service's port is held by another program."""


def _ensure_ports_free(props: Mapping[str, Any]) -> None:
    """Before a service starts: every port of its placement can be bound, or one line naming the port and who
    holds it (the next ``up`` leases another one, see the placement's plan)."""
    placement = props["placement"]
    for name, port in sorted(placement["ports"].items()):
        holder = host_for(props.get("access")).port_holder(placement["host"], int(port))
        if holder is not None and not holder.runs_from(placement["dir"]):
            raise PortTaken(f"port {int(port)} ({name}) on {placement['host']} is taken by {holder}; run `up` again "
                            "to lease another port, or stop that program")


def _where(props: Mapping[str, Any]) -> str:
    """The service's host, for messages."""
    access = props.get("access") or {}
    return str(access.get("name") or access.get("address") or "this host")


def _cluster_of(props: Mapping[str, Any]) -> str:
    """The cluster a service belongs to: the name of its cluster directory (the same on every host)."""
    return Path(props["placement"]["dir"]).parent.name


def _generation(olds: Mapping[str, Any], restarts: bool) -> int:
    """A counter of the service's (re)starts: 1 when created, one more for each planned (re)start. Known at
    preview time, unlike a pid, so that the steps that verify replication and routing show a change only when
    a process really restarts."""
    if not olds:
        return 1
    previous = olds.get("generation")
    previous = int(previous) if isinstance(previous, (int, float)) else 1  # state of a version without it
    return previous + 1 if restarts else previous


def _role(settings: Any) -> str | None:
    if not isinstance(settings, Mapping) or not is_known(settings.get("read_only")):
        return None
    return {"0": "primary", "1": "replica"}.get(str(settings.get("read_only")))


def _seed(props: Mapping[str, Any], server: MariaDBServer) -> dict[str, Any] | None:
    """A new replica's datadir from a physical copy of a running node (see ``lifecycle.seed``), when the cluster
    has one to copy; None otherwise (the node is installed empty)."""
    if _role(props.get("settings")) != "replica":
        return None
    source = seed.pick_source(props.get("peers"))
    if source is None:
        return None
    return seed.seed(source, server.host, server.paths, server.binaries.install_db, str(props.get("service")))


class LocalDatabaseProvider(PlannedProvider):
    """A mariadbd process. Create adopts a server already running from the same directory, so re-running a
    failed ``up`` converges instead of starting a second server on the same datadir."""

    compared = ("config", "settings", "binaries", "rootUser", "rootPassword", "placement", "keepData", "flavor",
                "serverVersion")
    RESTART_ORDER = "replicas restart one at a time, each replicating again before the next; the primary last"

    # -- the plan (check) ------------------------------------------------------------------------------------
    @staticmethod
    def _role_change(olds: Mapping[str, Any], news: Mapping[str, Any]) -> tuple[str, str] | None:
        """(before, after) when the node changes role (a switchover), else None."""
        before, after = _role(olds.get("settings")), _role(news.get("settings"))
        return (before, after) if before and after and before != after else None

    def stamp(self, olds: dict[str, Any], news: dict[str, Any]) -> dict[str, Any]:
        return {"generation": _generation(olds, self._restarts(olds, news))}

    def stamp_unseen(self, olds: dict[str, Any], news: dict[str, Any]) -> dict[str, Any]:
        return {"generation": _generation(olds, True)}

    def plan(self, olds: dict[str, Any], news: dict[str, Any]) -> str:
        role = _role(news.get("settings")) or "node"
        if not olds:
            source = seed.pick_source(news.get("peers"), timeout=2) if role == "replica" else None
            if source is not None:
                return (f"create: a new replica seeded from {source.name}: a physical copy (mariadb-backup "
                        f"--stream=xbstream into mbstream, --prepare) at the copy's GTID position, start mariadbd, "
                        f"set root; then it replicates from the primary, catches up and is checked to hold "
                        f"{source.name}'s data before it enters the read pool")
            then = "then it becomes a read-only replica of the primary" if role == "replica" \
                else "then the replicas attach to it"
            return f"create: a new {role}: install the datadir, start {_server(news)}, set root; {then}"
        changed = self.changes(olds, news)
        if "placement" in changed and _placement_replaces(olds, news):
            return "replace: the node moves to a new directory; the old server is stopped and removed first"
        words = []
        if not self._alive(olds):
            words.append(f"start: {_server(olds)} is not running; it is started with its config and must replicate "
                         "again before the update ends")
        elif not _config_intact(host_for(olds.get("access")), _mariadb_config_path(olds), olds.get("config")):
            words.append(CONFIG_REWRITE.format(file="my.cnf"))
        else:
            switch = self._role_change(olds, news)
            if switch:
                words.append("switchover: it becomes the primary once it has caught up with the old one"
                             if switch[1] == "primary" else
                             "switchover: it stops taking writes first, then replicates from the new primary")
            restart = self._restart_reasons(olds, news)
            if restart:
                order = "the primary restarts after every replica" if role == "primary" else self.RESTART_ORDER
                words.append(f"restart: {', '.join(restart)} cannot change on a running server; {order}")
            elif live := self._live_changes(olds, news, skip_role=bool(switch)):
                words.append("live: SET GLOBAL " + ", ".join(f"{k} = {v}" for k, v in sorted(live.items()))
                             + " (no restart)")
            elif "config" in changed and not switch:
                words.append("rewrite: my.cnf changes but no setting does (no restart)")
        if {"rootUser", "rootPassword"} & set(changed):
            words.append("re-key: the root account's name or password changes (over the local socket)")
        if "keepData" in changed:
            keep = bool(known_or(news.get("keepData"), False))
            words.append(f"record: on destroy the datadir is {'kept' if keep else 'removed'}")
        if not words and "generation" not in olds:
            words.append(UPGRADE)
        return "; ".join(words) or NO_ACTION

    def _restarts(self, olds: dict[str, Any], news: dict[str, Any]) -> bool:
        return bool(olds) and (not self._alive(olds) or bool(self._restart_reasons(olds, news)))

    @staticmethod
    def _restart_reasons(olds: dict[str, Any], news: dict[str, Any]) -> list[str]:
        reasons = [{"placement": "its port"}.get(key, key) for key in changed_keys(olds, news, ("placement", "binaries"))]
        if _supervisor(olds) != _supervisor(news):
            reasons.append(f"its supervisor ({_supervisor(olds)} to {_supervisor(news)})")
        if is_known(news.get("settings")):
            _, restart = split_changes(olds.get("settings") or {}, news["settings"])
            reasons += sorted(restart)
        else:
            reasons.append("settings")
        return reasons

    @staticmethod
    def _live_changes(olds: dict[str, Any], news: dict[str, Any], skip_role: bool = False) -> dict[str, str]:
        if not is_known(news.get("settings")):
            return {}
        live, _ = split_changes(olds.get("settings") or {}, news["settings"])
        if skip_role:  # read_only follows the switchover, which the replication step runs in order
            live.pop("read_only", None)
        return live

    @staticmethod
    def _alive(olds: Mapping[str, Any]) -> bool:
        """Whether the server of the old inputs runs now: the preview says "start" for a dead node even
        without a refresh."""
        try:
            return _mariadb(olds).running_pid(olds.get("pid")) is not None
        except (KeyError, TypeError, ValueError):
            return False

    def drifted(self, olds: dict[str, Any], news: dict[str, Any]) -> bool:
        return not olds.get("running", False) or "generation" not in olds or not olds.get("configIntact", True) \
            or not _config_intact(host_for(olds.get("access")), _mariadb_config_path(olds), olds.get("config"))

    def diff(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        result = super().diff(id_, olds, news)
        replaces = _placement_replaces(olds, news)
        return DiffResult(changes=result.changes or bool(replaces), replaces=replaces, delete_before_replace=True)

    # -- the lifecycle ---------------------------------------------------------------------------------------
    def create(self, props: dict[str, Any]) -> CreateResult:
        server = _mariadb(props)
        if props.get("access"):  # a host the stack lists: its packages are checked, never assumed
            ensure_installed(server.host, {"mariadbd": server.binaries.server,
                                           "mariadb-install-db": server.binaries.install_db},
                             bool(props.get("installPackages")), _where(props))
        running = server.running_pid(None)
        if running and not server.runs(running, props["config"], int(props["placement"]["ports"]["mysql"])):
            # A server left by an interrupted run, on another config or port: not adopted, restarted.
            server.stop(running, props["stopTimeout"])
            running = None
        server.write_config(props["config"])
        copied = None if running or server.is_installed() else _seed(props, server)
        server.install()
        if not running:
            _ensure_ports_free(props)
        pid = running or server.start(props["startTimeout"])
        if copied is not None:
            seed.start_at(server.socket_endpoint(), copied["gtid"])
        server.secure(props["rootUser"], props["rootPassword"])
        outs = self._outs(props, server, pid)
        return CreateResult(id_=server.paths.dir, outs={**outs, "seed": copied} if copied else outs)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        server = _mariadb(news)
        pid = server.running_pid(olds.get("pid"))
        server.write_config(news["config"])
        fresh = False
        if pid is None:
            # A datadir removed by hand (a replica being re-seeded) is installed again, root account included.
            fresh = not server.is_installed()
            copied = _seed(news, server) if fresh else None
            server.install()
            _ensure_ports_free(news)
            pid = server.start(news["startTimeout"])
            if copied is not None:
                seed.start_at(server.socket_endpoint(), copied["gtid"])
            server.wait_replication_resumed(news["startTimeout"])
        else:
            live, restart = split_changes(olds.get("settings") or {}, news["settings"])
            if restart or olds.get("placement") != news["placement"] or olds.get("binaries") != news["binaries"] \
                    or _supervisor(olds) != _supervisor(news):
                pid = server.restart(pid, one_restart_at_a_time(_cluster_of(news)), news["stopTimeout"],
                                     news["startTimeout"])
            elif live:
                if self._role_change(olds, news):
                    live.pop("read_only", None)  # the replication step demotes and promotes, in order
                if live:
                    server.apply_live(live)
        if fresh or (olds.get("rootUser"), olds.get("rootPassword")) != (news["rootUser"], news["rootPassword"]):
            server.secure(news["rootUser"], news["rootPassword"])
        return UpdateResult(outs=self._outs(news, server, pid))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        server = _mariadb(props)
        if not server.host.exists(server.paths.config):
            return ReadResult(id_=id_, outs={**props, "pid": None, "running": False, "installed": False})
        pid = server.running_pid(props.get("pid"))
        return ReadResult(id_=id_, outs={**props, "pid": pid, "running": pid is not None,
                                         "installed": server.is_installed(),
                                         "configIntact": _config_intact(server.host, server.paths.config, props.get("config"))})

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        server = _mariadb(props)
        pid = server.running_pid(props.get("pid"))
        if pid is not None:
            server.stop_replication()  # a replica being removed: the proxies no longer route to it
        server.stop(pid, props["stopTimeout"])
        server.remove(keep_data=bool(props.get("keepData")))

    @staticmethod
    def _outs(props: dict[str, Any], server: MariaDBServer, pid: int) -> dict[str, Any]:
        placement = props["placement"]
        return {**props, "pid": pid, "running": True, "installed": True, "host": placement["host"],
                "port": placement["ports"]["mysql"], "version": server.server_version(),
                "generation": props.get("generation", 1), "configIntact": True}


class LocalDatabase(Resource, module="replstack/local", name="MariaDBServer"):
    """A mariadbd process on this host, from a rendered my.cnf."""

    host: pulumi.Output[str]
    port: pulumi.Output[int]
    pid: pulumi.Output[int]
    running: pulumi.Output[bool]
    version: pulumi.Output[str]
    generation: pulumi.Output[int]

    def __init__(self, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions | None = None):
        super().__init__(LocalDatabaseProvider(), name, {**props, **DATABASE_OUTPUTS},
                         resource_options(opts, secret_outputs=["rootPassword"]))


# -- proxy -----------------------------------------------------------------------------------------------------
def _kind(props: Mapping[str, Any]) -> ProxyKind:
    """The proxy's kind; state of a version that ran HAProxy whatever the kind said has ``binary`` only."""
    name = props.get("kind") if isinstance(props.get("kind"), str) else "haproxy"
    return proxy_kind("haproxy" if "binaries" not in props else name)


def _proxy(props: Mapping[str, Any]) -> Any:
    """The lifecycle of the proxy's kind over its host's transport (``lifecycle.haproxy`` for HAProxy)."""
    return _kind(props).lifecycle(host_for(props.get("access")), props)


def _binaries(props: Mapping[str, Any]) -> dict[str, str]:
    if "binaries" in props:
        return dict(props["binaries"])
    return {"haproxy": props["binary"]}


def _routing_words(olds: Mapping[str, Any], news: Mapping[str, Any]) -> list[str]:
    """How the proxy's routing changes, by node name (known at preview even when addresses are not)."""
    before, after = olds.get("routes") or {}, known_or(news.get("routes"), {})
    words = []
    if before.get("write") != after.get("write") and after.get("write"):
        words.append(f"writes go to {names(after['write'])}")
    gained = [n for n in after.get("read", []) if n not in before.get("read", [])]
    lost = [n for n in before.get("read", []) if n not in after.get("read", [])]
    if gained:
        words.append(f"the read pool gains {names(gained)}")
    if lost:
        words.append(f"{names(lost)} leave{'s' if len(lost) == 1 else ''} the read pool before being removed")
    return words


class LocalHAProxyProvider(PlannedProvider):
    """A proxy of any kind (the name stays: state records providers by class); its kind
    (components.proxies.kinds) gives its lifecycle. HAProxy: a config change is a soft reload, so open
    connections are not cut. A kind that ``refreshes`` (Sphinx) is refreshed (reindexed) on every ``up``."""

    compared = ("config", "binary", "binaries", "placement", "files", "rootUser", "rootPassword")

    def plan(self, olds: dict[str, Any], news: dict[str, Any]) -> str:
        routes = known_or(news.get("routes"), {})
        k = _kind(news)
        if not olds:
            if k.name == "haproxy":
                return (f"create: start HAProxy: writes to {names(routes.get('write', []))}, reads from "
                        f"{names(routes.get('read', []))}")
            return f"create: {k.describe_routes(routes)}"
        changed = self.changes(olds, news)
        if "placement" in changed and _placement_replaces(olds, news):
            return "replace: the proxy moves to a new directory; the old one is stopped and removed first"
        if not self._alive(olds):
            return f"start: {k.label} is not running; it is started with its config"
        if _supervisor(olds) != _supervisor(news):
            return (f"restart: {k.label} moves from supervisor {_supervisor(olds)} to {_supervisor(news)} "
                    "(stopped, then started under the new one)")
        config_path = _proxy_config_path(olds)
        if not changed and not _config_intact(host_for(olds.get("access")), config_path, olds.get("config")):
            return CONFIG_REWRITE.format(file=Path(config_path or "config").name)
        if changed:
            routing = _routing_words(olds, news)
            if changed == ["files"]:
                routing.append("its health check (command or account) changes")
            elif "files" in changed and not olds.get("files"):
                routing.append("health checks log in with a password (check command and 0600 option file)")
            if k.name != "haproxy":
                return f"reload {k.label}: " + ("; ".join(routing) or "its config changes")
            return "reload (soft, open connections are kept): " + ("; ".join(routing) or "its config changes")
        if k.refreshes:
            return f"refresh {k.label}: reindex from the cluster (every up), searchd keeps serving meanwhile"
        return UPGRADE if "generation" not in olds else NO_ACTION

    def stamp(self, olds: dict[str, Any], news: dict[str, Any]) -> dict[str, Any]:
        restarts = bool(olds) and (not self._alive(olds) or bool(self.changes(olds, news))
                                   or _supervisor(olds) != _supervisor(news))
        return {"generation": _generation(olds, restarts)}

    @staticmethod
    def _alive(olds: Mapping[str, Any]) -> bool:
        try:
            return _proxy(olds).is_running()
        except (KeyError, TypeError, ValueError):
            return False

    def drifted(self, olds: dict[str, Any], news: dict[str, Any]) -> bool:
        return not olds.get("running", False) or "generation" not in olds or _kind(news).refreshes \
            or not _config_intact(host_for(olds.get("access")), _proxy_config_path(olds), olds.get("config"))

    def diff(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        result = super().diff(id_, olds, news)
        replaces = _placement_replaces(olds, news)
        return DiffResult(changes=result.changes or bool(replaces), replaces=replaces, delete_before_replace=True)

    def create(self, props: dict[str, Any]) -> CreateResult:
        proxy = _proxy(props)
        if props.get("access"):
            ensure_installed(proxy.host, _binaries(props), bool(props.get("installPackages")), _where(props))
        if not proxy.is_running():
            _ensure_ports_free(props)
        proxy.write_config(props["config"], props.get("files"))
        pid = proxy.reload(props["startTimeout"]) if proxy.is_running() else proxy.start(props["startTimeout"])
        return CreateResult(id_=proxy.paths.dir, outs=self._outs(props, pid))

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        proxy = _proxy(news)
        pid = proxy.pid() if proxy.is_running() else None
        if pid is not None and _supervisor(olds) != _supervisor(news):
            proxy.write_config(news["config"], news.get("files"))
            proxy.stop(pid, news["stopTimeout"])
            pid = proxy.start(news["startTimeout"])
        elif pid is None or changed_keys(olds, news, self.compared):
            proxy.write_config(news["config"], news.get("files"))
            pid = proxy.reload(news["startTimeout"])
        elif not _config_intact(proxy.host, proxy.paths.config, news["config"]):
            proxy.write_config(news["config"], news.get("files"))  # the running proxy read the good one: no reload
        elif _kind(news).refreshes:
            pid = proxy.refresh(news["startTimeout"])
        return UpdateResult(outs=self._outs(news, pid))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        proxy = _proxy(props)
        pid = proxy.pid() if proxy.is_running() else None
        return ReadResult(id_=id_, outs={**props, "pid": pid, "running": pid is not None})

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        proxy = _proxy(props)
        proxy.stop(props.get("pid"), props["stopTimeout"])
        proxy.remove()

    @staticmethod
    def _outs(props: dict[str, Any], pid: int) -> dict[str, Any]:
        placement = props["placement"]
        return {**props, "pid": pid, "running": True, "host": placement["host"], "ports": placement["ports"],
                "generation": props.get("generation", 1)}


class LocalProxy(Resource, module="replstack/local", name="HAProxy"):
    """An HAProxy daemon on this host, from a rendered haproxy.cfg."""

    host: pulumi.Output[str]
    ports: pulumi.Output[dict]
    pid: pulumi.Output[int]
    running: pulumi.Output[bool]
    generation: pulumi.Output[int]

    def __init__(self, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions | None = None):
        super().__init__(LocalHAProxyProvider(), name, {**props, **PROXY_OUTPUTS},
                         resource_options(opts, secret_outputs=["files"]))


class _LocalKindProxy(Resource):
    """A proxy of another kind than HAProxy on this host; its config, files and account are secrets."""

    host: pulumi.Output[str]
    ports: pulumi.Output[dict]
    pid: pulumi.Output[int]
    running: pulumi.Output[bool]
    generation: pulumi.Output[int]

    def __init__(self, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions | None = None):
        secret = ["files", "rootPassword"] + (["config"] if proxy_kind(props["kind"]).config_has_secrets else [])
        super().__init__(LocalHAProxyProvider(), name, {**props, **PROXY_OUTPUTS},
                         resource_options(opts, secret_outputs=secret))


class LocalShardProxy(_LocalKindProxy, module="replstack/local", name="ShardProxy"):
    """MariaDB with Spider on this host."""


class LocalSphinx(_LocalKindProxy, module="replstack/local", name="Sphinx"):
    """searchd and its index on this host."""


class LocalProxySQL(_LocalKindProxy, module="replstack/local", name="ProxySQL"):
    """ProxySQL on this host (when installed)."""


class LocalMaxScale(_LocalKindProxy, module="replstack/local", name="MaxScale"):
    """MaxScale on this host (when installed)."""


class LocalMySQLRouter(_LocalKindProxy, module="replstack/local", name="MySQLRouter"):
    """MySQL Router on this host (when installed)."""


# The resource type of each kind (its ``resource_type``) on this backend.
LOCAL_PROXY_TYPES: dict[str, type[Resource]] = {
    "HAProxy": LocalProxy, "ShardProxy": LocalShardProxy, "Sphinx": LocalSphinx, "ProxySQL": LocalProxySQL,
    "MaxScale": LocalMaxScale, "MySQLRouter": LocalMySQLRouter,
}


# -- the orchestrator ------------------------------------------------------------------------------------------
class LocalOrchestrator(Orchestrator):
    name = "local"
    # Services keep their data in directories of this host, run by the account that runs the program: no
    # container to size, no tmpfs to mount (that takes root), no filesystem or pool to make.
    resource_keys = {"binaryDir": None, "disk.fs": ("directory",), "disk.type": ("directory",)}
    resource_note = ("it runs processes with data in directories of this host: it sizes no container, mounts no "
                     "tmpfs (that needs root) and makes no filesystem or volume")

    def __init__(self, cluster: str, spec: LocalSpec, project_dir: Path, keep_data: bool):
        super().__init__(cluster)
        self.spec = spec
        self.keep_data = keep_data
        base = Path(spec.base_dir).expanduser() if spec.base_dir else default_base_dir()
        self.cluster_dir = str((project_dir / base).resolve() / cluster)
        self.owner: pulumi.Resource | None = None
        self.sql_client = str(Path(spec.client_bin_dir) / "mariadb")
        self.tools_dir = str(Path(spec.client_bin_dir))
        self.server_binary = str(Path(spec.mariadb_bin_dir) / "mariadbd")
        self.start_timeout = spec.start_timeout

    @property
    def runs_as_root(self) -> bool:
        return os.geteuid() == 0

    def claim(self, opts: pulumi.ResourceOptions) -> pulumi.Resource:
        self.owner = LocalClusterOwner("cluster-owner", {
            "clusterDir": self.cluster_dir,
            "owner": {"project": pulumi.get_project(), "stack": pulumi.get_stack(),
                      "backend": os.environ.get("PULUMI_BACKEND_URL", "")},
            "keepData": self.keep_data,
            "stopTimeout": self.spec.stop_timeout,
        }, opts)
        return self.owner

    def proxy_source_hosts(self) -> list[str]:
        """Where the kernel connects to the services' address from (a connection to 127.0.0.2 comes from
        127.0.0.1): the client host the servers see for the proxies and their checks."""
        return [ports.source_address(self.spec.connect_address)]

    def _bind(self) -> dict[str, str]:
        """The wildcard services bind to when the stack allows one (they are reached at the connect address)."""
        listen = self.spec.listen_address
        return {"bind": listen} if listen != self.spec.connect_address else {}

    def place(self, service: str, port_names: Sequence[str], opts: pulumi.ResourceOptions,
              fixed: Mapping[str, int] | None = None, fixed_by: str = "the stack") -> pulumi.Output[dict]:
        owner = self.owner
        placement = LocalPlacement(f"{service}-placement", {
            "clusterDir": self.cluster_dir,
            "service": service,
            "host": self.spec.connect_address,
            "portNames": list(port_names),
            **self._bind(),
            **fixed_ports_input(fixed, fixed_by),
        }, pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[owner] if owner else [])))
        extra = {"extra": self._bind()} if self._bind() else {}
        return pulumi.Output.all(placement.host, placement.ports, placement.dir).apply(
            lambda v: {"host": v[0], "ports": v[1], "dir": v[2], **extra})

    def _placement_input(self, service: str, placement: pulumi.Input[Mapping[str, Any]]) -> dict[str, Any]:
        """A service's placement as its resource takes it: the address and directory, which follow from the
        stack and stay known during a preview, and the leased ports, which are unknown while being leased. A
        preview that re-leases ports then shows an update, not a replacement."""
        extra = {"extra": self._bind()} if self._bind() else {}
        return {"host": self.spec.connect_address, "dir": str(Path(self.cluster_dir) / service),
                "ports": pulumi.Output.from_input(placement).apply(lambda p: p["ports"]), **extra}

    def database(self, request: DatabaseRequest, opts: pulumi.ResourceOptions) -> PlacedService:
        # MySQL and Percona Server: their mysqld, no install tool (mysqld --initialize-insecure), and no copy
        # of a peer to seed from (mariadb-backup copies MariaDB only): a new replica replicates from nothing.
        mysql = dict(request.dialect or {})
        peers = [] if mysql else [{"name": name, "role": role, "placement": self._placement_input(name, placement)}
                                  for name, (role, placement) in (request.peers or {}).items()]
        db = LocalDatabase(request.service, {
            "service": request.service,
            "config": request.config,
            "settings": request.settings,
            "placement": self._placement_input(request.service, request.placement),
            "binaries": {
                "server": request.server_binary or self.server_binary,
                "install_db": str(Path(self.tools_dir) / "mariadb-install-db"),
            },
            **mysql,
            "rootUser": request.root_user,
            "rootPassword": request.root_password,
            "startTimeout": self.spec.start_timeout,
            "stopTimeout": self.spec.stop_timeout,
            "keepData": self.keep_data,
            # Not compared: where a new replica may be copied from (nodes of this host's cluster).
            "peers": peers,
        }, opts)
        return _placed(db, self._placement_input(request.service, request.placement), db.generation)

    def proxy(self, request: ProxyRequest, opts: pulumi.ResourceOptions) -> PlacedService:
        k = proxy_kind(request.kind)
        # HAProxy keeps the inputs it always had (``binary``); other kinds name theirs by role (``binaries``).
        binaries = {"binary": self.spec.haproxy_binary} if k.name == "haproxy" else {
            "binaries": k.local_binaries(self.spec)}
        proxy = LOCAL_PROXY_TYPES[k.resource_type](request.service, {
            "kind": request.kind,
            "config": request.config,
            "routes": request.routes,
            "placement": self._placement_input(request.service, request.placement),
            **({"files": request.files} if request.files is not None else {}),
            **binaries,
            "startTimeout": self.spec.start_timeout,
            "stopTimeout": self.spec.stop_timeout,
            **(request.inputs or {}),
        }, opts)
        return _placed(proxy, self._placement_input(request.service, request.placement), proxy.generation)


def _placed(resource: pulumi.Resource, placement: Mapping[str, Any], generation: pulumi.Output[int]) -> PlacedService:
    """The service's address comes from its placement, which a change of the service leaves known during a
    preview; its generation comes from the service."""
    return PlacedService(resource=resource, host=pulumi.Output.from_input(placement["host"]),
                         ports=pulumi.Output.from_input(placement["ports"]), generation=generation)


def default_base_dir() -> Path:
    """Outside any project checkout: the user's state directory, as XDG places it."""
    state_home = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state_home) / "replstack"


def _remove_if_empty(directory: Path) -> None:
    try:
        directory.rmdir()
    except OSError:
        pass

