"""The proxy-kind registry and the ShardProxy and Sphinx renderers: golden files, the values they refuse, and what
each kind declares (listeners, accounts, schema); the cluster wiring of the new kinds under Pulumi mocks.
``UPDATE_GOLDEN=1`` rewrites the golden files."""

from __future__ import annotations

import configparser

import pulumi
import pytest

from components.configurator import shardproxy, sphinx
from components.configurator.placement import Placement
from components.configurator.proxy_values import Backend
from components.configurator.render import UnsafeValue
from components.proxies.kinds import KINDS, kind
from components.spec import SpecError, load_spec
from tests.unit.test_cluster_wiring import build, mocks  # noqa: F401  (the fixture)
from tests.unit.test_configurator import check_golden

DIR = "/srv/replstack/demo"
PASSWORD = "Golden0Shard0Password"


def setup_sql(shards: int = 3, **changes) -> str:
    args = {"cluster": "replstack-demo", "name": "shardproxy1", "primary": Backend("db1", "127.0.0.1", 23306),
            "shards": shards, "shard_user": "replstack_shard", "shard_password": PASSWORD}
    return shardproxy.render_setup_sql(**{**args, **changes})


def sphinx_conf(**changes) -> str:
    args = {"cluster": "replstack-demo", "name": "sphinx1",
            "placement": Placement("127.0.0.1", {"sphinxql": 23021, "api": 23022}, f"{DIR}/sphinx1"),
            "source": Backend("db2", "127.0.0.1", 23307), "user": "replstack_search", "password": PASSWORD,
            "table": "replstack_search.documents", "fields": ["title", "body"], "memory_mb": 128}
    return sphinx.render_sphinx_conf(**{**args, **changes})


def test_every_kind_is_registered_with_its_listeners():
    assert set(KINDS) == {"haproxy", "shardproxy", "sphinx", "proxysql", "maxscale", "mysqlrouter"}
    for name in KINDS:
        k = kind(name)
        assert k.name == name and k.listeners and len(set(k.listeners)) == len(k.listeners)
        for side in (k.write_listener, k.read_listener, k.stats_listener):
            assert side is None or side in k.listeners
    assert kind("haproxy").ports({"write": 1, "read": 2, "stats": 3, "admin": 4}) == {"write": 1, "read": 2,
                                                                                       "stats": 3}
    with pytest.raises(ValueError, match="known: haproxy"):
        kind("nginx")


def test_shardproxy_my_cnf_and_setup_golden():
    placement = Placement("127.0.0.1", {"sql": 23031}, f"{DIR}/shardproxy1")
    cnf = shardproxy.render_my_cnf(cluster="replstack-demo", name="shardproxy1", placement=placement,
                                   memory_mb=256, run_as_root=False)
    check_golden("shardproxy.my.cnf", cnf)
    parsed = configparser.ConfigParser()
    parsed.read_string(cnf)
    assert parsed["mariadbd"]["port"] == "23031" and "plugin_load_add" not in parsed["mariadbd"]
    text = setup_sql()
    check_golden("shardproxy-setup.sql", text)
    statements = shardproxy.statements(text)
    assert statements[0] == "INSTALL SONAME 'ha_spider'"
    servers = [s for s in statements if s.startswith("CREATE OR REPLACE SERVER")]
    assert [s.split()[4] for s in servers] == ["shard1", "shard2", "shard3"]
    assert all("HOST '127.0.0.1', PORT 23306" in s for s in servers)
    assert statements[-1].count("PARTITION p") == 3 and "PARTITION BY HASH (id)" in statements[-1]


def test_rows_go_to_the_shard_of_their_key():
    assert [shardproxy.shard_of(k, 3) for k in range(6)] == [1, 2, 3, 1, 2, 3]
    schema = shardproxy.backend_schema(2)
    assert schema == ["CREATE DATABASE IF NOT EXISTS `replstack_shard1`",
                      f"CREATE TABLE IF NOT EXISTS `replstack_shard1`.`items` ({shardproxy.COLUMNS}) ENGINE=InnoDB",
                      "CREATE DATABASE IF NOT EXISTS `replstack_shard2`",
                      f"CREATE TABLE IF NOT EXISTS `replstack_shard2`.`items` ({shardproxy.COLUMNS}) ENGINE=InnoDB"]


@pytest.mark.parametrize("changes", [{"shards": 0}, {"shards": 65}, {"shard_password": "a'b"},
                                     {"shard_password": "a;b"}, {"shard_user": "x y"},
                                     {"primary": Backend("db1", "db1.example", 3306)}])
def test_shardproxy_setup_refuses_unsafe_values(changes):
    with pytest.raises(UnsafeValue) as refused:
        setup_sql(**changes)
    assert PASSWORD not in str(refused.value)


def test_sphinx_conf_golden_and_shape():
    text = sphinx_conf()
    check_golden("sphinx.conf", text)
    assert "listen = 127.0.0.1:23021:mysql41" in text and "listen = 127.0.0.1:23022\n" in text
    assert "sql_query = SELECT id, `title`, `body` FROM `documents`" in text
    assert text.count(PASSWORD) == 1


