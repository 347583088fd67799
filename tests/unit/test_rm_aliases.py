"""replication-manager's prov-* keys: each one of its provisioning vocabulary is an alias of a replstack key or is
refused saying where it belongs; none is an anonymous "unknown key"."""

from __future__ import annotations

import pytest

from components import rm_keys
from components.spec import RM_ALIASES, SpecError, load_spec

# Every prov-* key of replication-manager's provisioning vocabulary (its flags, its config struct, newer versions,
# and the documentation's name for serialised provisioning).
SEED_KEYS = """
prov-orchestrator prov-orchestrator-enable prov-orchestrator-cluster prov-serialized prov-db-service-plan-batch
prov-service-plan prov-service-plan-registry prov-net-cni prov-net-cni-cluster prov-docker-daemon-private
prov-tls-server-ca prov-tls-server-cert prov-tls-server-key prov-object-allow-overwrite prov-db-config-preserve
prov-db-config-preserve-vars prov-db-binary-log-name prov-db-docker-tmpfs-size prov-db-docker-run-args
prov-db-docker-run-args-limit prov-db-jobs-docker-run-args prov-net-docker-run-args prov-proxy-docker-run-args
prov-db-start-fetch-config prov-proxy-start-fetch-config prov-docker-registry-credentials
prov-orchestrator-deployment-upgrade-on-start
prov-db-service-type prov-db-agents prov-db-docker-img prov-db-image prov-db-cpu-cores prov-db-memory
prov-db-memory-shared-pct prov-db-memory-threaded-pct prov-db-disk-size prov-db-disk-iops prov-db-disk-iops-latency
prov-db-disk-system-size prov-db-disk-temp-size prov-db-disk-docker-size prov-db-disk-fs prov-db-disk-fs-compress
prov-db-disk-pool prov-db-disk-type prov-db-disk-device prov-db-volume-data prov-db-volume-docker
prov-db-disk-snapshot-prefered-master prov-db-disk-snapshot-keep prov-db-net-iface prov-db-net-gateway
prov-db-net-mask prov-db-cni prov-db-tags prov-db-domain prov-db-expire-log-days prov-db-max-connections
prov-db-apply-dynamic-config prov-db-force-write-config prov-db-binary-basedir prov-db-client-basedir
prov-db-binary-in-tarball prov-db-tarball-name prov-db-datadir-version prov-db-load-sql prov-db-load-csv
prov-db-compliance prov-proxy-compliance
prov-db-bootstrap-script prov-db-start-script prov-db-stop-script prov-db-cleanup-script
prov-proxy-bootstrap-script prov-proxy-start-script prov-proxy-stop-script prov-proxy-cleanup-script
prov-proxy-service-type prov-proxy-agents prov-proxy-agents-failover prov-proxy-cpu-cores prov-proxy-memory
prov-proxy-disk-size prov-proxy-disk-fs prov-proxy-disk-pool prov-proxy-disk-type prov-proxy-disk-device
prov-proxy-volume-data prov-proxy-net-iface prov-proxy-net-gateway prov-proxy-net-mask prov-proxy-route-addr
prov-proxy-route-port prov-proxy-route-mask prov-proxy-route-policy prov-proxy-tags
prov-proxy-docker-proxysql-img prov-proxy-docker-maxscale-img prov-proxy-docker-haproxy-img
prov-proxy-docker-mysqlrouter-img prov-proxy-docker-shardproxy-img
prov-sphinx-docker-img prov-sphinx-tags prov-sphinx-service-type prov-sphinx-agents prov-sphinx-memory
prov-sphinx-disk-size prov-sphinx-cpu-cores prov-sphinx-disk-fs prov-sphinx-disk-pool prov-sphinx-disk-type
prov-sphinx-disk-device prov-sphinx-max-childrens prov-sphinx-reindex-schedule
""".split()


def test_every_seed_key_is_an_alias_or_refused_with_a_reason():
    unhandled = [k for k in SEED_KEYS if k not in RM_ALIASES and k not in rm_keys.PROXY_ALIASES
                 and k not in rm_keys.REFUSED]
    assert not unhandled


@pytest.mark.parametrize("key", [k for k in SEED_KEYS if k in rm_keys.REFUSED and k not in RM_ALIASES])
def test_a_refused_key_says_where_it_belongs(key):
    with pytest.raises(SpecError) as failure:
        load_spec({key: "x"})
    message = str(failure.value)
    assert f"replstack:{key}:" in message and "no replstack key takes it (" in message
    assert rm_keys.REFUSED[key] in message and "unknown key" not in message


