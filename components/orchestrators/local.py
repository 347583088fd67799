"""The ``local`` orchestrator: every service is a process on this host, under one directory per cluster.

Layout (a person can see what runs where without reading code)::

    <baseDir>/<cluster>/ports.json        which service holds which port
    <baseDir>/<cluster>/db1/my.cnf        the node's whole config: `mariadbd --defaults-file=` it by hand
    <baseDir>/<cluster>/db1/data/         the datadir
    <baseDir>/<cluster>/db1/error.log     the server's log; mariadbd.pid, mariadbd.sock beside it
    <baseDir>/<cluster>/haproxy1/haproxy.cfg, haproxy.pid, admin.sock

Three Pulumi dynamic providers implement the backend contract (see ``base``): placement, database, proxy.
Processes are started detached, in their own session, so they outlive the ``pulumi`` run.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, ResourceProvider, UpdateResult

from components.configurator.haproxy import haproxy_paths
from components.configurator.mariadb import node_paths
from components.configurator.placement import Placement
from components.configurator.settings import split_changes
from components.orchestrators import ports
from components.orchestrators.base import DatabaseRequest, Orchestrator, PlacedService, ProxyRequest
from components.orchestrators.hosts import LocalHost
from components.orchestrators.lifecycle.haproxy import HAProxyProcess
from components.orchestrators.lifecycle.mariadb import MariaDBBinaries, MariaDBServer
from components.spec import LocalSpec


RESTART_LOCK = ".restart.lock"


# -- placement -------------------------------------------------------------------------------------------------
class LocalPlacementProvider(ResourceProvider):
    """A directory and a set of leased ports for one service."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        cluster_dir = Path(props["clusterDir"])
        leased = ports.lease(cluster_dir, props["service"], props["host"], props["portNames"])
        directory = str(cluster_dir / props["service"])
        return CreateResult(id_=directory, outs={**props, "ports": leased, "dir": directory})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = [k for k in ("clusterDir", "service", "host") if olds.get(k) != news.get(k)]
        changed = bool(replaces) or olds.get("portNames") != news.get("portNames")
        return DiffResult(changes=changed, replaces=replaces, delete_before_replace=True)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs=self.create(news).outs)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        return ReadResult(id_=id_, outs=props)

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        cluster_dir = Path(props["clusterDir"])
        if ports.release(cluster_dir, props["service"]):
            (cluster_dir / RESTART_LOCK).unlink(missing_ok=True)
            _remove_if_empty(cluster_dir)


class LocalPlacement(Resource):
    host: pulumi.Output[str]
    ports: pulumi.Output[dict]
    dir: pulumi.Output[str]

    def __init__(self, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions | None = None):
        super().__init__(LocalPlacementProvider(), name, {**props, "ports": None, "dir": None}, opts)


# -- database --------------------------------------------------------------------------------------------------
def _mariadb(props: Mapping[str, Any]) -> MariaDBServer:
    return MariaDBServer(
        LocalHost(),
        node_paths(Placement.from_output(props["placement"])),
        MariaDBBinaries(**props["binaries"]),
    )


def _placement_replaces(olds: Mapping[str, Any], news: Mapping[str, Any]) -> list[str]:
    """A service whose directory changes is a new service: replaced, the old one removed first."""
    return ["placement"] if olds.get("placement", {}).get("dir") != news["placement"]["dir"] else []


def _restart_lock(props: Mapping[str, Any]) -> str:
    """One restart lock per cluster, in the cluster directory."""
    return str(Path(props["placement"]["dir"]).parent / RESTART_LOCK)


