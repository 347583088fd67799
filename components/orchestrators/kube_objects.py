"""The Kubernetes objects of a replstack cluster, as plain dicts (the API's own field names): pure functions from
names, resources and rendered files to objects, with no I/O and no Pulumi, so that they are checked without a
cluster. ``kube.py`` turns each into a pulumi-kubernetes resource.

Layout, for a cluster ``C`` in namespace ``N``:

* ``C-credentials`` (Secret): the root password; pods read it through ``secretKeyRef``, never inlined.
* per node ``dbK``: ``C-dbK-config`` (ConfigMap, the rendered my.cnf) and ``C-dbK`` (StatefulSet of one pod,
  ``C-dbK-0``, with its data PVC ``data-C-dbK-0``). All nodes share the headless Service ``C-db``, which gives
  each pod a stable name: ``C-dbK-0.C-db.N.svc.cluster.local``.
* per proxy ``P``: ``C-P-config`` (ConfigMap, haproxy.cfg), ``C-P-check`` (Secret: the health-check command and
  its option file with the check account's password), ``C-P`` (Deployment) and ``C-P`` (Service: write, read and
  stats ports).
* ``C-write`` and ``C-read`` (Services): what clients use; through the proxies when there are any, else straight
  to the primary (write) and the replicas (read).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Mapping

# Ports inside the pods: each pod has its own address, so they are fixed.
MYSQL_PORT = 3306
PROXY_PORTS = {"write": 3306, "read": 3307, "stats": 8404, "admin": 9999}  # admin: leased, nothing listens
# Where a service's files live in its container (the placement's directory): the data volume of a node, an
# emptyDir of a proxy (its files copied there by an init container, with their modes).
SERVICE_DIR = "/var/lib/replstack"
PROXY_DIR = "/run/replstack"
MOUNTED_CONFIG = "/etc/replstack"
# The server image's OS account (its entrypoint runs mariadbd as it) and HAProxy's.
MYSQL_UID = 999
HAPROXY_UID = 99
PASSWORD_KEYS = {"root": "root-password"}
SKIP_AWAIT = "pulumi.com/skipAwait"


@dataclass(frozen=True)
class Names:
    """Every name and label of one cluster's objects."""

    cluster: str
    namespace: str
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    skip_await: bool = False

    @property
    def credentials(self) -> str:
        return f"{self.cluster}-credentials"

    @property
    def headless(self) -> str:
        return f"{self.cluster}-db"

    def service(self, service: str) -> str:
        return f"{self.cluster}-{service}"

    def pod_host(self, node: str) -> str:
        """The stable DNS name of a node's pod (its StatefulSet's only pod, through the headless Service)."""
        return f"{self.service(node)}-0.{self.headless}.{self.namespace}.svc.cluster.local"

    def proxy_host(self, proxy: str) -> str:
        return f"{self.service(proxy)}.{self.namespace}.svc.cluster.local"

    def selector(self, component: str, **extra: str) -> dict[str, str]:
        return {"app.kubernetes.io/instance": self.cluster, "app.kubernetes.io/component": component, **extra}

    def metadata(self, name: str, component: str, *, role: str | None = None, service: str | None = None,
                 annotations: Mapping[str, str] | None = None, namespaced: bool = True) -> dict[str, Any]:
        """Labels say which cluster, which part and which role; annotations carry the stack's own and, for
        workloads on a cluster without nodes, the skip-await marker."""
        labels = {**self.labels, "app.kubernetes.io/name": "replstack", "app.kubernetes.io/instance": self.cluster,
                  "app.kubernetes.io/component": component, "app.kubernetes.io/managed-by": "replstack",
                  "replstack.io/cluster": self.cluster}
        if service:
            labels["replstack.io/service"] = service
        if role:
            labels["replstack.io/role"] = role
        meta: dict[str, Any] = {"name": name, "labels": labels}
        if namespaced:
            meta["namespace"] = self.namespace
        notes = {**self.annotations, **(annotations or {})}
        if notes:
            meta["annotations"] = notes
        return meta

    def await_annotations(self) -> dict[str, str]:
        return {SKIP_AWAIT: "true"} if self.skip_await else {}


