"""Network settings (``database.network``, ``proxies[].network``): validated naming the key, accepted under
replication-manager's names, applied by the backend that can (a CNI attachment on kube pods) and reported as
ignored by the others."""

from __future__ import annotations

import pytest

from components.orchestrators import kube_objects as objects
from components.orchestrators.kube import KubeOrchestrator
from components.orchestrators.local import LocalOrchestrator
from components.spec import SpecError, load_spec


def refusal(network: dict) -> str:
    with pytest.raises(SpecError) as failure:
        load_spec({"database": {"network": network}})
    return str(failure.value)


def test_settings_are_normalised():
    spec = load_spec({"database": {"network": {"iface": "eth1", "netmask": "255.255.254.0", "gateway": "10.0.0.1",
                                               "cni": "dbs/storage-net"}},
                      "proxies": [{"kind": "haproxy", "network": {"netmask": "/24"}}]})
    assert (spec.database.network.netmask, spec.proxies[0].network.netmask) == ("23", "24")
    assert spec.network_settings() == {"database.network": ["iface", "netmask", "gateway", "cni"],
                                       "proxies[0].network": ["netmask"]}


def test_replication_manager_names_are_accepted():
    spec = load_spec({"prov-db-net-iface": "eth0", "prov-db-net-mask": "255.255.255.0",
                      "prov-db-net-gateway": "192.168.0.254", "prov-db-cni": "macvlan"})
    assert spec.database.network.model_dump() == {"iface": "eth0", "netmask": "24", "gateway": "192.168.0.254",
                                                  "cni": "macvlan"}


@pytest.mark.parametrize("key,value,allowed", [
    ("iface", "eth0; reboot", "up to 15 letters"), ("iface", "a" * 16, "up to 15 letters"),
    ("netmask", "255.0.255.0", "a dotted mask"), ("netmask", "129", "a dotted mask"),
    ("gateway", "10.0.0", "e.g. 10.0.0.1"), ("cni", "Bad_Name", "[namespace/]name")])
def test_bad_values_are_refused_naming_the_key(key, value, allowed):
    text = refusal({key: value})
    assert f"replstack:database.network.{key}" in text and allowed in text


def test_backends_on_existing_hosts_say_they_ignore_them(tmp_path):
    spec = load_spec({"database": {"network": {"iface": "eth0"}}})
    local = LocalOrchestrator("replstack-t", spec.local, tmp_path, keep_data=False)
    assert local.ignored_network(spec.network_settings()) == [
        "replstack:database.network: iface ignored by the local orchestrator (its services use the addresses of "
        "the hosts they run on)"]
    assert local.ignored_network({}) == []


def test_kube_applies_a_cni_attachment_as_the_pods_annotation():
    assert KubeOrchestrator.network_keys == ("cni",)
    names = objects.Names(cluster="replstack-t", namespace="replstack-t", labels={})
    sts = objects.node_statefulset(names, "db1", "primary", my_cnf="x", image="mariadb:11.4.5",
                                   pull_policy="IfNotPresent", memory_mb=256, cores=1, disk_gb=5, storage_class=None,
                                   cni="dbs/storage-net")
    assert sts["spec"]["template"]["metadata"]["annotations"][objects.NETWORKS_ANNOTATION] == "dbs/storage-net"
    plain = objects.node_statefulset(names, "db1", "primary", my_cnf="x", image="mariadb:11.4.5",
                                     pull_policy="IfNotPresent", memory_mb=256, cores=1, disk_gb=5,
                                     storage_class=None)
    assert objects.NETWORKS_ANNOTATION not in plain["spec"]["template"]["metadata"]["annotations"]
