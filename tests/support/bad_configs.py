"""Malformed stack settings and what the error must say about each: the key path and what is allowed.
Shared by the fast spec tests and the integration test that runs them through ``pulumi up``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class BadConfig:
    id: str
    config: dict[str, Any]          # replstack settings, without the namespace
    expected: tuple[str, ...]       # fragments the error must contain


BASE: dict[str, Any] = {"database": {"nodes": 3}, "proxies": [{"kind": "haproxy"}]}


def with_(**changes: Any) -> dict[str, Any]:
    config = {k: (dict(v) if isinstance(v, dict) else list(v)) for k, v in BASE.items()}
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key] = {**config[key], **value}
        else:
            config[key] = value
    return config


BAD_CONFIGS: list[BadConfig] = [
    BadConfig("unknown-orchestrator", with_(orchestrator="openstack"),
              ("replstack:orchestrator", "'openstack'", "allowed values", "'local'", "'kube'")),
    BadConfig("orchestrator-not-available", with_(orchestrator="kube"),
              ("replstack:orchestrator", "'kube'", "available: local")),
    BadConfig("zero-nodes", with_(database={"nodes": 0}), ("replstack:database.nodes", "0", ">= 1")),
    BadConfig("nodes-not-a-number", with_(database={"nodes": "three"}),
              ("replstack:database.nodes", "'three'", "integer")),
    BadConfig("memory-below-128", with_(database={"memory": 64}), ("replstack:database.memory", "64", ">= 128")),
    BadConfig("unknown-flavor", with_(database={"flavor": "postgres"}),
              ("replstack:database.flavor", "'postgres'", "'mariadb'", "'mysql'", "'percona'")),
    BadConfig("flavor-not-on-local", with_(database={"flavor": "mysql"}),
              ("replstack:database.flavor", "'mysql'", "supported: mariadb")),
    BadConfig("typo-in-database-key", with_(database={"nodez": 3}),
              ("replstack:database.nodez", "unknown key", "nodes", "memory")),
    BadConfig("unknown-top-level-key", with_(databases={"nodes": 3}),
              ("replstack:databases", "unknown key", "database", "proxies", "orchestrator")),
    BadConfig("unknown-proxy-kind", with_(proxies=[{"kind": "nginx"}]),
              ("replstack:proxies[0].kind", "'nginx'", "'haproxy'", "'proxysql'", "'maxscale'")),
    BadConfig("proxy-not-on-local", with_(proxies=[{"kind": "proxysql"}]),
              ("replstack:proxies[0].kind", "'proxysql'", "supported: haproxy")),
    BadConfig("proxy-without-kind", with_(proxies=[{"name": "front"}]),
              ("replstack:proxies[0].kind", "missing")),
    BadConfig("unknown-tag", with_(database={"tags": ["fastest"]}),
              ("replstack:database.tags", "'fastest'", "allowed", "semisync", "smallredolog")),
    BadConfig("preferred-primary-not-a-node", with_(database={"nodes": 3, "preferredPrimary": "db9"}),
              ("replstack:database.preferredPrimary", "'db9'", "db1, db2, db3")),
    BadConfig("unknown-topology", with_(bootstrap={"topology": "ring"}),
              ("replstack:bootstrap.topology", "'ring'", "'master-slave'")),
    BadConfig("bind-address-not-an-ip", with_(local={"bindAddress": "localhost-ish"}),
              ("replstack:local.bindAddress", "'localhost-ish'", "IP address")),
    BadConfig("serialized-not-a-bool", with_(serialized="maybe"), ("replstack:serialized", "'maybe'", "boolean")),
    BadConfig("proxy-sync-timeout-zero", with_(bootstrap={"proxySyncTimeout": 0}),
              ("replstack:bootstrap.proxySyncTimeout", ">= 1")),
    BadConfig("max-connections-too-low", with_(database={"maxConnections": 5}),
              ("replstack:database.maxConnections", "5", ">= 10")),
    BadConfig("duplicate-proxy-names", with_(proxies=[{"kind": "haproxy", "name": "front"},
                                                      {"kind": "haproxy", "name": "front"}]),
              ("replstack:proxies", "duplicate", "front")),
    BadConfig("proxy-named-like-a-node", with_(proxies=[{"kind": "haproxy", "name": "db2"}]),
              ("replstack:proxies", "db2", "database node names")),
    BadConfig("rm-alias-and-key-both-set", with_(database={"memory": 512}, **{"prov-db-memory": 1024}),
              ("replstack:prov-db-memory", "database.memory", "only one")),
    BadConfig("bad-proxy-name", with_(proxies=[{"kind": "haproxy", "name": "Front End"}]),
              ("replstack:proxies[0].name", "'Front End'", "lower-case")),
]