def digest(*texts: str) -> str:
    """A short hash of rendered files: a pod template annotation, so that a config change rolls the pod."""
    h = hashlib.sha256()
    for text in texts:
        h.update(text.encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


def resources(memory_mb: int, cores: int) -> dict[str, Any]:
    """Requests equal to limits (the Guaranteed class: a database is not the first to be evicted), from the
    spec or its plan: the rendered buffers are sized from the same memory."""
    amounts = {"cpu": str(cores), "memory": f"{memory_mb}Mi"}
    return {"requests": dict(amounts), "limits": dict(amounts)}


def namespace(names: Names) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": names.metadata(names.namespace, "namespace", namespaced=False)}


def credentials(names: Names, root_password: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": names.metadata(names.credentials, "credentials"),
            "stringData": {PASSWORD_KEYS["root"]: root_password}}


def headless_service(names: Names) -> dict[str, Any]:
    """The nodes' DNS names; published before the pods are ready, since replication and the proxies' checks
    decide readiness themselves."""
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": names.metadata(names.headless, "database", annotations=names.await_annotations()),
            "spec": {"clusterIP": "None", "publishNotReadyAddresses": True,
                     "selector": names.selector("database"),
                     "ports": [{"name": "mysql", "port": MYSQL_PORT, "targetPort": "mysql", "protocol": "TCP"}]}}


def workload_metadata(names: Names, service: str, component: str, role: str | None = None) -> dict[str, Any]:
    """A StatefulSet's or Deployment's own metadata: known before any rendered file is, so that a preview (and
    the policy pack) sees which cluster, component and role it is even while its config is still unknown."""
    return names.metadata(names.service(service), component, role=role, service=service,
                          annotations=names.await_annotations())


def node_config(names: Names, node: str, role: str, my_cnf: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": names.metadata(f"{names.service(node)}-config", "database", role=role, service=node),
            "data": {"my.cnf": my_cnf}}


def _tcp_probe(port: str, *, period: int, failures: int, delay: int = 0) -> dict[str, Any]:
    probe: dict[str, Any] = {"tcpSocket": {"port": port}, "periodSeconds": period, "failureThreshold": failures,
                             "timeoutSeconds": 5}
    if delay:
        probe["initialDelaySeconds"] = delay
    return probe


# The pod annotation a CNI meta-plugin (Multus) reads for extra network attachments.
NETWORKS_ANNOTATION = "k8s.v1.cni.cncf.io/networks"


def _networks(cni: str | None) -> dict[str, str]:
    return {NETWORKS_ANNOTATION: cni} if cni else {}


