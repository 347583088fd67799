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
    BadConfig("orchestrator-not-available", with_(orchestrator="opensvc"),
              ("replstack:orchestrator", "'opensvc'", "available: local")),
    BadConfig("zero-nodes", with_(database={"nodes": 0}), ("replstack:database.nodes", "0", ">= 1")),
    BadConfig("nodes-not-a-number", with_(database={"nodes": "three"}),
              ("replstack:database.nodes", "'three'", "integer")),
    BadConfig("memory-below-128", with_(database={"memory": 64}), ("replstack:database.memory", "64", ">= 128")),
    BadConfig("unknown-flavor", with_(database={"flavor": "postgres"}),
              ("replstack:database.flavor", "'postgres'", "'mariadb'", "'mysql'", "'percona'")),
    BadConfig("mysql-without-its-binary", with_(database={"flavor": "mysql"}),
              ("replstack:database.binaryDir", "mysql flavor runs the mysqld of database.binaryDir",
               "allowed: a directory holding mysqld")),
    BadConfig("typo-in-database-key", with_(database={"nodez": 3}),
              ("replstack:database.nodez", "unknown key", "nodes", "memory")),
    BadConfig("unknown-top-level-key", with_(databases={"nodes": 3}),
              ("replstack:databases", "unknown key", "database", "proxies", "orchestrator")),
    BadConfig("unknown-proxy-kind", with_(proxies=[{"kind": "nginx"}]),
              ("replstack:proxies[0].kind", "'nginx'", "'haproxy'", "'proxysql'", "'maxscale'")),
    BadConfig("proxy-not-on-local", with_(proxies=[{"kind": "proxysql"}]),
              ("replstack:proxies[0].kind", "'proxysql'", "needs the proxysql binary on PATH",
               "haproxy, shardproxy, sphinx")),
    BadConfig("proxy-without-kind", with_(proxies=[{"name": "front"}]),
              ("replstack:proxies[0].kind", "missing")),
    BadConfig("unknown-tag", with_(database={"tags": ["fastest"]}),
              ("replstack:database.tags", "'fastest'", "allowed", "semisync", "smallredolog")),
    BadConfig("preferred-primary-not-a-node", with_(database={"nodes": 3, "preferredPrimary": "db9"}),
              ("replstack:database.preferredPrimary", "'db9'", "db1, db2, db3")),
    BadConfig("unknown-topology", with_(bootstrap={"topology": "star"}),
              ("replstack:bootstrap.topology", "'star'", "'master-slave'", "'ring'")),
    BadConfig("ring-of-two", with_(database={"nodes": 2}, bootstrap={"topology": "ring"}),
              ("replstack:database.nodes", "ring needs 3 nodes or more")),
    BadConfig("multi-master-of-three", with_(bootstrap={"topology": "multi-master"}),
              ("replstack:database.nodes", "multi-master", "allowed: 2")),
    BadConfig("multi-tier-of-two", with_(database={"nodes": 2}, bootstrap={"topology": "multi-tier-slave"}),
              ("replstack:database.nodes", "relay", "allowed: 3 or more")),
    BadConfig("semi-sync-on-a-ring", with_(bootstrap={"topology": "ring", "semiSync": True}),
              ("replstack:bootstrap.semiSync", "ring", "allowed: false")),
    BadConfig("both-writable-without-multi-master", with_(bootstrap={"multiMasterWritable": "both"}),
              ("replstack:bootstrap.multiMasterWritable", "multi-master topology only")),
    BadConfig("bind-address-not-an-ip", with_(local={"bindAddress": "localhost-ish"}),
              ("replstack:local.bindAddress", "'localhost-ish'", "IP address")),
    BadConfig("bind-address-not-on-this-host", with_(local={"bindAddress": "10.1.2.3"}),
              ("replstack:local.bindAddress", "'10.1.2.3'", "not an address of this host", "allowed:", "127.0.0.0/8")),
    BadConfig("bind-address-wildcard", with_(local={"bindAddress": "0.0.0.0"}),
              ("replstack:local.bindAddress", "'0.0.0.0'", "every interface", "local.allowWildcardBind")),
    BadConfig("bind-address-ipv6-wildcard", with_(local={"bindAddress": "::"}),
              ("replstack:local.bindAddress", "'::'", "every interface", "local.allowWildcardBind")),
    BadConfig("max-replica-lag-negative", with_(bootstrap={"maxReplicaLag": -1}),
              ("replstack:bootstrap.maxReplicaLag", "-1", ">= 0")),
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
    # my.cnf injection and unsafe server settings.
    BadConfig("setting-value-starts-a-section",
              with_(database={"settings": {"innodb_buffer_pool_size": "128M\n[mysqld]\nskip-grant-tables"}}),
              ("replstack:database.settings.innodb_buffer_pool_size", "'128M\\n[mysqld]\\nskip-grant-tables'",
               "line break", "allowed: one line")),
    BadConfig("setting-skip-grant-tables", with_(database={"settings": {"skip_grant_tables": 1}}),
              ("replstack:database.settings.skip_grant_tables", "'1'", "any login", "allowUnsafeSettings")),
    BadConfig("setting-loose-skip-grant-tables", with_(database={"settings": {"loose-skip-grant-tables": "ON"}}),
              ("replstack:database.settings.loose-skip-grant-tables", "'ON'", "allowUnsafeSettings")),
    BadConfig("setting-abbreviated-option-name", with_(database={"settings": {"skip-grant-tab": 1}}),
              ("replstack:database.settings.skip-grant-tab", "not an option name", "whole option names")),
    BadConfig("setting-unknown-option", with_(database={"settings": {"innodb_bufer_pool_size": "1G"}}),
              ("replstack:database.settings.innodb_bufer_pool_size", "not an option name",
               "innodb_buffer_pool_size")),
    BadConfig("setting-init-file", with_(database={"settings": {"init_file": "/tmp/grant-all.sql"}}),
              ("replstack:database.settings.init_file", "'/tmp/grant-all.sql'", "full privileges",
               "allowUnsafeSettings")),
    BadConfig("setting-plugin-library-not-shipped", with_(database={"settings": {"plugin_load_add": "../../tmp/x.so"}}),
              ("replstack:database.settings.plugin_load_add", "'../../tmp/x.so'", "not a plugin library",
               "server_audit")),
    BadConfig("setting-secure-file-priv-emptied", with_(database={"settings": {"secure_file_priv": ""}}),
              ("replstack:database.settings.secure_file_priv", "''", "FILE", "allowUnsafeSettings")),
    BadConfig("setting-local-infile-on", with_(database={"settings": {"local_infile": 1}}),
              ("replstack:database.settings.local_infile", "'1'", "LOAD DATA LOCAL", "allowUnsafeSettings")),
    BadConfig("setting-log-file-outside-the-node", with_(database={"settings": {"general_log_file": "/etc/cron.d/x"}}),
              ("replstack:database.settings.general_log_file", "'/etc/cron.d/x'", "outside the node",
               "allowUnsafeSettings")),
    BadConfig("setting-bind-address-is-managed", with_(database={"settings": {"bind-address": "0.0.0.0"}}),
              ("replstack:database.settings.bind-address", "'0.0.0.0'", "orchestrator", "local.bindAddress")),
    BadConfig("allow-unsafe-lists-a-safe-setting", with_(database={"allowUnsafeSettings": ["max_connections"]}),
              ("replstack:database.allowUnsafeSettings[0]", "'max_connections'", "skip_grant_tables")),
    # Account names.
    BadConfig("check-user-is-root", with_(bootstrap={"rootUser": "admin", "checkUser": "root"}),
              ("replstack:bootstrap.checkUser", "'root'", "reserved", "root@localhost")),
    BadConfig("monitoring-user-is-mysql", with_(bootstrap={"monitoringUser": "mysql"}),
              ("replstack:bootstrap.monitoringUser", "'mysql'", "reserved")),
    BadConfig("replication-user-is-public", with_(bootstrap={"replicationUser": "PUBLIC"}),
              ("replstack:bootstrap.replicationUser", "'PUBLIC'", "reserved")),
    BadConfig("account-names-collide", with_(bootstrap={"replicationUser": "replstack_monitor"}),
              ("replstack:bootstrap.replicationUser", "'replstack_monitor'", "bootstrap.monitoringUser")),
    # Local paths, binaries, passwords and sizes.
    BadConfig("base-dir-is-root", with_(local={"baseDir": "/"}),
              ("replstack:local.baseDir", "'/'", "system directory", "allowed:")),
    BadConfig("base-dir-is-etc", with_(local={"baseDir": "/etc"}), ("replstack:local.baseDir", "'/etc'", "system")),
    BadConfig("base-dir-climbs-to-etc", with_(local={"baseDir": "../" * 12 + "etc"}),
              ("replstack:local.baseDir", "(/etc)", "system directory")),
    BadConfig("base-dir-is-the-project", with_(local={"baseDir": "."}),
              ("replstack:local.baseDir", "'.'", "not empty", "not a replstack cluster directory")),
    BadConfig("mariadb-bin-dir-is-a-command", with_(local={"mariadbBinDir": "/bin/sh -c"}),
              ("replstack:local.mariadbBinDir", "'/bin/sh -c'", "allowed:")),
    BadConfig("client-bin-dir-without-install-db", with_(local={"clientBinDir": "/nonexistent/bin"}),
              ("replstack:local.clientBinDir", "'/nonexistent/bin'", "mariadb-install-db")),
    BadConfig("haproxy-binary-is-a-shell", with_(local={"haproxyBinary": "/bin/sh"}),
              ("replstack:local.haproxyBinary", "'/bin/sh'", "named haproxy")),
    BadConfig("root-password-not-ascii", with_(rootPassword="mot-de-passe-été"),
              ("replstack:rootPassword", "non-ASCII", "printable ASCII", "latin-1")),
    BadConfig("memory-beyond-the-host", with_(database={"memory": 999999}),
              ("replstack:database.memory", "999999", "more than this host", "at most")),
]
