"""Every provider's check and diff during a preview: inputs computed by resources that will change arrive as
``Unknown``; a provider must then report a change (or say it cannot know), never raise, and its planned action
must say what the update will do. Fast: the providers are called directly, as the dynamic-provider server
calls them."""

from __future__ import annotations

import pytest
from pulumi.output import Unknown

from components.dynamic import NO_ACTION, PLANNED_ACTION, changed_keys, differs, is_known
from components.orchestrators.local import LocalDatabaseProvider, LocalHAProxyProvider, LocalPlacementProvider
from components.proxysync import ProxySyncProvider
from components.secrets import GeneratedPasswordProvider
from components.topology import ReplicationTopologyProvider
from components.users import DatabaseUsersProvider


def test_unknown_values_count_as_changes_and_known_ones_compare_as_values():
    assert not is_known({"a": [1, Unknown()]}) and is_known({"a": [1, 2]})
    assert differs(1, Unknown()) and differs(Unknown(), 1)
    assert not differs({"port": 3306.0}, {"port": 3306}), "state numbers come back as floats"
    assert changed_keys({"a": 1, "b": [1]}, {"a": 1, "b": [Unknown()]}, ["a", "b", "c"]) == ["b"]


def placement(tmp_path, service="db2"):
    return {"host": "127.0.0.1", "ports": {"mysql": 3307}, "dir": str(tmp_path / service)}


def database(tmp_path, **changes):
    props = {"service": "db2", "config": "[mariadbd]\n", "placement": placement(tmp_path),
             "settings": {"read_only": "1", "max_connections": "1000", "innodb_log_file_size": "128M"},
             "binaries": {"server": "/usr/sbin/mariadbd", "install_db": "/usr/bin/mariadb-install-db"},
             "rootUser": "root", "rootPassword": "pw", "keepData": False, "startTimeout": 5, "stopTimeout": 5}
    return {**props, **changes}


def test_database_create_is_planned_as_a_replica_with_generation_one(tmp_path):
    checked = LocalDatabaseProvider().check({}, database(tmp_path))
    assert checked.failures == []
    assert checked.inputs[PLANNED_ACTION].startswith("create: a new replica")
    assert checked.inputs["generation"] == 1


def test_database_with_unknown_config_and_placement_is_a_change_not_a_crash(tmp_path):
    olds = {**database(tmp_path), "running": True, "generation": 3}
    news = database(tmp_path, config=Unknown(), placement=Unknown())
    provider = LocalDatabaseProvider()
    checked = provider.check(database(tmp_path), news)
    assert checked.failures == [] and checked.inputs[PLANNED_ACTION] != NO_ACTION
    result = provider.diff("id", olds, checked.inputs)
    assert result.changes is True and result.replaces == ["placement"]


def test_database_plans_live_and_restart_changes_in_words(tmp_path):
    provider = LocalDatabaseProvider()
    provider._alive = staticmethod(lambda olds: True)  # a running server, without starting one
    old = {**database(tmp_path), "generation": 2}
    (tmp_path / "db2").mkdir()
    (tmp_path / "db2" / "my.cnf").write_text(old["config"])  # the config replstack wrote, intact
    live = provider.check(old, database(tmp_path, settings={**old["settings"], "max_connections": "1500"}))
    assert live.inputs[PLANNED_ACTION] == "live: SET GLOBAL max_connections = 1500 (no restart)"
    assert live.inputs["generation"] == 2, "a live change restarts nothing"
    static = provider.check(old, database(tmp_path, settings={**old["settings"], "innodb_log_file_size": "256M"}))
    assert static.inputs[PLANNED_ACTION].startswith("restart: innodb_log_file_size cannot change")
    assert "replicas restart one at a time" in static.inputs[PLANNED_ACTION]
    assert static.inputs["generation"] == 3
    same = provider.check(old, database(tmp_path))
    assert same.inputs[PLANNED_ACTION] == NO_ACTION and same.inputs["generation"] == 2
    assert provider.diff("id", {**old, "running": True}, same.inputs).changes is False
    (tmp_path / "db2" / "my.cnf").write_text("[mariadbd]\nskip-grant-tables\n")
    damaged = provider.check(old, database(tmp_path))
    assert damaged.inputs[PLANNED_ACTION].startswith("rewrite: my.cnf on disk differs from what replstack wrote")
    assert provider.diff("id", {**old, "running": True}, damaged.inputs).changes is True


def test_dead_database_is_planned_as_a_start(tmp_path):
    provider = LocalDatabaseProvider()
    old = {**database(tmp_path), "generation": 2}
    checked = provider.check(old, database(tmp_path))  # nothing runs from tmp_path: the server is down
    assert checked.inputs[PLANNED_ACTION].startswith("start: mariadbd is not running")
    assert checked.inputs["generation"] == 3


