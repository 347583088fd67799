"""The ``onpremise`` orchestrator: existing hosts reached over SSH, with no agent.

The services are the same processes the ``local`` backend runs (the same lifecycles and dynamic providers), on
hosts the stack lists: every service's inputs carry the ``access`` to its host, from which the providers get an
``SshHost`` (``hosts.host_for``), and the bootstrap steps reach SQL and control sockets through that host's
control channel (an SSH forward). Placement is round-robin over the hosts unless the stack names a host per
service; each host has its own base directory, cluster owner and port catalog, and ports are chosen on the host.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import PurePosixPath
from typing import Any, Mapping, Sequence

import pulumi
from pulumi.dynamic import Resource

from components.dynamic import resource_options
from components.orchestrators.base import DatabaseRequest, Orchestrator, PlacedService, ProxyRequest
from components.orchestrators.cluster_owner import LocalClusterOwnerProvider
from components.orchestrators.onpremise_config import OnPremiseHost, OnPremiseSpec
from components.orchestrators.local import (
    DATABASE_OUTPUTS,
    PROXY_OUTPUTS,
    LocalDatabaseProvider,
    LocalHAProxyProvider,
    LocalPlacementProvider,
    _placed,
    fixed_ports_input,
)

class OnPremisePlacement(Resource, module="replstack/onpremise", name="Placement"):
    host: pulumi.Output[str]
    ports: pulumi.Output[dict]
    dir: pulumi.Output[str]

    def __init__(self, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions | None = None):
        super().__init__(LocalPlacementProvider(), name, {**props, "ports": None, "dir": None},
                         resource_options(opts, secret_outputs=["access"], legacy=False))


class OnPremiseDatabase(Resource, module="replstack/onpremise", name="MariaDBServer"):
    host: pulumi.Output[str]
    port: pulumi.Output[int]
    pid: pulumi.Output[int]
    running: pulumi.Output[bool]
    generation: pulumi.Output[int]

    def __init__(self, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions | None = None):
        super().__init__(LocalDatabaseProvider(), name, {**props, **DATABASE_OUTPUTS},
                         resource_options(opts, secret_outputs=["rootPassword", "access", "peers"], legacy=False))


class OnPremiseHAProxy(Resource, module="replstack/onpremise", name="HAProxy"):
    host: pulumi.Output[str]
    ports: pulumi.Output[dict]
    pid: pulumi.Output[int]
    running: pulumi.Output[bool]
    generation: pulumi.Output[int]

    def __init__(self, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions | None = None):
        super().__init__(LocalHAProxyProvider(), name, {**props, **PROXY_OUTPUTS},
                         resource_options(opts, secret_outputs=["access", "files"], legacy=False))


class OnPremiseClusterOwner(Resource, module="replstack/onpremise", name="ClusterOwner"):
    token: pulumi.Output[str]

    def __init__(self, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions | None = None):
        super().__init__(LocalClusterOwnerProvider(), name, {**props, "token": None},
                         resource_options(opts, secret_outputs=["access"], legacy=False))


class OnPremiseOrchestrator(Orchestrator):
    name = "onpremise"
    resource_note = ("it runs processes with data in directories of existing hosts: it sizes no container, mounts "
                     "no tmpfs and makes no filesystem or volume")
    resource_keys = {"disk.fs": ("directory",), "disk.type": ("directory",)}
    transport = "ssh"

    def __init__(self, cluster: str, spec: OnPremiseSpec, keep_data: bool, stack_identity: Mapping[str, str]):
        super().__init__(cluster)
        self.spec = spec
        self.keep_data = keep_data
        self.identity = dict(stack_identity)
        self.owners: dict[str, pulumi.Resource] = {}
        self._placed: list[str] = []
        self.sql_client = str(PurePosixPath(spec.client_bin_dir) / "mariadb")
        self.tools_dir = str(PurePosixPath(spec.client_bin_dir))
        self.server_binary = str(PurePosixPath(spec.mariadb_bin_dir) / "mariadbd")
        self.start_timeout = spec.start_timeout

    @property
    def runs_as_root(self) -> bool:
        return all(h.user == "root" or h.sudo for h in self.spec.hosts)

    def cluster_dir(self, host: OnPremiseHost) -> str:
        return str(PurePosixPath(host.base_dir) / self.cluster)

    def proxy_source_hosts(self) -> list[str]:
        """The hosts' addresses; for hosts on loopback addresses also the address the kernel sends loopback
        traffic from (127.0.0.1, ::1), which is what a server sees there."""
        sources = {h.address for h in self.spec.hosts}
        for host in self.spec.hosts:
            address = ipaddress.ip_address(host.address)
            if address.is_loopback:
                sources.add("::1" if address.version == 6 else "127.0.0.1")
        return sorted(sources)

    def claim(self, opts: pulumi.ResourceOptions) -> pulumi.Resource | None:
        for host in self.spec.hosts:
            self.owners[host.label] = OnPremiseClusterOwner(f"cluster-owner-{_slug(host.label)}", {
                "clusterDir": self.cluster_dir(host),
                "owner": self.identity,
                "keepData": self.keep_data,
                "stopTimeout": self.spec.stop_timeout,
                "access": host.access(),
            }, opts)
        return next(iter(self.owners.values()), None)

    def plan(self, services: Sequence[str]) -> None:
        self._placed = list(services)

    def _host_for_service(self, service: str) -> OnPremiseHost:
        """Database nodes go round-robin from the first host by their number (db1 on the first), proxies
        round-robin from the last host by their order: adding or removing nodes never moves a proxy, nor a
        proxy a node."""
        if service not in self._placed:
            self._placed.append(service)
        if NODE_NAME.fullmatch(service):
            return self.spec.host_of(service, int(service[2:]) - 1)
        proxies = [name for name in self._placed if not NODE_NAME.fullmatch(name)]
        return self.spec.host_of(service, -(proxies.index(service) + 1))

    def place(self, service: str, port_names: Sequence[str], opts: pulumi.ResourceOptions,
              fixed: Mapping[str, int] | None = None, fixed_by: str = "the stack") -> pulumi.Output[dict]:
        host = self._host_for_service(service)
        owner = self.owners.get(host.label)
        placement = OnPremisePlacement(f"{service}-placement", {
            "clusterDir": self.cluster_dir(host),
            "service": service,
            "host": host.address,
            "portNames": list(port_names),
            "access": host.access(),
            **fixed_ports_input(fixed, fixed_by),
        }, pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[owner] if owner else [])))
        return pulumi.Output.all(placement.host, placement.ports, placement.dir).apply(
            lambda v: {"host": v[0], "ports": v[1], "dir": v[2]})

    def _placement_input(self, service: str, placement: pulumi.Input[Mapping[str, Any]]) -> dict[str, Any]:
        host = self._host_for_service(service)
        return {"host": host.address, "dir": str(PurePosixPath(self.cluster_dir(host)) / service),
                "ports": pulumi.Output.from_input(placement).apply(lambda p: p["ports"])}

    def database(self, request: DatabaseRequest, opts: pulumi.ResourceOptions) -> PlacedService:
        host = self._host_for_service(request.service)
        placement = self._placement_input(request.service, request.placement)
        db = OnPremiseDatabase(request.service, {
            "service": request.service,
            "config": request.config,
            "settings": request.settings,
            "placement": placement,
            "binaries": {
                "server": self.server_binary,
                "install_db": str(PurePosixPath(self.tools_dir) / "mariadb-install-db"),
            },
            "rootUser": request.root_user,
            "rootPassword": request.root_password,
            "startTimeout": self.spec.start_timeout,
            "stopTimeout": self.spec.stop_timeout,
            "keepData": self.keep_data,
            "access": host.access(),
            "installPackages": self.spec.install_packages,
            # Not compared: where a new replica may be copied from, each with the access to its own host.
            "peers": [{"name": name, "role": role, "placement": self._placement_input(name, peer_placement),
                       "access": self._host_for_service(name).access()}
                      for name, (role, peer_placement) in (request.peers or {}).items()],
        }, opts)
        placed = _placed(db, placement, db.generation)
        placed.access = host.access()
        return placed

    def proxy(self, request: ProxyRequest, opts: pulumi.ResourceOptions) -> PlacedService:
        host = self._host_for_service(request.service)
        placement = self._placement_input(request.service, request.placement)
        props: dict[str, Any] = {
            "kind": request.kind,
            "config": request.config,
            "routes": request.routes,
            "placement": placement,
            "binary": self.spec.haproxy_binary,
            "startTimeout": self.spec.start_timeout,
            "stopTimeout": self.spec.stop_timeout,
            "access": host.access(),
            "installPackages": self.spec.install_packages,
        }
        if getattr(request, "files", None) is not None:
            props["files"] = request.files
        proxy = OnPremiseHAProxy(request.service, props, opts)
        placed = _placed(proxy, placement, proxy.generation)
        placed.access = host.access()
        return placed


_NAME_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789-"
NODE_NAME = re.compile(r"db[1-9][0-9]*")


def _slug(label: str) -> str:
    return "".join(c if c in _NAME_CHARS else "-" for c in label.lower()).strip("-") or "host"
