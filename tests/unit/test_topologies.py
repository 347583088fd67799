"""Replication topologies as data (components.configurator.topologies), their HAProxy routing and their wiring
under Pulumi mocks. The topologies themselves run on real processes in tests/integration/test_topologies.py."""

from __future__ import annotations

import pulumi
import pytest

from components.configurator.haproxy import Backend, render_haproxy_cfg
from components.configurator.placement import Placement
from components.configurator.topologies import layout, node_settings
from components.spec import SpecError, load_spec
from tests.unit.test_cluster_wiring import build, mocks  # noqa: F401  (the fixture)

NODES3 = ["db1", "db2", "db3"]


def test_master_slave_layout_adds_no_setting():
    plan = layout("master-slave", NODES3, "db1")
    assert plan.sources == {"db2": "db1", "db3": "db1"} and plan.writable == ("db1",) and plan.gtid
    assert plan.roles == {"db1": "primary", "db2": "replica", "db3": "replica"}
    assert plan.readers == ["db2", "db3"]
    assert all(node_settings(plan, n, 0) == {} for n in NODES3)
    assert not layout("master-slave-no-gtid", NODES3, "db1").gtid


def test_multi_master_layout():
    one = layout("multi-master", ["db1", "db2"], "db1")
    assert one.sources == {"db2": "db1", "db1": "db2"} and one.writable == ("db1",)
    assert one.roles == {"db1": "master", "db2": "master"} and one.readers == ["db1", "db2"]
    assert one.attach_order() == ["db2", "db1"]
    assert layout("multi-master", ["db1", "db2"], "db1", writable_both=True).writable == ("db1", "db2")
    assert node_settings(one, "db2", 10) == {"gtid_domain_id": "11", "auto_increment_increment": "2",
                                             "auto_increment_offset": "2"}


def test_multi_tier_layout():
    plan = layout("multi-tier-slave", ["db1", "db2", "db3", "db4"], "db1")
    assert plan.sources == {"db2": "db1", "db3": "db2", "db4": "db2"}
    assert plan.roles == {"db1": "primary", "db2": "relay", "db3": "replica", "db4": "replica"}
    assert plan.readers == ["db2", "db3", "db4"] and plan.attach_order() == ["db2", "db3", "db4"]


def test_ring_layout():
    plan = layout("ring", NODES3, "db1")
    assert plan.sources == {"db1": "db3", "db2": "db1", "db3": "db2"} and plan.writable == tuple(NODES3)
    assert plan.attach_order() == ["db2", "db3", "db1"]
    assert [node_settings(plan, n, 0)["gtid_domain_id"] for n in NODES3] == ["0", "1", "2"]
    assert [node_settings(plan, n, 0)["auto_increment_offset"] for n in NODES3] == ["1", "2", "3"]


def test_haproxy_of_a_multi_source_topology_reads_from_every_node():
    placement = Placement("127.0.0.1", {"write": 23001, "read": 23002, "stats": 23003, "admin": 23004}, "/srv/x")
    nodes = [Backend(f"db{i}", "127.0.0.1", 23305 + i) for i in range(1, 4)]
    text = render_haproxy_cfg(cluster="c", name="haproxy1", placement=placement, primary=nodes[0],
                              replicas=nodes[1:], primary_reads=True)
    write, read = text.split("backend write", 1)[1].split("backend read", 1)
    assert [line.split()[1] for line in read.splitlines() if line.strip().startswith("server")] == NODES3
    assert "backup" not in read
    assert [line.split()[1] for line in write.splitlines() if line.strip().startswith("server")] == NODES3


@pytest.mark.parametrize("topology", ["ring", "multi-tier-slave", "master-slave-no-gtid"])
def test_switchover_is_refused_outside_master_slave(topology):
    from components.topology import ReplicationTopologyProvider

    nodes = [{"name": n, "host": "127.0.0.1", "port": 1} for n in NODES3]
    plan = layout(topology, NODES3, "db1")
    olds = {"nodes": nodes, "primary": "db1", "topology": topology, "sources": plan.sources}
    failures = ReplicationTopologyProvider().refuse(olds, {**olds, "primary": "db2"})
    assert failures and "database.preferredPrimary" in failures[0].reason
    assert "master-slave topology only" in failures[0].reason
    grown = ReplicationTopologyProvider().refuse(olds, {**olds, "nodes": nodes + [{**nodes[0], "name": "db4"}]})
    assert grown and "database.nodes" in grown[0].reason


def test_valid_topologies_load():
    assert load_spec({"database": {"nodes": 2}, "bootstrap": {"topology": "multi-master",
                                                              "multiMasterWritable": "both"}})
    assert load_spec({"database": {"nodes": 4}, "bootstrap": {"topology": "ring"}})
    with pytest.raises(SpecError, match="bootstrap.topology"):
        load_spec({"orchestrator": "kube", "kube": {}, "bootstrap": {"topology": "ring"}})


@pulumi.runtime.test
def test_master_slave_topology_inputs_stay_as_they_were(mocks):  # noqa: F811
    cluster = build({"database": {"nodes": 3}, "proxies": [{"kind": "haproxy"}],
                     "local": {"baseDir": "/tmp/unit-data"}})

    def check(_):
        assert not {"topology", "sources", "writable"} & set(mocks.resources["replication"])
        assert "auto_increment_offset" not in mocks.resources["db2"]["config"]

    return pulumi.Output.all(cluster.nodes, cluster.proxy_sync.id).apply(check)


@pulumi.runtime.test
def test_ring_wiring(mocks):  # noqa: F811
    cluster = build({"database": {"nodes": 3}, "bootstrap": {"topology": "ring"}, "proxies": [{"kind": "haproxy"}],
                     "local": {"baseDir": "/tmp/unit-data"}})

    def check(values):
        nodes = values[0]
        assert [n["role"] for n in nodes] == ["master"] * 3
        assert all("read_only = 0" in mocks.resources[n]["config"] for n in NODES3)
        assert "gtid_domain_id = 2" in mocks.resources["db3"]["config"]
        replication = mocks.resources["replication"]
        assert replication["topology"] == "ring" and replication["sources"]["db1"] == "db3"
        assert mocks.resources["proxy-sync"]["replicas"] == NODES3
        read = mocks.resources["haproxy1"]["config"].split("backend read", 1)[1]
        assert "backup" not in read and "server db1" in read

    return pulumi.Output.all(cluster.nodes, cluster.proxy_sync.id).apply(check)
