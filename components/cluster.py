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

from components.accounts import ClientAccounts
from components.configurator import flavors
from components.configurator.haproxy import host_port
from components.configurator.mariadb import database_settings, node_paths, render_my_cnf
from components.configurator.placement import Placement
from components.configurator.topologies import MULTI_SOURCE, Layout, layout, node_settings
from components.orchestrators.base import DatabaseRequest, Orchestrator, PlacedService, ProxyRequest
from components import grants as grant_rules
from components.proxies.kinds import Node as ProxyNode, ProxyKind, RenderContext, kind as proxy_kind
from components.initial_load import InitialLoad, entries as load_entries
from components.proxysync import ProxySync
from components.secrets import password
from components.snapshots.schedule import SnapshotSchedule, default_directory
from components.spec import ClusterSpec, ProxySpec
from components.stack_policy import StackPolicy, stack_policy_inputs
from components.sysbench import Sysbench
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
        # MySQL and Percona Server: their flavor and version, which every SQL step's inputs carry (empty for
        # MariaDB, so that its stacks keep the inputs they had).
        self.dialect: dict[str, str] = spec.server_dialect()
        if spec.database.snapshots.enabled and orchestrator.tools_dir is None and not orchestrator.own_snapshots:
            raise pulumi.RunError(f"replstack:database.snapshots.enabled: the {orchestrator.name} orchestrator takes "
                                  "no snapshots yet; allowed: false, or an orchestrator that does (local, onpremise)")
        child = pulumi.ResourceOptions(parent=self)
        for line in orchestrator.ignored_network(spec.network_settings()):
            pulumi.log.warn(line)
        for line in orchestrator.ignored_resources(spec.resource_settings()):
            pulumi.log.warn(line)
        orchestrator.plan(spec.database.node_names() + [p.name or p.kind for p in spec.proxy_services()])
        self.owner = orchestrator.claim(child)
        # What the policy pack reads about this stack (environment, overrides, what a change removes).
        self.stack_policy = StackPolicy("stack-policy", stack_policy_inputs(spec, Path.cwd()), child)

        given_root = pulumi.Output.secret(spec.root_password.get_secret_value()) if spec.root_password else None
        self.root_user = spec.bootstrap.root_user
        self.root_password = password("root-password", given_root, child)
        self.primary = spec.primary_name()
        self.layout: Layout = layout(spec.bootstrap.topology, spec.database.node_names(), self.primary,
                                     spec.bootstrap.multi_master_writable == "both")

        db_nodes = self._databases(child)
        # A backend may only lay out the services (kube with bootstrap: false): no SQL steps then.
        bootstrap = getattr(orchestrator, "sql_bootstrap", True)
        topology = self._topology(db_nodes, password("replication-password", None, child)) if bootstrap else None
        self.check_password = password("check-password", None, child)
        self._kind_secrets = self._proxy_secrets(child)
        self.monitoring_password = password("monitoring-password", None, child) if bootstrap else None
        users = self._users(db_nodes, self.monitoring_password, topology) if bootstrap else None
        self._proxy_targets: dict[str, dict[str, Any]] = {}
        proxies = [(proxy, self._proxy(proxy, db_nodes, users)) for proxy in spec.proxy_services()]
        self.proxy_sync = self._proxy_sync(db_nodes, proxies) if proxies and bootstrap else None
        self.sysbench = self._sysbench(db_nodes, proxies) if spec.bootstrap.sysbench and bootstrap else None
        # The sponsor and application accounts ({role: (user, password)}), then the initial load.
        self.accounts: dict[str, tuple[str, pulumi.Output[str]]] = {}
        self.client_accounts = self._client_accounts(db_nodes, users, child) if bootstrap else None
        self.initial_load = self._initial_load(db_nodes, proxies) if spec.bootstrap.initial_load and bootstrap \
            else None
        self.snapshots = None if not spec.database.snapshots.enabled else (
            orchestrator.snapshot_schedule(spec.snapshot_node(), child) if orchestrator.own_snapshots
            else self._snapshots(db_nodes, topology))

        self.nodes = pulumi.Output.all(*[n.endpoint for n in db_nodes]).apply(list)
        self.proxies = pulumi.Output.all(*[
            pulumi.Output.all(service.host, service.ports).apply(
                lambda v, proxy=proxy: _proxy_output(proxy, proxy_kind(proxy.kind), v[0], v[1]))
            for proxy, service in proxies]).apply(list)
        self.write_endpoint, self.read_endpoint = self._endpoints(db_nodes, proxies)
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
        fixed = spec.fixed_ports()
        version = spec.server_version() if self.dialect else None
        placements = {name: orchestrator.place(name, ["mysql"], child, *fixed.get(name, (None, "the stack")))
                      for name in order}
        roles = {name: "primary" if name == self.primary else "replica" for name in names}
        for name in order:
            is_primary = name in self.layout.writable
            placement = placements[name]
            settings = database_settings(spec.database, server_id=server_ids[name], primary=is_primary,
                                         topology=node_settings(self.layout, name, spec.database.domain_id))
            if self.dialect:
                settings = flavors.flavor_settings(settings, spec.database.flavor, version)
                flavors.check_settings(settings, spec.database.flavor, version)
            config = placement.apply(lambda p, name=name, is_primary=is_primary, settings=settings: render_my_cnf(
                cluster=orchestrator.cluster, node=name, primary=is_primary, settings=settings,
                placement=Placement.from_output(p), run_as_root=orchestrator.runs_as_root,
                flavor=spec.database.flavor))
            depends = [n.service.resource for n in nodes.values()] if name == self.primary else []
            if spec.serialized and previous is not None and previous not in depends:
                depends.append(previous)
            service = orchestrator.database(
                DatabaseRequest(service=name, config=config, settings=settings, placement=placement,
                                root_user=spec.bootstrap.root_user, root_password=self.root_password,
                                peers={n: (roles[n], placements[n]) for n in names if n != name},
                                dialect=self.dialect or None,
                                server_binary=f"{spec.database.binary_dir}/mysqld" if self.dialect else None),
                pulumi.ResourceOptions(parent=self, depends_on=depends))
            socket = placement.apply(lambda p: node_paths(Placement.from_output(p)).socket)
            nodes[name] = Node(name, self.layout.roles[name], service, socket, placement)
            previous = service.resource
        return [nodes[name] for name in names]

    def _topology(self, db_nodes: list[Node], replication_password: pulumi.Output[str]) -> ReplicationTopology:
        boot = self.spec.bootstrap
        # Only for the other topologies, so that a master-slave stack keeps the inputs it had.
        links: dict[str, Any] = {} if self.layout.topology == "master-slave" else {
            "topology": self.layout.topology, "sources": dict(self.layout.sources),
            "writable": list(self.layout.writable)}
        return ReplicationTopology("replication", {
            "nodes": [n.instance for n in db_nodes],
            "primary": self.primary,
            "rootUser": boot.root_user,
            "rootPassword": self.root_password,
            "replicationUser": boot.replication_user,
            "replicationPassword": replication_password,
            "semiSync": boot.semi_sync,
            "timeout": boot.replication_timeout,
            **links,
            **self.dialect,
        }, pulumi.ResourceOptions(parent=self, depends_on=[n.service.resource for n in db_nodes]))

    def _proxy_secrets(self, child: pulumi.ResourceOptions) -> dict[str, dict[str, pulumi.Output[str]]]:
        """The generated passwords of the proxy kinds' accounts and own secrets, by kind and key (one per kind
        and key: every proxy of a kind logs in with the same account)."""
        out: dict[str, dict[str, pulumi.Output[str]]] = {}
        for proxy in self.spec.proxy_services():
            k = proxy_kind(proxy.kind)
            keys = [a.key for a in k.accounts(proxy, self.spec.bootstrap)] + list(k.local_secrets)
            for key in keys:
                if key not in out.setdefault(k.name, {}):
                    out[k.name][key] = password(f"{k.name}-{key}-password", None, child)
        return out

    def _kind_accounts(self) -> tuple[list[dict[str, Any]], list[str]]:
        """Every proxy kind's accounts (grants merged per account) and the schema its proxies need on the
        primary, in order, each statement once."""
        accounts: dict[str, dict[str, Any]] = {}
        schema: list[str] = []
        for proxy in self.spec.proxy_services():
            k = proxy_kind(proxy.kind)
            for account in k.accounts(proxy, self.spec.bootstrap):
                entry = accounts.setdefault(account.user, {"user": account.user, "grants": [],
                                                           "password": self._kind_secrets[k.name][account.key]})
                entry["grants"] += [g for g in account.grants if g not in entry["grants"]]
            schema += [statement for statement in k.schema(proxy) if statement not in schema]
        return list(accounts.values()), schema

    def _users(self, db_nodes: list[Node], monitoring_password: pulumi.Output[str],
               topology: ReplicationTopology) -> DatabaseUsers:
        boot = self.spec.bootstrap
        accounts, schema = self._kind_accounts()
        # Only when a proxy kind needs them, so that a stack without such proxies keeps the inputs it had.
        extra: dict[str, Any] = {"accounts": accounts} if accounts else {}
        if schema:
            extra["schema"] = schema
        return DatabaseUsers("users", {
            "primary": next(n for n in db_nodes if n.name == self.primary).admin_endpoint,
            "rootUser": boot.root_user,
            "rootPassword": self.root_password,
            "monitoringUser": boot.monitoring_user,
            "monitoringPassword": monitoring_password,
            "checkUser": boot.check_user,
            "checkPassword": self.check_password,
            "checkHosts": self.orchestrator.proxy_source_hosts(),
            **extra,
            **self.dialect,
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
            "startTimeout": self.orchestrator.start_timeout,
            "keepData": self.spec.keep_data,
        }, pulumi.ResourceOptions(parent=self, depends_on=[topology]), secret_nodes=remote)

    def _proxy_sync(self, db_nodes: list[Node], proxies: list[tuple[ProxySpec, PlacedService]]) -> ProxySync:
        """Its generations input makes it wait again after any database or proxy restart. Each proxy is read as
        its kind says (HAProxy: its runtime API's unix socket), over the orchestrator's host transport."""
        services = [service for _, service in proxies]
        return ProxySync("proxy-sync", {
            "proxies": [{"name": proxy.name, "transport": self.orchestrator.transport,
                         **self._proxy_targets[proxy.name], **_access(service)} for proxy, service in proxies],
            "primary": self.primary,
            "replicas": self._readers(),
            "generations": [n.service.generation for n in db_nodes] + [s.generation for s in services],
            "timeout": self.spec.bootstrap.proxy_sync_timeout,
        }, pulumi.ResourceOptions(parent=self, depends_on=[s.resource for s in services]))

    def _proxy(self, proxy: ProxySpec, db_nodes: list[Node], users: pulumi.Resource | None) -> PlacedService:
        """A proxy of any kind: placed with its kind's listeners, its files rendered by its kind (the main config
        from the placement and the nodes; the files beside it, and a config holding a secret, with the
        passwords), run by the backend as its kind says."""
        assert proxy.name is not None
        k = proxy_kind(proxy.kind)
        placement = self.orchestrator.place(proxy.name, k.listeners, pulumi.ResourceOptions(parent=self),
                                            *self.spec.fixed_ports().get(proxy.name, (None, "the stack")))
        self._proxy_targets[proxy.name] = _sync_target(k, placement)
        primary = self.primary
        secrets = {"check": self.check_password, "root": self.root_password, **self._kind_secrets.get(k.name, {})}

        def context(place: dict[str, Any], eps: list[dict[str, Any]] | None) -> RenderContext:
            """``eps`` None: rendered without the nodes' addresses (the primary known by name only)."""
            nodes = {e["name"]: ProxyNode(e["name"], e["host"], int(e["port"])) for e in eps or []}
            return RenderContext(cluster=self.orchestrator.cluster, proxy=proxy, placement=Placement.from_output(place),
                                 primary=nodes.get(primary, ProxyNode(primary, "", 0)),
                                 replicas=[b for n, b in nodes.items() if n != primary],
                                 bootstrap=self.spec.bootstrap, sql_client=self.orchestrator.sql_client,
                                 run_as_root=self.orchestrator.runs_as_root, extra=extra)

        # Multi-master and ring: every node is read from, the preferred primary too (HAProxy).
        extra: dict[str, Any] = {"primary_reads": True} if self.layout.topology in MULTI_SOURCE else {}
        if self.dialect:
            extra["flavor"] = self.dialect["flavor"]

        endpoints = pulumi.Output.all(*[n.endpoint for n in db_nodes])
        if k.config_has_secrets:
            config = pulumi.Output.secret(pulumi.Output.all(placement, endpoints, pulumi.Output.all(**secrets)).apply(
                lambda v: k.render_config(context(v[0], v[1]), v[2])))
        else:
            config = pulumi.Output.all(placement, endpoints).apply(lambda v: k.render_config(context(v[0], v[1]), {}))
        files = None
        if k.has_files and k.files_need_nodes:
            files = pulumi.Output.secret(pulumi.Output.all(placement, endpoints, pulumi.Output.all(**secrets)).apply(
                lambda v: k.render_files(context(v[0], v[1]), v[2])))
        elif k.has_files:
            # From the placement and the passwords only (HAProxy's check command and option file, as they always
            # were): a change of the nodes leaves them as they are.
            files = pulumi.Output.secret(pulumi.Output.all(placement, pulumi.Output.all(**secrets)).apply(
                lambda v: k.render_files(context(v[0], None), v[1])))
        replicas = self._readers()
        routes = {"write": [primary], "read": replicas or [primary]}
        if self.layout.topology != "master-slave":
            routes["write"] = [primary] + [n for n in self.layout.writable if n != primary]
        return self.orchestrator.proxy(
            ProxyRequest(service=proxy.name, kind=proxy.kind, config=config, placement=placement, routes=routes,
                         files=files,
                         inputs=k.resource_inputs(self.spec.bootstrap.root_user, self.root_password) or None),
            pulumi.ResourceOptions(parent=self, depends_on=[users] if users else []))

    def _readers(self) -> list[str]:
        """The nodes the read side balances over: the replicas (the relay too); every node of a multi-master or
        ring topology. Empty for a lone primary."""
        if self.layout.topology in MULTI_SOURCE:
            return list(self.layout.nodes)
        return [n for n in self.layout.nodes if n not in self.layout.writable]

    def _sysbench(self, db_nodes: list[Node], proxies: list[tuple[ProxySpec, PlacedService]]) -> Sysbench:
        """sysbench tables through the first proxy's write listener (the primary without one), after proxy sync."""
        bench = self.spec.bootstrap.sysbench
        assert bench is not None
        target = self._write_target(db_nodes, proxies)
        depends = [self.proxy_sync] if self.proxy_sync is not None else [n.service.resource for n in db_nodes]
        return Sysbench("sysbench", {
            "target": target,
            "user": self.spec.bootstrap.root_user,
            "password": self.root_password,
            "tables": bench.tables,
            "rows": bench.rows,
        }, pulumi.ResourceOptions(parent=self, depends_on=depends))

    def _client_accounts(self, db_nodes: list[Node], users: DatabaseUsers | None,
                         child: pulumi.ResourceOptions) -> ClientAccounts | None:
        """bootstrap.sponsorUser and bootstrap.appUser on the primary, after the service accounts; their passwords
        the stack's secrets or generated ones."""
        boot = self.spec.bootstrap
        wanted = []
        if boot.sponsor_user is not None:
            s = boot.sponsor_user
            wanted.append(("sponsor", s.name, s.password, s.hosts,
                           [grant_rules.parse(g).sql() for g in s.grants], []))
        if boot.app_user is not None:
            a = boot.app_user
            wanted.append(("app", a.name, a.password, a.hosts,
                           [g.sql() for g in grant_rules.database_grants(a.databases, a.privileges)], a.databases))
        if not wanted:
            return None
        accounts = []
        for role, user, given, hosts, grants, databases in wanted:
            secret = password(f"{role}-password", pulumi.Output.secret(given.get_secret_value()) if given else None,
                              child)
            self.accounts[role] = (user, secret)
            accounts.append({"role": role, "user": user, "password": secret, "hosts": list(hosts),
                             "grants": grants, "databases": list(databases)})
        return ClientAccounts("accounts", {
            "primary": next(n for n in db_nodes if n.name == self.primary).admin_endpoint,
            "rootUser": boot.root_user,
            "rootPassword": self.root_password,
            "accounts": accounts,
            **self.dialect,
        }, pulumi.ResourceOptions(parent=self, depends_on=[users] if users is not None else []))

    def _write_target(self, db_nodes: list[Node], proxies: list[tuple[ProxySpec, PlacedService]]
                      ) -> pulumi.Output[dict[str, Any]]:
        """The first proxy's write listener ({via, host, port}), the primary without one."""
        writer = next(((p, s) for p, s in proxies if proxy_kind(p.kind).write_listener), None)
        if writer is not None:
            proxy, service = writer
            listener = proxy_kind(proxy.kind).write_listener
            return pulumi.Output.all(service.host, service.ports).apply(
                lambda v: {"via": proxy.name, "host": v[0], "port": int(v[1][listener])})
        primary = next(n for n in db_nodes if n.name == self.primary)
        return primary.endpoint.apply(lambda e: {"via": e["name"], "host": e["host"], "port": int(e["port"])})

    def _initial_load(self, db_nodes: list[Node], proxies: list[tuple[ProxySpec, PlacedService]]) -> InitialLoad:
        """bootstrap.initialLoad through the write endpoint, after proxy sync, the accounts and sysbench."""
        project = Path.cwd()
        after = [r for r in (self.proxy_sync, self.client_accounts, self.sysbench) if r is not None]
        return InitialLoad("initial-load", {
            "target": self._write_target(db_nodes, proxies),
            "user": self.spec.bootstrap.root_user,
            "password": self.root_password,
            "projectDir": str(project),
            "files": load_entries(self.spec.bootstrap.initial_load, project),
        }, pulumi.ResourceOptions(parent=self, depends_on=after or [n.service.resource for n in db_nodes]))

    def _endpoints(self, nodes: list[Node], proxies: list[tuple[ProxySpec, PlacedService]]
                   ) -> tuple[pulumi.Output[str], pulumi.Output[str]]:
        """Through the first proxy that routes both writes and reads when there is one; straight to the primary
        (and the first replica for reads) otherwise."""
        routing = [(proxy_kind(p.kind), s) for p, s in proxies]
        first = next(((k, s) for k, s in routing if k.write_listener and k.read_listener), None)
        if first is not None:
            k, service = first
            both = pulumi.Output.all(service.host, service.ports)
            return (both.apply(lambda v: _address(v[0], v[1][k.write_listener])),
                    both.apply(lambda v: _address(v[0], v[1][k.read_listener])))
        primary = next(n for n in nodes if n.name == self.primary)
        reader = next((n for n in nodes if n.name in self._readers() and n.name != self.primary), primary)
        return (primary.endpoint.apply(lambda e: _address(e["host"], e["port"])),
                reader.endpoint.apply(lambda e: _address(e["host"], e["port"])))


