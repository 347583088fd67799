"""replication-manager's provisioning keys (``prov-*``) that have no replstack key: each with why, and where it
belongs (a backend, a setting still to come, or nothing because replstack does it another way). A stack that sets
one fails its preview with that reason rather than as an unknown key; keys that do have a replstack key are
aliases (``components.spec.RM_ALIASES``), which win over this table.

Also the aliases that fan out to every proxy of the stack (``prov-proxy-*``), and the alias values that need a
translation (a comma-separated list)."""

from __future__ import annotations

from typing import Any

_OPENSVC = "the opensvc backend (not available in this version)"
_CONTAINERS = "container backends (kube: the replstack:kube section)"
_HOOKS = ("replication-manager's lifecycle hook scripts: replstack runs each step as a resource of the plan, "
          "with no hook")
_SPHINX = "the sphinx proxy kind: add {kind: sphinx} to replstack:proxies; its resources follow proxies[]"

REFUSED: dict[str, str] = {
    # Orchestration
    "prov-orchestrator-enable": "a list of the orchestrators replication-manager's GUI offers; replstack:orchestrator "
                                "names the one this stack uses",
    "prov-orchestrator-cluster": f"the cluster domain of service names when CNI is on: {_CONTAINERS}",
    "prov-orchestrator-deployment-upgrade-on-start": f"{_CONTAINERS}: a changed image is a previewed update",
    "prov-net-cni": "set database.network.cni (the attachment's name) instead of a switch",
    "prov-net-cni-cluster": "set database.network.cni (the attachment's name)",
    "prov-docker-daemon-private": _OPENSVC,
    "prov-docker-registry-credentials": _CONTAINERS,
    "prov-tls-server-ca": f"{_OPENSVC} (TLS files pushed to its collector)",
    "prov-tls-server-cert": f"{_OPENSVC} (TLS files pushed to its collector)",
    "prov-tls-server-key": f"{_OPENSVC} (TLS files pushed to its collector)",
    "prov-tls-server-ca-uuid": _OPENSVC,
    "prov-tls-server-cert-uuid": _OPENSVC,
    "prov-tls-server-key-uuid": _OPENSVC,
    "prov-object-allow-overwrite": f"{_OPENSVC}; replstack adopts an object only when it matches",
    "prov-net-docker-run-args": _CONTAINERS,
    "prov-app-docker-img": "application services: not provisioned by replstack",
    "prov-app-agents": "application services: not provisioned by replstack",
    "prov-app-tags": "application services: not provisioned by replstack",
    # Database service
    "prov-db-service-type": "the backend decides how a server runs (local and onpremise: packages and processes, "
                            "kube: containers)",
    "prov-db-agents": "the onpremise backend: onpremise.hosts and onpremise.placement",
    "prov-db-memory-shared-pct": "replstack's fixed memory split (README: database.memory); a buffer is set "
                                 "otherwise through database.settings",
    "prov-db-memory-threaded-pct": "replstack's fixed memory split (README: database.memory); set "
                                   "tmp_table_size, join/sort buffers through database.settings",
    "prov-db-disk-iops-latency": "innodb_write_io_threads: set it through database.settings",
    "prov-db-disk-docker-size": f"{_OPENSVC} (its private docker daemon's volume)",
    "prov-db-volume-data": f"{_OPENSVC} (volume pools)",
    "prov-db-volume-docker": f"{_OPENSVC} (volume pools)",
    "prov-db-apply-dynamic-config": "always on in replstack: dynamic settings are applied live, the others by a "
                                    "rolling restart; remove the key",
    "prov-db-force-write-config": "replstack always writes the my.cnf it renders (settings go through "
                                  "database.settings); remove the key",
    "prov-db-config-preserve": "replstack owns my.cnf: put hand-set values in database.settings",
    "prov-db-config-preserve-vars": "replstack owns my.cnf: put hand-set values in database.settings",
    "prov-db-binary-log-name": "replstack names the binary logs itself (a setting it manages)",
    "prov-db-binary-in-tarball": "the config tarball replication-manager serves: replstack pushes files itself",
    "prov-db-tarball-name": "the config tarball replication-manager serves: replstack pushes files itself",
    "prov-db-datadir-version": "replication-manager's legacy test datadir",
    "prov-db-load-sql": "bootstrap.initialLoad (a list of {sql: FILE} entries; replication-manager declares the "
                        "key but never reads it)",
    "prov-db-load-csv": "bootstrap.initialLoad (a list of {csv: FILE, table: DB.TABLE} entries; "
                        "replication-manager declares the key but never reads it)",
    "prov-db-compliance": "replication-manager's compliance module: replstack renders from its own templates",
    "prov-db-docker-run-args": _CONTAINERS,
    "prov-db-docker-run-args-limit": _CONTAINERS,
    "prov-db-jobs-docker-run-args": _CONTAINERS,
    "prov-db-start-fetch-config": "nodes fetching their config: replstack pushes it",
    "prov-db-bootstrap-script": _HOOKS,
    "prov-db-start-script": _HOOKS,
    "prov-db-stop-script": _HOOKS,
    "prov-db-cleanup-script": _HOOKS,
    # Proxy services
    "prov-proxy-service-type": "the backend decides how a proxy runs",
    "prov-proxy-agents": "the onpremise backend: onpremise.placement",
    "prov-proxy-agents-failover": f"{_OPENSVC} (failover proxy services over a zpool)",
    "prov-proxy-volume-data": f"{_OPENSVC} (volume pools)",
    "prov-proxy-route-addr": "a virtual IP given to the proxy service: no backend of this version gives one",
    "prov-proxy-route-port": "a virtual IP given to the proxy service: no backend of this version gives one",
    "prov-proxy-route-mask": "a virtual IP given to the proxy service: no backend of this version gives one",
    "prov-proxy-route-policy": "a virtual IP given to the proxy service: no backend of this version gives one",
    "prov-proxy-tags": "replstack picks a proxy's behaviour by its kind (replstack:proxies[].kind)",
    "prov-proxy-compliance": "replication-manager's compliance module: replstack renders from its own templates",
    "prov-proxy-docker-run-args": _CONTAINERS,
    "prov-proxy-start-fetch-config": "proxies fetching their config: replstack pushes it",
    "prov-proxy-docker-proxysql-img": f"{_CONTAINERS}; kube.images",
    "prov-proxy-docker-maxscale-img": f"{_CONTAINERS}; kube.images",
    "prov-proxy-docker-haproxy-img": f"{_CONTAINERS}; kube.images.haproxy",
    "prov-proxy-docker-mysqlrouter-img": f"{_CONTAINERS}; kube.images",
    "prov-proxy-docker-shardproxy-img": f"{_CONTAINERS}; kube.images",
    "prov-proxy-bootstrap-script": _HOOKS,
    "prov-proxy-start-script": _HOOKS,
    "prov-proxy-stop-script": _HOOKS,
    "prov-proxy-cleanup-script": _HOOKS,
    # Sphinx
    "prov-sphinx-docker-img": f"{_CONTAINERS}; kube.images",
    "prov-sphinx-tags": _SPHINX,
    "prov-sphinx-service-type": _SPHINX,
    "prov-sphinx-agents": "the onpremise backend: onpremise.placement",
    "prov-sphinx-memory": _SPHINX,
    "prov-sphinx-disk-size": _SPHINX,
    "prov-sphinx-cpu-cores": _SPHINX,
    "prov-sphinx-disk-fs": _SPHINX,
    "prov-sphinx-disk-pool": _SPHINX,
    "prov-sphinx-disk-type": _SPHINX,
    "prov-sphinx-disk-device": _SPHINX,
    "prov-sphinx-max-childrens": "the sphinx proxy kind renders searchd's settings itself",
    "prov-sphinx-reindex-schedule": "the sphinx proxy kind reindexes on every up",
}