def node_statefulset(names: Names, node: str, role: str, *, my_cnf: str, image: str, pull_policy: str,
                     memory_mb: int, cores: int, disk_gb: int, storage_class: str | None,
                     keep_data: bool = False, cni: str | None = None, shm_mb: int | None = None,
                     tmpfs_mb: int | None = None) -> dict[str, Any]:
    """One StatefulSet per node, of one pod: each node has its own role, config and server id, a scale-in
    removes the node the spec removes (never the primary), and restarts follow the cluster's order (replicas
    first, primary last) rather than a StatefulSet's ordinal order. ``shm_mb`` sizes /dev/shm and ``tmpfs_mb``
    puts the server's tmpdir on a memory volume of that size (both counted in the pod's memory)."""
    name = names.service(node)
    config_map = f"{name}-config"
    selector = names.selector("database", **{"replstack.io/service": node})
    claim: dict[str, Any] = {
        "metadata": {"name": "data", "labels": selector},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": f"{disk_gb}Gi"}}}}
    if storage_class:
        claim["spec"]["storageClassName"] = storage_class
    template_meta = names.metadata(name, "database", role=role, service=node,
                                   annotations={"replstack.io/config-hash": digest(my_cnf), **_networks(cni)})
    del template_meta["name"], template_meta["namespace"]
    return {
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": workload_metadata(names, node, "database", role),
        "spec": {
            "serviceName": names.headless,
            "replicas": 1,
            "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": selector},
            "updateStrategy": {"type": "RollingUpdate"},
            # keepData keeps the data volume when the node goes.
            "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain" if keep_data else "Delete",
                                                     "whenScaled": "Retain"},
            "template": {
                "metadata": template_meta,
                "spec": {
                    "terminationGracePeriodSeconds": 120,
                    "securityContext": {"fsGroup": MYSQL_UID},
                    "initContainers": [{
                        "name": "prepare",
                        "image": image,
                        "imagePullPolicy": pull_policy,
                        # The datadir and tmpdir the rendered my.cnf names, on the data volume, owned by the
                        # server's account.
                        "command": ["sh", "-c", f"mkdir -p {SERVICE_DIR}/data {SERVICE_DIR}/tmp && "
                                    f"chown -R {MYSQL_UID}:{MYSQL_UID} {SERVICE_DIR} && chmod 0700 {SERVICE_DIR}"],
                        "volumeMounts": [{"name": "data", "mountPath": SERVICE_DIR}],
                        "resources": resources(64, 1),
                    }],
                    "containers": [{
                        "name": "mariadb",
                        "image": image,
                        "imagePullPolicy": pull_policy,
                        "env": [{"name": "MARIADB_ROOT_PASSWORD", "valueFrom": {"secretKeyRef": {
                            "name": names.credentials, "key": PASSWORD_KEYS["root"]}}}],
                        "ports": [{"name": "mysql", "containerPort": MYSQL_PORT, "protocol": "TCP"}],
                        "resources": resources(memory_mb, cores),
                        # A crash-recovering server may take long to open its port; once open it is checked often.
                        "startupProbe": _tcp_probe("mysql", period=5, failures=120),
                        "readinessProbe": _tcp_probe("mysql", period=5, failures=3),
                        "livenessProbe": _tcp_probe("mysql", period=10, failures=6),
                        "volumeMounts": [
                            {"name": "data", "mountPath": SERVICE_DIR},
                            {"name": "config", "mountPath": "/etc/mysql/conf.d/replstack.cnf", "subPath": "my.cnf",
                             "readOnly": True},
                            *_memory_mounts(shm_mb, tmpfs_mb),
                        ],
                    }],
                    "volumes": [{"name": "config", "configMap": {"name": config_map}},
                                *_memory_volumes(shm_mb, tmpfs_mb)],
                },
            },
            "volumeClaimTemplates": [claim],
        },
    }


def _memory_volumes(shm_mb: int | None, tmpfs_mb: int | None) -> list[dict[str, Any]]:
    """database.sharedMemoryMb and database.tmpfsMb as memory-backed volumes (none when unset)."""
    return [{"name": name, "emptyDir": {"medium": "Memory", "sizeLimit": f"{size}Mi"}}
            for name, size in (("shm", shm_mb), ("tmpfs", tmpfs_mb)) if size is not None]


def _memory_mounts(shm_mb: int | None, tmpfs_mb: int | None) -> list[dict[str, Any]]:
    mounts = [{"name": "shm", "mountPath": "/dev/shm"}] if shm_mb is not None else []
    if tmpfs_mb is not None:
        mounts.append({"name": "tmpfs", "mountPath": f"{SERVICE_DIR}/tmp"})  # the tmpdir my.cnf names
    return mounts


def proxy_config(names: Names, proxy: str, haproxy_cfg: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": names.metadata(f"{names.service(proxy)}-config", "proxy", service=proxy),
            "data": {"haproxy.cfg": haproxy_cfg}}


