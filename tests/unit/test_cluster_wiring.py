"""ReplicationCluster's wiring under Pulumi mocks: which resources it registers and with what inputs. Fast and
engine-free; the providers themselves are exercised against real processes in tests/integration."""

from __future__ import annotations

from pathlib import Path

import pulumi
import pytest

from components.spec import load_spec


class ClusterMocks(pulumi.runtime.Mocks):
    """Placements get ports and a directory, services echo their placement's address, like the real ones."""

    def __init__(self) -> None:
        self.resources: dict[str, dict] = {}
        self.next_port = 20000

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        inputs = dict(args.inputs)
        if "portNames" in inputs:
            ports = {}
            for name in inputs["portNames"]:
                self.next_port += 1
                ports[name] = self.next_port
            inputs.update(ports=ports, dir=f"{inputs['clusterDir']}/{inputs['service']}")
        elif "placement" in inputs and "settings" in inputs:
            inputs.update(host=inputs["placement"]["host"], port=inputs["placement"]["ports"]["mysql"], running=True)
        elif "placement" in inputs:
            inputs.update(host=inputs["placement"]["host"], ports=inputs["placement"]["ports"], running=True)
        elif "length" in inputs:
            inputs.update(value="x" * int(inputs["length"]))
        self.resources[args.name] = inputs
        return f"{args.name}-id", inputs

    def call(self, args: pulumi.runtime.MockCallArgs):
        return {}


@pytest.fixture
def mocks():
    mocks = ClusterMocks()
    pulumi.runtime.set_mocks(mocks, project="replstack", stack="unit", preview=False)
    return mocks


def build(config: dict):
    from components.cluster import ReplicationCluster
    from components.orchestrators import orchestrator_for

    spec = load_spec(config)
    return ReplicationCluster("replstack-unit", spec, orchestrator_for(spec, "replstack-unit", Path("/tmp/unit")))


@pulumi.runtime.test
def test_three_nodes_and_haproxy_register_every_step(mocks):
    cluster = build({"database": {"nodes": 3}, "proxies": [{"kind": "haproxy"}],
                     "local": {"baseDir": "/tmp/unit-data"}})

    def check(values):
        nodes, write, read, _sync_id = values
        names = set(mocks.resources)
        assert {"db1", "db2", "db3", "haproxy1", "replication", "users", "proxy-sync"} <= names
        assert {"db1-placement", "haproxy1-placement"} <= names
        assert {"root-password", "replication-password", "monitoring-password"} <= names
        assert [n["role"] for n in nodes] == ["primary", "replica", "replica"]
        assert "read_only = 0" in mocks.resources["db1"]["config"]
        assert "read_only = 1" in mocks.resources["db2"]["config"]
        proxy_cfg = mocks.resources["haproxy1"]["config"]
        write_backend = proxy_cfg.split("backend write", 1)[1].split("frontend", 1)[0]
        assert f"server db1 127.0.0.1:{nodes[0]['port']}" in write_backend
        assert "db2" in proxy_cfg.split("backend read", 1)[1]
        assert mocks.resources["replication"]["primary"] == "db1"
        assert mocks.resources["proxy-sync"]["replicas"] == ["db2", "db3"]
        assert write.endswith(str(mocks.resources["haproxy1-placement"]["ports"]["write"]))
        assert read != write
        assert mocks.resources["db1-placement"]["clusterDir"] == "/tmp/unit-data/replstack-unit"

    assert cluster.proxy_sync is not None
    return pulumi.Output.all(cluster.nodes, cluster.write_endpoint, cluster.read_endpoint,
                             cluster.proxy_sync.id).apply(check)


@pulumi.runtime.test
def test_without_proxies_endpoints_point_at_the_nodes(mocks):
    cluster = build({"database": {"nodes": 2, "preferredPrimary": "db2"}, "local": {"baseDir": "/tmp/unit-data"}})

    def check(values):
        nodes, write, read = values
        by_name = {n["name"]: n for n in nodes}
        assert by_name["db2"]["role"] == "primary"
        assert write == f"127.0.0.1:{by_name['db2']['port']}"
        assert read == f"127.0.0.1:{by_name['db1']['port']}"
        assert cluster.proxy_sync is None and "proxy-sync" not in mocks.resources

    return pulumi.Output.all(cluster.nodes, cluster.write_endpoint, cluster.read_endpoint).apply(check)