def _sync_target(k: ProxyKind, placement: pulumi.Output[dict]) -> dict[str, Any]:
    """What the proxy-sync step reads a proxy through: HAProxy's entry is its socket (as it always was), another
    kind's its name and what its kind's ``sync_entry`` says."""
    entry = placement.apply(lambda p: k.sync_entry(Placement.from_output(p)))
    if k.sync_by_socket:
        return {"socket": entry.apply(lambda e: e["socket"])}
    return {"kind": k.name, "target": entry}


def _proxy_output(proxy: ProxySpec, k: ProxyKind, host: str, ports: dict[str, Any]) -> dict[str, Any]:
    """One entry of the stack output ``proxies``: today's keys (an endpoint a kind does not have is null), its
    host and its listeners by name."""
    def address(listener: str | None) -> str | None:
        return _address(host, ports[listener]) if listener else None

    stats = address(k.stats_listener)
    return {"name": proxy.name, "kind": proxy.kind, "writeEndpoint": address(k.write_listener),
            "readEndpoint": address(k.read_listener), "statsUrl": f"http://{stats}/" if stats else None,
            "host": host, "ports": k.ports(ports)}


def _access(service: PlacedService) -> dict[str, Any]:
    """``{"access": ...}`` for a service on a host the engine reaches through a control channel, else nothing
    (so that services of the local backend keep the inputs they always had)."""
    return {"access": service.access} if service.access is not None else {}


def _address(host: str, port: float | int) -> str:
    """host:port (``[::1]:port`` for IPv6); ports come back from provider state as floats (protobuf numbers)."""
    return host_port(host, int(port))