# prov-proxy-* keys that set the same key of every proxy of the stack (where the proxy does not set it itself).
PROXY_ALIASES: dict[str, tuple[str, ...]] = {
    "prov-proxy-cpu-cores": ("cores",),
    "prov-proxy-memory": ("memory",),
    "prov-proxy-disk-size": ("diskSize",),
    "prov-proxy-net-iface": ("network", "iface"),
    "prov-proxy-net-mask": ("network", "netmask"),
    "prov-proxy-net-gateway": ("network", "gateway"),
    "prov-proxy-disk-fs": ("disk", "fs"),
    "prov-proxy-disk-pool": ("disk", "pool"),
    "prov-proxy-disk-type": ("disk", "type"),
    "prov-proxy-disk-device": ("disk", "device"),
}

# Aliases whose value replication-manager writes as one comma-separated string.
LIST_VALUED = ("prov-db-tags",)


def refusal(key: str) -> str:
    return f"replstack:{key}: replication-manager's key; no replstack key takes it ({REFUSED[key]})"


def as_list(value: Any) -> Any:
    """``"a,b"`` -> ``["a", "b"]``; a list stays as it is."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def apply_proxy_aliases(config: dict[str, Any], out: dict[str, Any]) -> list[str]:
    """Sets each given ``prov-proxy-*`` alias on every proxy entry of ``out`` that lacks it; returns problems."""
    problems: list[str] = []
    given = {k: v for k, v in config.items() if k in PROXY_ALIASES}
    if not given:
        return problems
    proxies = out.get("proxies")
    if not isinstance(proxies, list) or not proxies:
        return [f"replstack:{k}: sets every proxy's {'.'.join(PROXY_ALIASES[k])}, and this stack has no "
                "replstack:proxies" for k in given]
    updated = []
    for entry in proxies:
        if not isinstance(entry, dict):
            updated.append(entry)
            continue
        entry = {**entry}
        for key, value in given.items():
            path = PROXY_ALIASES[key]
            target = entry
            for part in path[:-1]:
                section = target.get(part)
                section = dict(section) if isinstance(section, dict) else {}
                target[part] = section
                target = section
            target.setdefault(path[-1], value)
        updated.append(entry)
    out["proxies"] = updated
    return problems