def proxy_check_secret(names: Names, proxy: str, files: Mapping[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": names.metadata(f"{names.service(proxy)}-check", "proxy", service=proxy),
            "stringData": dict(files)}


def proxy_deployment(names: Names, proxy: str, *, haproxy_cfg: str, files: Mapping[str, str], file_modes:
                     Mapping[str, int], image: str, pull_policy: str, memory_mb: int, cores: int,
                     cni: str | None = None) -> dict[str, Any]:
    """HAProxy with its config, health-check command and option file copied (with their modes) into a private
    directory: it writes its pid file and runtime socket beside them."""
    name = names.service(proxy)
    selector = names.selector("proxy", **{"replstack.io/service": proxy})
    copies = ["cp /config/haproxy.cfg ."] + [f"cp /check/{f} . && chmod {oct(file_modes.get(f, 0o600))[2:]} {f}"
                                            for f in sorted(files)]
    template_meta = names.metadata(name, "proxy", service=proxy,
                                   annotations={"replstack.io/config-hash": digest(haproxy_cfg, *files.values()),
                                                **_networks(cni)})
    del template_meta["name"], template_meta["namespace"]
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": workload_metadata(names, proxy, "proxy"),
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": selector},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {
                "metadata": template_meta,
                "spec": {
                    "securityContext": {"runAsNonRoot": True, "runAsUser": HAPROXY_UID, "runAsGroup": HAPROXY_UID},
                    "initContainers": [{
                        "name": "files",
                        "image": image,
                        "imagePullPolicy": pull_policy,
                        "command": ["sh", "-c", f"cd {PROXY_DIR} && " + " && ".join(copies)],
                        "volumeMounts": [{"name": "run", "mountPath": PROXY_DIR},
                                         {"name": "config", "mountPath": "/config", "readOnly": True},
                                         {"name": "check", "mountPath": "/check", "readOnly": True}],
                        "resources": resources(32, 1),
                    }],
                    "containers": [{
                        "name": "haproxy",
                        "image": image,
                        "imagePullPolicy": pull_policy,
                        "command": ["haproxy", "-W", "-db", "-f", f"{PROXY_DIR}/haproxy.cfg"],
                        "ports": [{"name": port, "containerPort": number, "protocol": "TCP"}
                                  for port, number in PROXY_PORTS.items() if port != "admin"],
                        "resources": resources(memory_mb, cores),
                        "readinessProbe": _tcp_probe("write", period=5, failures=3),
                        "livenessProbe": {"httpGet": {"path": "/", "port": "stats"}, "periodSeconds": 10,
                                          "failureThreshold": 3, "timeoutSeconds": 5},
                        "volumeMounts": [{"name": "run", "mountPath": PROXY_DIR}],
                    }],
                    "volumes": [{"name": "run", "emptyDir": {"medium": "Memory", "sizeLimit": "16Mi"}},
                                {"name": "config", "configMap": {"name": f"{name}-config"}},
                                {"name": "check", "secret": {"secretName": f"{name}-check", "defaultMode": 0o400}}],
                },
            },
        },
    }


def proxy_service(names: Names, proxy: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": names.metadata(names.service(proxy), "proxy", service=proxy,
                                       annotations=names.await_annotations()),
            "spec": {"type": "ClusterIP",
                     "selector": names.selector("proxy", **{"replstack.io/service": proxy}),
                     "ports": [{"name": port, "port": number, "targetPort": port, "protocol": "TCP"}
                               for port, number in PROXY_PORTS.items() if port != "admin"]}}


def client_services(names: Names, *, primary: str, replicas: list[str], proxies: bool) -> list[dict[str, Any]]:
    """``C-write`` and ``C-read`` on port 3306: through every proxy when there are proxies; otherwise straight
    to the primary's pod (write) and the replicas' pods (read; the primary's without replicas)."""
    out = []
    for side in ("write", "read"):
        if proxies:
            selector, target = names.selector("proxy"), side
        elif side == "write":
            selector, target = names.selector("database", **{"replstack.io/service": primary}), "mysql"
        else:
            selector = names.selector("database", **({"replstack.io/role": "replica"} if replicas else
                                                    {"replstack.io/service": primary}))
            target = "mysql"
        out.append({"apiVersion": "v1", "kind": "Service",
                    "metadata": names.metadata(names.service(side), "client", role=side,
                                               annotations=names.await_annotations()),
                    "spec": {"type": "ClusterIP", "selector": selector,
                             "ports": [{"name": "mysql", "port": MYSQL_PORT, "targetPort": target,
                                        "protocol": "TCP"}]}})
    return out