@pytest.mark.parametrize("key", ["prov-serialized", "prov-db-service-plan-batch"])
def test_both_names_of_serialized_provisioning(key):
    assert load_spec({key: "true"}).serialized is True


def test_serialized_twice_is_refused():
    with pytest.raises(SpecError, match="set only one"):
        load_spec({"prov-serialized": "true", "prov-db-service-plan-batch": "true"})


def test_database_aliases_land_on_their_keys():
    spec = load_spec({"prov-db-cpu-cores": "2", "prov-db-disk-iops": "900", "prov-db-disk-size": "40",
                      "prov-db-disk-system-size": "4", "prov-db-domain": "7", "prov-db-expire-log-days": "3",
                      "prov-db-max-connections": "500", "prov-db-disk-snapshot-keep": "3",
                      "prov-db-disk-snapshot-prefered-master": "true", "prov-db-tags": "semisync, pfs",
                      "prov-db-net-iface": "eth1"})
    db = spec.database
    assert (db.cores, db.iops, db.disk_size, db.system_disk_size, db.domain_id, db.expire_logs_days,
            db.max_connections) == (2, 900, 40, 4, 7, 3, 500)
    assert db.snapshots.enabled is True and db.snapshots.keep == 3
    assert db.tags == ["semisync", "pfs"] and db.network.iface == "eth1"


def test_resource_aliases_land_on_the_settings_vocabulary():
    spec = load_spec({"prov-db-disk-fs": "xfs", "prov-db-disk-type": "physical", "prov-db-disk-device": "/dev/sdb",
                      "prov-db-disk-temp-size": "128", "prov-db-docker-img": "docker.io/library/mariadb:11.4.5"})
    disk = spec.database.disk
    assert (disk.fs, disk.type, disk.device) == ("xfs", "physical", "/dev/sdb")
    assert spec.database.tmpfs_mb == 128 and spec.database.image == "docker.io/library/mariadb:11.4.5"
    with pytest.raises(SpecError, match="prov-db-image: also set as database.image"):
        load_spec({"prov-db-image": "docker.io/library/mariadb:11.4.5",
                   "prov-db-docker-img": "docker.io/library/mariadb:11.4.5"})
    with pytest.raises(SpecError, match="database.image"):  # replication-manager's default is refused: not pinned
        load_spec({"prov-db-docker-img": "mariadb:latest"})
    spec = load_spec({"proxies": [{"kind": "haproxy"}], "prov-proxy-disk-fs": "ext4", "prov-db-disk-fs": "zfs",
                      "prov-db-disk-fs-compress": "lz4", "prov-db-disk-pool": "zpool", "prov-db-disk-type": "pool",
                      "prov-db-disk-device": "tank"})
    assert spec.proxies[0].disk.fs == "ext4"
    assert (spec.database.disk.compression, spec.database.disk.pool) == ("lz4", "zpool")


def test_proxy_aliases_set_every_proxy_unless_it_sets_the_key():
    spec = load_spec({"proxies": [{"kind": "haproxy"}, {"kind": "haproxy", "cores": 4}],
                      "prov-proxy-cpu-cores": "2", "prov-proxy-memory": "512", "prov-proxy-disk-size": "30",
                      "prov-proxy-net-iface": "eth2"})
    assert [p.cores for p in spec.proxies] == [2, 4]
    assert [p.memory for p in spec.proxies] == [512, 512]
    assert [p.disk_size for p in spec.proxies] == [30, 30]
    assert [p.network.iface for p in spec.proxies] == ["eth2", "eth2"]


def test_a_proxy_alias_without_proxies_is_refused():
    with pytest.raises(SpecError, match="prov-proxy-memory: sets every proxy's memory"):
        load_spec({"prov-proxy-memory": "512"})


def test_an_alias_and_its_key_together_are_refused():
    with pytest.raises(SpecError, match="prov-db-memory: also set as database.memory"):
        load_spec({"prov-db-memory": "512", "database": {"memory": 1024}})


def test_refusals_and_other_problems_are_reported_together():
    with pytest.raises(SpecError) as failure:
        load_spec({"prov-db-agents": "a,b", "prov-proxy-route-addr": "10.0.0.1"})
    lines = str(failure.value).splitlines()
    assert len(lines) == 2 and "onpremise" in lines[0] and "virtual IP" in lines[1]