@pytest.mark.parametrize("changes", [{"table": "documents"}, {"table": "a.b.c"}, {"table": "a;b.c"},
                                     {"fields": []}, {"fields": ["id"]}, {"fields": ["ti tle"]},
                                     {"password": "a#b"}, {"password": "a\\"}])
def test_sphinx_conf_refuses_unsafe_values(changes):
    with pytest.raises(UnsafeValue) as refused:
        sphinx_conf(**changes)
    assert PASSWORD not in str(refused.value)


def test_kinds_declare_their_accounts_and_schema():
    spec = load_spec({"database": {"nodes": 2}, "proxies": [{"kind": "shardproxy", "shards": 2},
                                                           {"kind": "sphinx", "indexTable": "app.notes",
                                                            "indexFields": ["text"]}]})
    shard, search = spec.proxy_services()
    (account,) = kind("shardproxy").accounts(shard, spec.bootstrap)
    assert account.user == "replstack_shard" and account.grants == ("SELECT, INSERT, UPDATE, DELETE ON "
                                                                    "`replstack\\_shard%`.*",)
    (account,) = kind("sphinx").accounts(search, spec.bootstrap)
    assert account.grants == ("SELECT ON `app`.`notes`",)
    assert kind("sphinx").schema(search)[-1].startswith("CREATE TABLE IF NOT EXISTS `app`.`notes` (id BIGINT")


@pytest.mark.parametrize("proxy, key", [({"kind": "sphinx", "indexTable": "notes"}, "indexTable"),
                                        ({"kind": "sphinx", "indexFields": ["id"]}, "indexFields"),
                                        ({"kind": "shardproxy", "shards": 0}, "shards")])
def test_kind_settings_are_validated(proxy, key):
    with pytest.raises(SpecError, match=rf"proxies\[0\]\.{key}"):
        load_spec({"proxies": [proxy]})


def test_a_kind_that_needs_a_missing_binary_is_refused_at_preview(monkeypatch):
    monkeypatch.setattr("shutil.which", lambda name: None)
    with pytest.raises(SpecError) as refused:
        load_spec({"proxies": [{"kind": "haproxy"}, {"kind": "maxscale"}]})
    assert "replstack:proxies[1].kind: 'maxscale' needs the maxscale binary on PATH" in str(refused.value)


@pulumi.runtime.test
def test_new_kinds_are_wired_with_their_own_types_accounts_and_outputs(mocks):  # noqa: F811
    cluster = build({"database": {"nodes": 2}, "local": {"baseDir": "/tmp/unit-data"},
                     "proxies": [{"kind": "shardproxy"}, {"kind": "sphinx"}, {"kind": "haproxy"}],
                     "bootstrap": {"sysbench": {"tables": 1, "rows": 10}}})

    def check(values):
        proxies, write = values
        assert {"shardproxy1", "sphinx1", "haproxy1", "users", "proxy-sync", "sysbench"} <= set(mocks.resources)
        assert mocks.resources["shardproxy1-placement"]["portNames"] == ["sql"]
        assert mocks.resources["sphinx1-placement"]["portNames"] == ["sphinxql", "api"]
        users = mocks.resources["users"]
        accounts = users["accounts"]["value"]  # a secret: it carries the generated passwords
        assert {a["user"] for a in accounts} == {"replstack_shard", "replstack_search"}
        assert "CREATE DATABASE IF NOT EXISTS `replstack_shard2`" in users["schema"]
        assert mocks.resources["shardproxy1"]["binaries"]["server"].endswith("/mariadbd")
        assert "binary" not in mocks.resources["shardproxy1"] and "rootPassword" in mocks.resources["shardproxy1"]
        sync = {p["name"]: p for p in mocks.resources["proxy-sync"]["proxies"]}
        assert sync["sphinx1"]["kind"] == "sphinx" and set(sync["haproxy1"]) == {"name", "transport", "socket"}
        by_name = {p["name"]: p for p in proxies}
        assert by_name["sphinx1"]["writeEndpoint"] is None and set(by_name["sphinx1"]["ports"]) == {"sphinxql", "api"}
        # The first proxy routing writes is the ShardProxy: the cluster's endpoint and sysbench go through it.
        assert write == by_name["shardproxy1"]["writeEndpoint"]
        assert mocks.resources["sysbench"]["target"]["via"] == "shardproxy1"

    assert cluster.sysbench is not None
    return pulumi.Output.all(cluster.proxies, cluster.write_endpoint, cluster.sysbench.id).apply(
        lambda v: check(v[:2]))


@pulumi.runtime.test
def test_a_haproxy_only_stack_keeps_its_inputs(mocks):  # noqa: F811
    cluster = build({"database": {"nodes": 2}, "local": {"baseDir": "/tmp/unit-data"},
                     "proxies": [{"kind": "haproxy"}]})

    def check(_):
        assert "accounts" not in mocks.resources["users"] and "schema" not in mocks.resources["users"]
        haproxy = mocks.resources["haproxy1"]
        assert set(haproxy) >= {"kind", "config", "routes", "placement", "files", "binary", "startTimeout",
                                "stopTimeout"}
        assert "binaries" not in haproxy and "rootPassword" not in haproxy
        assert "sysbench" not in mocks.resources

    assert cluster.proxy_sync is not None
    return pulumi.Output.all(cluster.proxies, cluster.proxy_sync.id).apply(check)
