"""ReplicationCluster: the whole cluster as one component.

Bootstrap order comes from data dependencies, not sleeps: databases (together, or one after the other when
``serialized``) → replication topology → users → proxies → proxy sync. Each step is its own resource with
its own error, so a failed ``up`` says which step failed and a re-run continues from what exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi

from components.configurator.haproxy import (PORT_NAMES, Backend, haproxy_paths, host_port, render_check_files,
                                             render_haproxy_cfg)
from components.configurator.mariadb import database_settings, node_paths, render_my_cnf
from components.configurator.placement import Placement
from components.orchestrators.base import DatabaseRequest, Orchestrator, PlacedService, ProxyRequest
from components.proxysync import ProxySync
from components.secrets import password
from components.snapshots.schedule import SnapshotSchedule, default_directory
from components.spec import ClusterSpec, ProxySpec
from components.stack_policy import StackPolicy, stack_policy_inputs
from components.topology import ReplicationTopology
from components.users import DatabaseUsers


@dataclass
class Node:
    name: str
    role: str
    service: PlacedService
    # The node's unix socket: the bootstrap steps administer it there, as the OS account that runs it.
    socket: pulumi.Output[str]
    # Where it runs ({host, ports, dir}), from its placement.
    placement: pulumi.Output[dict[str, Any]] | None = None

    @property
    def endpoint(self) -> pulumi.Output[dict[str, Any]]:
        """The node as clients reach it (the stack's ``nodes`` output)."""
        return pulumi.Output.all(self.service.host, self.service.ports).apply(
            lambda v: {"name": self.name, "host": v[0], "port": int(v[1]["mysql"]), "role": self.role})

    @property
    def admin_endpoint(self) -> pulumi.Output[dict[str, Any]]:
        """The node as the bootstrap steps reach it: its address and its socket."""
        return pulumi.Output.all(self.endpoint, self.socket).apply(
            lambda v: {**v[0], "socket": v[1], **_access(self.service)})

    @property
    def instance(self) -> dict[str, Any]:
        """The node as the verification steps see it: its address and its generation, so that they run
        again when the node restarts. A map of outputs rather than one output, so that during a preview the
        name and address stay known while a restarting node's generation is not."""
        return {"name": self.name, "host": self.service.host,
                "port": self.service.ports.apply(lambda p: int(p["mysql"])), "socket": self.socket,
                "generation": self.service.generation, **_access(self.service)}


class ReplicationCluster(pulumi.ComponentResource):
    write_endpoint: pulumi.Output[str]
    read_endpoint: pulumi.Output[str]
    primary: str
    nodes: pulumi.Output[list]
    root_user: str
    root_password: pulumi.Output[str]
    proxies: pulumi.Output[list]
    proxy_sync: ProxySync | None

    def __init__(self, name: str, spec: ClusterSpec, orchestrator: Orchestrator,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__("replstack:index:ReplicationCluster", name, None, opts)
        self.spec = spec
        self.orchestrator = orchestrator
        if spec.database.snapshots.enabled and orchestrator.tools_dir is None:
            raise pulumi.RunError(f"replstack:database.snapshots.enabled: the {orchestrator.name} orchestrator takes "
                                  "no snapshots yet; allowed: false, or an orchestrator that does (local, onpremise)")
        child = pulumi.ResourceOptions(parent=self)
        orchestrator.plan(spec.database.node_names() + [p.name or p.kind for p in spec.proxy_services()])
        self.owner = orchestrator.claim(child)
        # What the policy pack reads about this stack (environment, overrides, what a change removes).
        self.stack_policy = StackPolicy("stack-policy", stack_policy_inputs(spec, Path.cwd()), child)

        given_root = pulumi.Output.secret(spec.root_password.get_secret_value()) if spec.root_password else None
        self.root_user = spec.bootstrap.root_user
        self.root_password = password("root-password", given_root, child)
        self.primary = spec.primary_name()

        db_nodes = self._databases(child)
        # A backend may only lay out the services (kube with bootstrap: false): no SQL steps then.
        bootstrap = getattr(orchestrator, "sql_bootstrap", True)
        topology = self._topology(db_nodes, password("replication-password", None, child)) if bootstrap else None
        self.check_password = password("check-password", None, child)
        users = self._users(db_nodes, password("monitoring-password", None, child), topology) if bootstrap else None
        self._proxy_sockets: dict[str, pulumi.Output[str]] = {}
        proxies = [(proxy, self._proxy(proxy, db_nodes, users)) for proxy in spec.proxy_services()]
        self.proxy_sync = self._proxy_sync(db_nodes, proxies) if proxies and bootstrap else None
        self.snapshots = self._snapshots(db_nodes, topology) if spec.database.snapshots.enabled else None

        self.nodes = pulumi.Output.all(*[n.endpoint for n in db_nodes]).apply(list)
        self.proxies = pulumi.Output.all(*[
            pulumi.Output.all(service.host, service.ports).apply(lambda v, proxy=proxy: {
                "name": proxy.name, "kind": proxy.kind,
                "writeEndpoint": _address(v[0], v[1]["write"]), "readEndpoint": _address(v[0], v[1]["read"]),
                "statsUrl": f"http://{_address(v[0], v[1]['stats'])}/"})
            for proxy, service in proxies]).apply(list)
        self.write_endpoint, self.read_endpoint = self._endpoints(db_nodes, [service for _, service in proxies])
        self.register_outputs({"writeEndpoint": self.write_endpoint, "readEndpoint": self.read_endpoint,
                               "nodes": self.nodes, "proxies": self.proxies})

    def _databases(self, child: pulumi.ResourceOptions) -> list[Node]:
        """One service per node. The primary depends on every replica, so that a change needing restarts
        restarts the replicas first (reads fall back to the primary meanwhile) and the primary last; with
        ``serialized`` each node also waits for the one before it."""
        spec, orchestrator = self.spec, self.orchestrator
        names = spec.database.node_names()
        server_ids = {name: index for index, name in enumerate(names, start=1)}
        order = [n for n in names if n != self.primary] + [self.primary]
        nodes: dict[str, Node] = {}
        previous: pulumi.Resource | None = None
        placements = {name: orchestrator.place(name, ["mysql"], child) for name in order}
        roles = {name: "primary" if name == self.primary else "replica" for name in names}
        for name in order:
            is_primary = name == self.primary
            placement = placements[name]
            settings = database_settings(spec.database, server_id=server_ids[name], primary=is_primary)
            config = placement.apply(lambda p, name=name, is_primary=is_primary, settings=settings: render_my_cnf(
                cluster=orchestrator.cluster, node=name, primary=is_primary, settings=settings,
                placement=Placement.from_output(p), run_as_root=orchestrator.runs_as_root))
            depends = [n.service.resource for n in nodes.values()] if is_primary else []
            if spec.serialized and previous is not None and previous not in depends:
                depends.append(previous)
            service = orchestrator.database(
                DatabaseRequest(service=name, config=config, settings=settings, placement=placement,
                                root_user=spec.bootstrap.root_user, root_password=self.root_password,
                                peers={n: (roles[n], placements[n]) for n in names if n != name}),
                pulumi.ResourceOptions(parent=self, depends_on=depends))
            socket = placement.apply(lambda p: node_paths(Placement.from_output(p)).socket)
            nodes[name] = Node(name, "primary" if is_primary else "replica", service, socket, placement)
            previous = service.resource
        return [nodes[name] for name in names]

    def _topology(self, db_nodes: list[Node], replication_password: pulumi.Output[str]) -> ReplicationTopology:
        boot = self.spec.bootstrap
        return ReplicationTopology("replication", {
            "nodes": [n.instance for n in db_nodes],
            "primary": self.primary,
            "rootUser": boot.root_user,
            "rootPassword": self.root_password,
            "replicationUser": boot.replication_user,
            "replicationPassword": replication_password,
            "semiSync": boot.semi_sync,
            "timeout": boot.replication_timeout,
        }, pulumi.ResourceOptions(parent=self, depends_on=[n.service.resource for n in db_nodes]))

    def _users(self, db_nodes: list[Node], monitoring_password: pulumi.Output[str],
               topology: ReplicationTopology) -> DatabaseUsers:
        boot = self.spec.bootstrap
        return DatabaseUsers("users", {
            "primary": next(n for n in db_nodes if n.role == "primary").admin_endpoint,
            "rootUser": boot.root_user,
            "rootPassword": self.root_password,
            "monitoringUser": boot.monitoring_user,
            "monitoringPassword": monitoring_password,
            "checkUser": boot.check_user,
            "checkPassword": self.check_password,
            "checkHosts": self.orchestrator.proxy_source_hosts(),
        }, pulumi.ResourceOptions(parent=self, depends_on=[topology]))

    def _snapshots(self, db_nodes: list[Node], topology: ReplicationTopology) -> SnapshotSchedule:
        """The snapshot command and its schedule on the copied node's host. It keeps every node's placement (and
        how to reach its host, a secret when that carries credentials) for ``make snapshot`` and
        ``make restore``. After the topology: a replica copied must replicate first."""
        snapshots = self.spec.database.snapshots
        chosen = self.spec.snapshot_node()
        nodes = [pulumi.Output.all(n.placement).apply(lambda v, n=n: {
            "name": n.name, "role": n.role, "placement": v[0], **_access(n.service)}) for n in db_nodes]
        node_list = pulumi.Output.all(*nodes).apply(list)
        remote = any(n.service.access is not None for n in db_nodes)
        if remote:
            node_list = pulumi.Output.secret(node_list)
        copied = next(n for n in db_nodes if n.name == chosen)
        directory = snapshots.directory or copied.placement.apply(default_directory)
        return SnapshotSchedule("snapshots", {
            "cluster": self.orchestrator.cluster,
            "node": chosen,
            "nodes": node_list,
            "primary": self.primary,
            "directory": directory,
            "keep": snapshots.keep,
            "schedule": snapshots.schedule,
            "toolsDir": self.orchestrator.tools_dir,
            "serverBinary": self.orchestrator.server_binary,
            "startTimeout": getattr(getattr(self.orchestrator, "spec", None), "start_timeout", 120),
            "keepData": self.spec.keep_data,
        }, pulumi.ResourceOptions(parent=self, depends_on=[topology]), secret_nodes=remote)

    def _proxy_sync(self, db_nodes: list[Node], proxies: list[tuple[ProxySpec, PlacedService]]) -> ProxySync:
        """Its generations input makes it wait again after any database or proxy restart. Each proxy is read
        through its runtime API's unix socket, over the orchestrator's host transport."""
        services = [service for _, service in proxies]
        return ProxySync("proxy-sync", {
            "proxies": [{"name": proxy.name, "transport": self.orchestrator.transport,
                         "socket": self._proxy_sockets[proxy.name], **_access(service)} for proxy, service in proxies],
            "primary": self.primary,
            "replicas": [n.name for n in db_nodes if n.role == "replica"],
            "generations": [n.service.generation for n in db_nodes] + [s.generation for s in services],
            "timeout": self.spec.bootstrap.proxy_sync_timeout,
        }, pulumi.ResourceOptions(parent=self, depends_on=[s.resource for s in services]))

    def _proxy(self, proxy: ProxySpec, db_nodes: list[Node], users: pulumi.Resource | None) -> PlacedService:
        assert proxy.name is not None
        placement = self.orchestrator.place(proxy.name, PORT_NAMES, pulumi.ResourceOptions(parent=self))
        self._proxy_sockets[proxy.name] = placement.apply(lambda p: haproxy_paths(Placement.from_output(p)).socket)
        primary = self.primary
        boot = self.spec.bootstrap

        def render(values: list[Any]) -> str:
            place, eps = values
            backends = {e["name"]: Backend(e["name"], e["host"], e["port"]) for e in eps}
            return render_haproxy_cfg(
                cluster=self.orchestrator.cluster, name=proxy.name, placement=Placement.from_output(place),
                primary=backends[primary], replicas=[b for n, b in backends.items() if n != primary])

        def render_files(values: list[Any]) -> dict[str, str]:
            place, check_password = values
            return render_check_files(
                cluster=self.orchestrator.cluster, name=proxy.name, placement=Placement.from_output(place),
                primary=primary, check_user=boot.check_user, check_password=check_password,
                client=self.orchestrator.sql_client, max_lag=boot.max_replica_lag)

        endpoints = pulumi.Output.all(*[n.endpoint for n in db_nodes])
        config = pulumi.Output.all(placement, endpoints).apply(render)
        files = pulumi.Output.secret(pulumi.Output.all(placement, self.check_password).apply(render_files))
        replicas = [n.name for n in db_nodes if n.role == "replica"]
        routes = {"write": [primary], "read": replicas or [primary]}
        return self.orchestrator.proxy(
            ProxyRequest(service=proxy.name, kind=proxy.kind, config=config, placement=placement, routes=routes,
                         files=files),
            pulumi.ResourceOptions(parent=self, depends_on=[users] if users else []))

    def _endpoints(self, nodes: list[Node],
                   proxies: list[PlacedService]) -> tuple[pulumi.Output[str], pulumi.Output[str]]:
        """Through the first proxy when there is one; straight to the primary (and the first replica for reads)
        otherwise."""
        if proxies:
            first = proxies[0]
            both = pulumi.Output.all(first.host, first.ports)
            return (both.apply(lambda v: _address(v[0], v[1]["write"])),
                    both.apply(lambda v: _address(v[0], v[1]["read"])))
        primary = next(n for n in nodes if n.role == "primary")
        reader = next((n for n in nodes if n.role == "replica"), primary)
        return (primary.endpoint.apply(lambda e: _address(e["host"], e["port"])),
                reader.endpoint.apply(lambda e: _address(e["host"], e["port"])))


def _access(service: PlacedService) -> dict[str, Any]:
    """``{"access": ...}`` for a service on a host the engine reaches through a control channel, else nothing
    (so that services of the local backend keep the inputs they always had)."""
    return {"access": service.access} if service.access is not None else {}


def _address(host: str, port: float | int) -> str:
    """host:port (``[::1]:port`` for IPv6); ports come back from provider state as floats (protobuf numbers)."""
    return host_port(host, int(port))