class LocalDatabaseProvider(ResourceProvider):
    """A mariadbd process. Create adopts a server already running from the same directory, so re-running a
    failed ``up`` converges instead of starting a second server on the same datadir."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        server = _mariadb(props)
        server.write_config(props["config"])
        server.install()
        pid = server.running_pid(None) or server.start(props["startTimeout"])
        server.secure(props["rootUser"], props["rootPassword"])
        return CreateResult(id_=server.paths.dir, outs=self._outs(props, server, pid))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = _placement_replaces(olds, news)
        keys = ("config", "settings", "binaries", "rootUser", "rootPassword", "placement", "keepData")
        changed = any(olds.get(k) != news.get(k) for k in keys) or not olds.get("running", False)
        return DiffResult(changes=changed, replaces=replaces, delete_before_replace=True)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        server = _mariadb(news)
        pid = server.running_pid(olds.get("pid"))
        server.write_config(news["config"])
        if pid is None:
            server.install()
            pid = server.start(news["startTimeout"])
            server.wait_replication_resumed(news["startTimeout"])
        else:
            live, restart = split_changes(olds.get("settings") or {}, news["settings"])
            if restart or olds.get("placement") != news["placement"] or olds.get("binaries") != news["binaries"]:
                pid = server.restart(pid, _restart_lock(news), news["stopTimeout"], news["startTimeout"])
            elif live:
                server.apply_live(live)
        if (olds.get("rootUser"), olds.get("rootPassword")) != (news["rootUser"], news["rootPassword"]):
            server.secure(news["rootUser"], news["rootPassword"])
        return UpdateResult(outs=self._outs(news, server, pid))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        server = _mariadb(props)
        if not server.host.exists(server.paths.config):
            return ReadResult(id_=id_, outs={**props, "pid": None, "running": False, "installed": False})
        pid = server.running_pid(props.get("pid"))
        return ReadResult(id_=id_, outs={**props, "pid": pid, "running": pid is not None,
                                         "installed": server.is_installed()})

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        server = _mariadb(props)
        server.stop(server.running_pid(props.get("pid")), props["stopTimeout"])
        server.remove(keep_data=bool(props.get("keepData")))

    @staticmethod
    def _outs(props: dict[str, Any], server: MariaDBServer, pid: int) -> dict[str, Any]:
        placement = props["placement"]
        return {**props, "pid": pid, "running": True, "installed": True, "host": placement["host"],
                "port": placement["ports"]["mysql"], "version": server.server_version()}


class LocalDatabase(Resource):
    host: pulumi.Output[str]
    port: pulumi.Output[int]
    pid: pulumi.Output[int]
    running: pulumi.Output[bool]
    version: pulumi.Output[str]

    def __init__(self, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions | None = None):
        outputs = {"host": None, "port": None, "pid": None, "running": None, "installed": None, "version": None}
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=["rootPassword"]))
        super().__init__(LocalDatabaseProvider(), name, {**props, **outputs}, opts)


# -- proxy -----------------------------------------------------------------------------------------------------
def _haproxy(props: Mapping[str, Any]) -> HAProxyProcess:
    return HAProxyProcess(LocalHost(), haproxy_paths(Placement.from_output(props["placement"])), binary=props["binary"])


class LocalHAProxyProvider(ResourceProvider):
    """An HAProxy daemon; a config change is a soft reload, so open connections are not cut."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        proxy = _haproxy(props)
        proxy.write_config(props["config"])
        pid = proxy.reload(props["startTimeout"]) if proxy.is_running() else proxy.start(props["startTimeout"])
        return CreateResult(id_=proxy.paths.dir, outs=self._outs(props, pid))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = _placement_replaces(olds, news)
        changed = any(olds.get(k) != news.get(k) for k in ("config", "binary", "placement")) \
            or not olds.get("running", False)
        return DiffResult(changes=changed, replaces=replaces, delete_before_replace=True)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        proxy = _haproxy(news)
        proxy.write_config(news["config"])
        pid = proxy.reload(news["startTimeout"])
        return UpdateResult(outs=self._outs(news, pid))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        proxy = _haproxy(props)
        pid = proxy.pid() if proxy.is_running() else None
        return ReadResult(id_=id_, outs={**props, "pid": pid, "running": pid is not None})

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        proxy = _haproxy(props)
        proxy.stop(props.get("pid"), props["stopTimeout"])
        proxy.remove()

    @staticmethod
    def _outs(props: dict[str, Any], pid: int) -> dict[str, Any]:
        placement = props["placement"]
        return {**props, "pid": pid, "running": True, "host": placement["host"], "ports": placement["ports"]}


class LocalProxy(Resource):
    host: pulumi.Output[str]
    ports: pulumi.Output[dict]
    pid: pulumi.Output[int]
    running: pulumi.Output[bool]

    def __init__(self, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions | None = None):
        outputs = {"host": None, "ports": None, "pid": None, "running": None}
        super().__init__(LocalHAProxyProvider(), name, {**props, **outputs}, opts)


# -- the orchestrator ------------------------------------------------------------------------------------------
class LocalOrchestrator(Orchestrator):
    name = "local"

    def __init__(self, cluster: str, spec: LocalSpec, project_dir: Path, keep_data: bool):
        super().__init__(cluster)
        self.spec = spec
        self.keep_data = keep_data
        base = Path(spec.base_dir).expanduser() if spec.base_dir else default_base_dir()
        self.cluster_dir = str((project_dir / base).resolve() / cluster)

    @property
    def runs_as_root(self) -> bool:
        return os.geteuid() == 0

    def proxy_source_hosts(self) -> list[str]:
        return [self.spec.bind_address]

    def place(self, service: str, port_names: Sequence[str], opts: pulumi.ResourceOptions) -> pulumi.Output[dict]:
        placement = LocalPlacement(f"{service}-placement", {
            "clusterDir": self.cluster_dir,
            "service": service,
            "host": self.spec.bind_address,
            "portNames": list(port_names),
        }, opts)
        return pulumi.Output.all(placement.host, placement.ports, placement.dir).apply(
            lambda v: {"host": v[0], "ports": v[1], "dir": v[2]})

    def database(self, request: DatabaseRequest, opts: pulumi.ResourceOptions) -> PlacedService:
        db = LocalDatabase(request.service, {
            "config": request.config,
            "settings": request.settings,
            "placement": request.placement,
            "binaries": {
                "server": str(Path(self.spec.mariadb_bin_dir) / "mariadbd"),
                "install_db": str(Path(self.spec.client_bin_dir) / "mariadb-install-db"),
            },
            "rootUser": request.root_user,
            "rootPassword": request.root_password,
            "startTimeout": self.spec.start_timeout,
            "stopTimeout": self.spec.stop_timeout,
            "keepData": self.keep_data,
        }, opts)
        return PlacedService(resource=db, host=db.host, ports=db.port.apply(lambda p: {"mysql": p}), generation=db.pid)

    def proxy(self, request: ProxyRequest, opts: pulumi.ResourceOptions) -> PlacedService:
        proxy = LocalProxy(request.service, {
            "kind": request.kind,
            "config": request.config,
            "placement": request.placement,
            "binary": self.spec.haproxy_binary,
            "startTimeout": self.spec.start_timeout,
            "stopTimeout": self.spec.stop_timeout,
        }, opts)
        return PlacedService(resource=proxy, host=proxy.host, ports=proxy.ports, generation=proxy.pid)


def default_base_dir() -> Path:
    """Outside any project checkout: the user's state directory, as XDG places it."""
    state_home = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state_home) / "replstack"


def _remove_if_empty(directory: Path) -> None:
    try:
        directory.rmdir()
    except OSError:
        pass