def test_role_change_is_planned_as_a_switchover_that_leaves_read_only_to_the_replication_step(tmp_path):
    provider = LocalDatabaseProvider()
    provider._alive = staticmethod(lambda olds: True)
    old = {**database(tmp_path), "generation": 2}
    (tmp_path / "db2").mkdir()
    (tmp_path / "db2" / "my.cnf").write_text(old["config"])
    checked = provider.check(old, database(tmp_path, settings={**old["settings"], "read_only": "0"}))
    assert checked.failures == []
    assert checked.inputs[PLANNED_ACTION].startswith("switchover: it becomes the primary")
    assert "SET GLOBAL" not in checked.inputs[PLANNED_ACTION], "read_only is not set by the node itself"
    assert checked.inputs["generation"] == 2


def topology(**changes):
    nodes = [{"name": f"db{i}", "host": "127.0.0.1", "port": 3306 + i, "generation": 1} for i in (1, 2, 3)]
    props = {"nodes": nodes, "primary": "db1", "rootUser": "root", "rootPassword": "pw",
             "replicationUser": "repl", "replicationPassword": "rpw", "semiSync": False, "timeout": 5}
    return {**props, **changes}


@pytest.mark.parametrize("unknown", ["generation", "port", "whole-node", "whole-list"])
def test_topology_with_unknown_nodes_plans_a_verification_and_never_raises(unknown):
    old = topology()
    nodes = [dict(n) for n in old["nodes"]]
    if unknown == "whole-list":
        nodes = Unknown()
    elif unknown == "whole-node":
        nodes[1] = Unknown()
    else:
        nodes[1][unknown] = Unknown()
    news = topology(nodes=nodes)
    provider = ReplicationTopologyProvider()
    checked = provider.check(old, news)
    assert checked.failures == []
    assert provider.diff("id", {**old, "replicating": ["db2", "db3"]}, checked.inputs).changes is True


def test_topology_plans_scale_out_scale_in_and_refuses_a_new_primary():
    provider = ReplicationTopologyProvider()
    old = topology()
    four = topology(nodes=old["nodes"] + [{"name": "db4", "host": "127.0.0.1", "port": 3310,
                                           "generation": Unknown()}])
    assert provider.check(old, four).inputs[PLANNED_ACTION].startswith("attach db4 as replica(s) of db1")
    assert "db3 leave(s) the topology" in provider.check(old, topology(nodes=old["nodes"][:2])).inputs[PLANNED_ACTION]
    switch = provider.check(old, topology(primary="db2"))
    assert not switch.failures and switch.inputs[PLANNED_ACTION].startswith("switchover db1 → db2: db1 turns read-only")
    refused = provider.check(old, topology(primary="db4", nodes=four["nodes"]))
    assert refused.failures and "add the node first, then switch over to it" in refused.failures[0].reason
    removed = provider.check(old, topology(nodes=old["nodes"][1:]))
    assert removed.failures and "removes the primary db1" in removed.failures[0].reason


def test_proxy_plans_routing_changes_and_handles_unknown_config(tmp_path):
    provider = LocalHAProxyProvider()
    provider._alive = staticmethod(lambda olds: True)
    old = {"kind": "haproxy", "config": "a", "placement": placement(tmp_path, "haproxy1"), "binary": "/usr/sbin/haproxy",
           "routes": {"write": ["db1"], "read": ["db2", "db3"]}, "generation": 1, "running": True}
    news = {**old, "config": Unknown(), "routes": {"write": ["db1"], "read": ["db2", "db3", "db4"]}}
    checked = provider.check(old, news)
    assert checked.inputs[PLANNED_ACTION] == "reload (soft, open connections are kept): the read pool gains db4"
    assert provider.diff("id", old, checked.inputs).changes is True
    created = provider.check({}, news)
    assert created.inputs[PLANNED_ACTION] == "create: start HAProxy: writes to db1, reads from db2, db3, db4"


def test_bootstrap_steps_and_passwords_never_raise_on_unknowns():
    users = {"primary": Unknown(), "rootUser": "root", "rootPassword": Unknown(), "monitoringUser": "mon",
             "monitoringPassword": "m", "checkUser": "chk", "checkHosts": Unknown()}
    old_users = {**users, "primary": {"name": "db1", "host": "h", "port": 1}, "rootPassword": "pw",
                 "checkHosts": ["127.0.0.1"]}
    assert DatabaseUsersProvider().diff("id", old_users, DatabaseUsersProvider().check(old_users, users).inputs).changes
    sync = {"proxies": [{"name": "haproxy1", "transport": "local", "socket": Unknown()}], "primary": "db1",
            "replicas": ["db2"], "generations": [1, Unknown()], "timeout": 5}
    old_sync = {**sync, "proxies": [{"name": "haproxy1", "transport": "local", "socket": "/h/admin.sock"}], "generations": [1, 1]}
    checked = ProxySyncProvider().check(old_sync, sync)
    assert "again" in checked.inputs[PLANNED_ACTION] or "change" in checked.inputs[PLANNED_ACTION]
    assert ProxySyncProvider().diff("id", old_sync, checked.inputs).changes is True
    assert LocalPlacementProvider().check({}, {"clusterDir": Unknown(), "service": "db1", "host": "127.0.0.1",
                                                "portNames": ["mysql"]}).failures == []
    password = GeneratedPasswordProvider()
    assert password.diff("id", {"length": 32, "value": "x"}, password.check({"length": 32}, {"length": 32}).inputs
                         ).changes is False
