"""The ``kube`` orchestrator: the cluster as pulumi-kubernetes objects (the real provider, not a dynamic one).

The objects come from ``kube_objects`` (pure functions; see its docstring for the layout) with the configs the
configurator renders for every backend: my.cnf per node, haproxy.cfg and its health-check files per proxy.

Choices:

* **One StatefulSet per node**, each of one pod with its own PVC, rather than one StatefulSet of N pods: nodes
  differ (role, ``read_only``, server id, their own my.cnf), a scale-in must remove the node the spec removes
  and never the primary (a StatefulSet always removes its highest ordinal), and restarts follow the cluster's
  order (replicas first, the primary last, expressed in the resource graph) instead of the StatefulSet
  controller's. A preview of a node count change shows exactly the added or removed node's StatefulSet and
  ConfigMap; a memory change shows the changed StatefulSets and ConfigMaps.
* **Addresses are DNS names**: a node is ``<cluster>-dbK-0.<cluster>-db.<namespace>.svc.cluster.local``
  (the headless Service), a proxy is its Service's name. HAProxy resolves them when it starts.
* **Control channel**: the SQL bootstrap steps (replication, users, proxy sync) run in the engine, as on every
  backend, and reach a pod by ``kubectl exec`` through the API server with the stack's kubeconfig
  (``kube_channel.KubeHost``): the administrative socket inside the pod, relayed over the exec stream. It
  needs no Service, no open port and no Job image, and works wherever the API server is reachable. A stack may
  set ``bootstrap: false`` to lay out the objects only.
* A config change rolls the pod (its template carries a hash of the rendered files): settings that MariaDB
  could apply live are applied by a restart here.

Passwords live in one Secret (``<cluster>-credentials``) and in the proxies' check Secrets; pods reference them
(``secretKeyRef``, secret volumes), never inline them.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import pulumi
import pulumi_kubernetes as k8s

from components.configurator.haproxy import FILE_MODES
from components.orchestrators import kube_objects as objects
from components.orchestrators.base import DatabaseRequest, Orchestrator, PlacedService, ProxyRequest
from components.orchestrators.kube_config import KubeSpec


class KubeOrchestrator(Orchestrator):
    name = "kube"
    # A pod's addresses come from the cluster's network; a CNI attachment is asked for by annotation.
    network_keys = ("cni",)
    # The image of the database pods, and their data volume's size (the storage class makes the volume).
    resource_keys = {"image": None, "version": None, "disk.sizeGb": None, "sharedMemoryMb": None, "tmpfsMb": None}
    resource_note = "its data volumes come from kube.storageClass"
    transport = "kube"
    # Snapshots are VolumeSnapshots of the node's data volume, made by a CronJob (``snapshot_schedule``).
    own_snapshots = True

    def __init__(self, cluster: str, spec: KubeSpec, keep_data: bool, stack_identity: Mapping[str, str],
                 database: Any = None, proxies: Sequence[Any] = ()):
        super().__init__(cluster)
        self.spec = spec
        self.keep_data = keep_data
        self.identity = dict(stack_identity)
        self.names = objects.Names(cluster=cluster, namespace=spec.namespace or cluster, labels=spec.labels,
                                   annotations=spec.annotations, skip_await=spec.skip_await)
        self.database_spec = database
        self.proxy_specs = {p.name: p for p in proxies}
        self.sql_bootstrap = spec.bootstrap
        self._services: list[str] = []
        self._provider: k8s.Provider | None = None
        self._base: list[pulumi.Resource] = []
        self._credentials: k8s.core.v1.Secret | None = None
        self._roles: dict[str, str] = {}
        self._proxy_names: list[str] = []
        self._done: set[str] = set()

    @property
    def runs_as_root(self) -> bool:
        return False  # the image's entrypoint runs mariadbd as its own account

    def proxy_source_hosts(self) -> list[str]:
        """Pods get addresses from the cluster's pod network, unknown here: the check account is limited by its
        password and privileges (SLAVE MONITOR only), not by address."""
        return ["%"]

    def plan(self, services: Sequence[str]) -> None:
        self._services = list(services)

    # -- what every object shares ---------------------------------------------------------------------------
    def _opts(self, opts: pulumi.ResourceOptions, *depends: pulumi.Resource) -> pulumi.ResourceOptions:
        """Every object through this stack's provider, after the namespace."""
        return pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(
            provider=self._provider, depends_on=[*self._base, *depends]))

    def claim(self, opts: pulumi.ResourceOptions) -> pulumi.Resource | None:
        """The provider (which cluster, or the render directory), the namespace, the headless Service."""
        # ConfigMaps and Secrets are updated in place, not replaced: a replacement would create the new object
        # under the same name before deleting the old one, which the API server refuses. Pods still restart on
        # a config change, through the config hash in their template.
        args: dict[str, Any] = {"enable_server_side_apply": True, "enable_config_map_mutable": True,
                                "enable_secret_mutable": True}
        if self.spec.render_directory:
            args["render_yaml_to_directory"] = self.spec.render_directory
        if self.spec.kubeconfig is not None:
            args["kubeconfig"] = pulumi.Output.secret(self.spec.kubeconfig.get_secret_value())
        if self.spec.context:
            args["context"] = self.spec.context
        if not self.spec.create_namespace:
            args["namespace"] = self.names.namespace
        self._provider = k8s.Provider("kube", opts, **args)
        self._opts_for_clients = opts
        names = self.names
        if self.spec.create_namespace:
            ns = objects.namespace(names)
            # keepData keeps the namespace (deleting it would delete the data volumes in it).
            namespace = k8s.core.v1.Namespace("namespace", metadata=ns["metadata"], opts=pulumi.ResourceOptions.merge(
                self._opts(opts), pulumi.ResourceOptions(retain_on_delete=self.keep_data)))
            self._base.append(namespace)
        headless = objects.headless_service(names)
        k8s.core.v1.Service("db-headless", metadata=headless["metadata"], spec=headless["spec"], opts=self._opts(opts))
        return self._base[0] if self._base else self._provider

    def _credentials_secret(self, root_password: pulumi.Input[str], opts: pulumi.ResourceOptions) -> k8s.core.v1.Secret:
        if self._credentials is None:
            secret = pulumi.Output.from_input(root_password).apply(
                lambda pw: objects.credentials(self.names, pw))
            self._credentials = k8s.core.v1.Secret(
                "credentials",
                metadata=objects.credentials(self.names, "")["metadata"],
                type="Opaque",
                string_data=pulumi.Output.secret(secret.apply(lambda s: s["stringData"])),
                opts=self._opts(pulumi.ResourceOptions(parent=opts.parent)))
        return self._credentials

    # -- placement -------------------------------------------------------------------------------------------
    def place(self, service: str, port_names: Sequence[str], opts: pulumi.ResourceOptions,
              fixed: Mapping[str, int] | None = None, fixed_by: str = "the stack") -> pulumi.Output[dict]:
        """Known before anything exists: DNS names and fixed ports. Databases listen on every pod address,
        proxies too. Ports a stack fixes are not used here: every pod has its own address, so the object's own
        ports never clash (the preview says so)."""
        if fixed:
            pulumi.log.warn(f"{service}: {fixed_by} is ignored by the kube orchestrator (each pod has its own "
                            "address; Services use the standard ports)")
        if service in (self.database_spec.node_names() if self.database_spec else []) or "mysql" in port_names:
            return pulumi.Output.from_input({
                "host": self.names.pod_host(service), "ports": {"mysql": objects.MYSQL_PORT},
                "dir": objects.SERVICE_DIR, "extra": {"bind": "0.0.0.0"}})
        return pulumi.Output.from_input({
            "host": self.names.proxy_host(service),
            "ports": {name: objects.PROXY_PORTS[name] for name in port_names},
            "dir": objects.PROXY_DIR, "extra": {"bind": "0.0.0.0"}})

    def _access(self, service: str, container: str) -> dict[str, Any]:
        access: dict[str, Any] = {"transport": "kube", "namespace": self.names.namespace,
                                  "pod": f"{self.names.service(service)}-0" if container == "mariadb" else None,
                                  "selector": f"replstack.io/service={service},"
                                              f"app.kubernetes.io/instance={self.cluster}",
                                  "container": container}
        if self.spec.kubeconfig is not None:
            access["kubeconfig"] = pulumi.Output.secret(self.spec.kubeconfig.get_secret_value())
        if self.spec.context:
            access["context"] = self.spec.context
        return access

    # -- services ---------------------------------------------------------------------------------------------
    def database(self, request: DatabaseRequest, opts: pulumi.ResourceOptions) -> PlacedService:
        db = self.database_spec
        node = request.service
        role = "primary" if self._is_primary(request) else "replica"
        self._roles[node] = role
        credentials = self._credentials_secret(request.root_password, opts)
        config = pulumi.Output.from_input(request.config)
        cm = config.apply(lambda text: objects.node_config(self.names, node, role, text))
        config_map = k8s.core.v1.ConfigMap(f"{node}-config", metadata=cm["metadata"], data=cm["data"],
                                           opts=self._opts(opts))
        sts = config.apply(lambda text: objects.node_statefulset(
            self.names, node, role, my_cnf=text, image=db.container_image(self.spec.images.mariadb),
            pull_policy=self.spec.image_pull_policy, memory_mb=db.memory, cores=db.cores, disk_gb=db.disk_size,
            storage_class=self.spec.storage_class, keep_data=self.keep_data, cni=db.network.cni,
            shm_mb=db.shared_memory_mb, tmpfs_mb=db.tmpfs_mb))
        statefulset = k8s.apps.v1.StatefulSet(node, metadata=objects.workload_metadata(self.names, node, "database",
                                                                                       role), spec=sts["spec"],
                                              opts=self._opts(opts, config_map, credentials))
        self._handled(node)
        placement = pulumi.Output.from_input(request.placement)
        return PlacedService(resource=statefulset, host=placement.apply(lambda p: p["host"]),
                             ports=placement.apply(lambda p: p["ports"]),
                             generation=config.apply(lambda text: objects.digest(text)),
                             access=self._access(node, "mariadb"))

    def _is_primary(self, request: DatabaseRequest) -> bool:
        """The cluster tells each node its peers' roles: the node none of them calls primary is it."""
        return not any(role == "primary" for role, _ in (request.peers or {}).values())

    def proxy(self, request: ProxyRequest, opts: pulumi.ResourceOptions) -> PlacedService:
        proxy_spec = self.proxy_specs.get(request.service)
        memory, cores = (proxy_spec.memory, proxy_spec.cores) if proxy_spec else (128, 1)
        cni = proxy_spec.network.cni if proxy_spec else None
        name = request.service
        config = pulumi.Output.from_input(request.config)
        files = pulumi.Output.secret(pulumi.Output.from_input(request.files or {}))
        cm = config.apply(lambda text: objects.proxy_config(self.names, name, text))
        config_map = k8s.core.v1.ConfigMap(f"{name}-config", metadata=cm["metadata"], data=cm["data"],
                                           opts=self._opts(opts))
        check = objects.proxy_check_secret(self.names, name, {})
        check_secret = k8s.core.v1.Secret(f"{name}-check", metadata=check["metadata"], type="Opaque",
                                          string_data=files, opts=self._opts(opts))
        deployment = pulumi.Output.all(config, files).apply(lambda v: objects.proxy_deployment(
            self.names, name, haproxy_cfg=v[0], files=v[1], file_modes=FILE_MODES, image=self.spec.images.haproxy,
            pull_policy=self.spec.image_pull_policy, memory_mb=memory, cores=cores, cni=cni))
        workload = k8s.apps.v1.Deployment(name, metadata=objects.workload_metadata(self.names, name, "proxy"),
                                          spec=deployment["spec"],
                                          opts=self._opts(opts, config_map, check_secret))
        svc = objects.proxy_service(self.names, name)
        k8s.core.v1.Service(f"{name}-service", metadata=svc["metadata"], spec=svc["spec"], opts=self._opts(opts))
        self._proxy_names.append(name)
        self._handled(name)
        placement = pulumi.Output.from_input(request.placement)
        return PlacedService(resource=workload, host=placement.apply(lambda p: p["host"]),
                             ports=placement.apply(lambda p: p["ports"]),
                             generation=pulumi.Output.all(config, files).apply(
                                 lambda v: objects.digest(v[0], *v[1].values())),
                             access=self._access(name, "haproxy"))

    def _handled(self, service: str) -> None:
        self._done.add(service)
        if self._services and self._done >= set(self._services):
            self._client_services(self._opts_for_clients)

    def _client_services(self, opts: pulumi.ResourceOptions) -> None:
        """The client Services, once every node and proxy is known."""
        primary = next((n for n, r in self._roles.items() if r == "primary"), None)
        if primary is None:
            return
        replicas = [n for n, r in self._roles.items() if r == "replica"]
        for svc in objects.client_services(self.names, primary=primary, replicas=replicas,
                                           proxies=bool(self._proxy_names)):
            side = svc["metadata"]["labels"]["replstack.io/role"]
            k8s.core.v1.Service(f"{side}-service", metadata=svc["metadata"], spec=svc["spec"], opts=self._opts(opts))

    # -- snapshots --------------------------------------------------------------------------------------------
    def snapshot_schedule(self, node: str, opts: pulumi.ResourceOptions) -> pulumi.Resource | None:
        """database.snapshots: a CronJob (with its own account, allowed VolumeSnapshots in this namespace only)
        that snapshots ``node``'s data volume on the schedule and keeps the newest ``keep``. The cluster needs the
        CSI snapshot CRDs and a VolumeSnapshotClass (``kube.snapshotClass`` or its default)."""
        snapshots = self.database_spec.snapshots
        made: list[pulumi.Resource] = []
        for obj in objects.snapshot_account(self.names):
            kind = obj["kind"]
            args: dict[str, Any] = {"metadata": obj["metadata"]}
            if kind == "Role":
                resource_type, args["rules"] = k8s.rbac.v1.Role, obj["rules"]
            elif kind == "RoleBinding":
                resource_type, args["role_ref"], args["subjects"] = (k8s.rbac.v1.RoleBinding, obj["roleRef"],
                                                                     obj["subjects"])
            else:
                resource_type = k8s.core.v1.ServiceAccount
            made.append(resource_type(f"snapshots-{kind.lower()}", **args, opts=self._opts(opts)))
        job = objects.snapshot_cronjob(self.names, node, schedule=snapshots.schedule, keep=snapshots.keep,
                                       snapshot_class=self.spec.snapshot_class, image=self.spec.images.kubectl,
                                       pull_policy=self.spec.image_pull_policy)
        return k8s.batch.v1.CronJob("snapshots", metadata=job["metadata"], spec=job["spec"],
                                    opts=self._opts(opts, *made))