# -- snapshots: VolumeSnapshots of one node's data volume, made on a schedule by a CronJob ---------------------
SNAPSHOT_API = "snapshot.storage.k8s.io"


def snapshot_account(names: Names) -> list[dict[str, Any]]:
    """The CronJob's own account, allowed to make, list and delete VolumeSnapshots in this namespace only."""
    name = names.service("snapshots")
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": names.metadata(name, "snapshots")},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": names.metadata(name, "snapshots"),
         "rules": [{"apiGroups": [SNAPSHOT_API], "resources": ["volumesnapshots"],
                    "verbs": ["create", "get", "list", "delete"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
         "metadata": names.metadata(name, "snapshots"),
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
         "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": names.namespace}]},
    ]


def snapshot_script(names: Names, node: str, keep: int, snapshot_class: str | None) -> str:
    """Makes a VolumeSnapshot of the node's PVC named by the time, then deletes all but the newest ``keep`` of
    this node's (oldest first). Every value is a name the spec validated (DNS labels, a number)."""
    claim = f"data-{names.service(node)}-0"
    labels = f"replstack.io/cluster: {names.cluster}\n    replstack.io/service: {node}\n" \
             f"    app.kubernetes.io/component: snapshot"
    source = f"  volumeSnapshotClassName: {snapshot_class}\n" if snapshot_class else ""
    selector = f"replstack.io/cluster={names.cluster},replstack.io/service={node}"
    return "\n".join([
        "set -eu",
        f'name="{names.service(node)}-$(date -u +%Y%m%d-%H%M%S)"',
        "kubectl apply -f - <<EOF",
        f"apiVersion: {SNAPSHOT_API}/v1",
        "kind: VolumeSnapshot",
        "metadata:",
        "  name: $name",
        f"  namespace: {names.namespace}",
        "  labels:",
        f"    {labels}",
        "spec:",
        source + f"  source:\n    persistentVolumeClaimName: {claim}",
        "EOF",
        # Names end with the time: newest first by name, and all but the first ``keep`` deleted.
        f"kubectl get volumesnapshots -n {names.namespace} -l {selector} -o name | sort -r | tail -n +{keep + 1} "
        f"| xargs -r kubectl delete -n {names.namespace}",
        "",
    ])


def snapshot_cronjob(names: Names, node: str, *, schedule: str, keep: int, snapshot_class: str | None,
                     image: str, pull_policy: str) -> dict[str, Any]:
    """``manual`` keeps the CronJob suspended: ``kubectl create job --from=cronjob/<name>`` takes one now."""
    name = names.service("snapshots")
    template_meta = names.metadata(name, "snapshots", service=node)
    del template_meta["name"], template_meta["namespace"]
    return {
        "apiVersion": "batch/v1", "kind": "CronJob",
        "metadata": names.metadata(name, "snapshots", service=node),
        "spec": {
            "schedule": "@daily" if schedule == "manual" else schedule,
            "suspend": schedule == "manual",
            "concurrencyPolicy": "Forbid",
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {"spec": {"backoffLimit": 2, "template": {
                "metadata": template_meta,
                "spec": {
                    "serviceAccountName": name,
                    "restartPolicy": "Never",
                    "securityContext": {"runAsNonRoot": True, "runAsUser": 65534},
                    "containers": [{
                        "name": "snapshot",
                        "image": image,
                        "imagePullPolicy": pull_policy,
                        "command": ["sh", "-c", snapshot_script(names, node, keep, snapshot_class)],
                        "resources": resources(64, 1),
                    }],
                }}}},
        },
    }
