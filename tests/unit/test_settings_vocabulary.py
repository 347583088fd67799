"""The settings vocabulary of replication-manager's configurator: its tags (its default tag string as it is,
labels with no effect, tags refused with the reason), checked against the golden file and mariadbd's own option
parser."""

from __future__ import annotations

import subprocess

import pytest

from components.configurator.mariadb import database_settings
from components.configurator.tags import (DATABASE_TAGS, LABELS, REFUSED_TAGS, RM_DEFAULT_TAGS, conflicts,
                                          tag_settings)
from components.spec import SpecError
from tests.unit.test_configurator import check_golden, compatible_tags, my_cnf, spec_of


def test_replication_managers_default_tag_string_is_accepted_as_it_is():
    spec = spec_of({"prov-db-tags": RM_DEFAULT_TAGS})
    assert spec.database.tags == RM_DEFAULT_TAGS.split(",")
    assert spec_of({"database": {"tags": RM_DEFAULT_TAGS}}).database.tags == RM_DEFAULT_TAGS.split(",")


def test_default_tag_string_golden():
    check_golden("rm-default-tags.my.cnf", my_cnf({"tags": RM_DEFAULT_TAGS}, 1, True))


def test_labels_change_nothing_and_each_says_why():
    labels = [t for t, settings in DATABASE_TAGS.items() if not settings and t != "smallredolog"]
    assert sorted(labels) == sorted(LABELS)
    base = database_settings(spec_of({"database": {"tags": []}}).database, 1, True)
    assert database_settings(spec_of({"database": {"tags": labels}}).database, 1, True) == base


def test_every_tag_of_the_reference_is_known_or_refused():
    reference = ("innodb myrocks tokudb spider sphinx connect mroonga oqgraph archive s3 mcs backhole semisync row "
                 "statement multidomains mysqlgtid grouprep nologslaveupdates wsrep gtidstrict nobinlog noslavestart "
                 "lossyconv idempotent trustfunctioncreators optimistic serialize minimal aggressive "
                 "nologslavestatement nosyncbinlog noalter2phase compresstables compressbinlog nodoublewrite "
                 "nodurable noodirect autodefrag smallredolog ssd zfs diskmonitor relayspacelimit splitundolog "
                 "nosplitpath notmpdisk noadaptatiiveflush general metadatalocks audit sqlerror pfs userstats "
                 "logtotable nologdeadlocks nologslowqueries nologslowddlqueries nologslowslavequeries nowarnings "
                 "threadpool noquerycache resolvdns proxyprotocol bind nobind ssl readonly pwdchecksimple "
                 "pwdcheckcracklib keyfileencrypt localinfile ed25519 noauth nohandshake bm4ci bm4cs utf8ci utf8cs "
                 "noautocommit lowercasetable sqlmodeoracle sqlmodeunstrict eits noicp nodeadlockdetect hashjoin "
                 "nestedjoin firstmatch semijoincache loosescan extendedkeys noderivedmerge notableelimination "
                 "noderivedwithkeys nointoexists nomrr noouterjoincache subquerycache utctime readcommitted sequence "
                 "noecp noscp nohcp nodcp nointosubquery nolateralderived imsi nobloomfilter histograms readsnapshot "
                 "readdirty readserialized trace noforcepk interleave docker pkg deb rpm linux osx slow noaio").split()
    assert [t for t in reference if t not in DATABASE_TAGS and t not in REFUSED_TAGS] == []
    assert not set(DATABASE_TAGS) & set(REFUSED_TAGS)


@pytest.mark.parametrize("tag", sorted(REFUSED_TAGS))
def test_a_refused_tag_says_why(tag):
    with pytest.raises(SpecError) as error:
        spec_of({"database": {"tags": ["slow", tag]}})
    assert f"replstack:database.tags: tag {tag!r} is refused: {REFUSED_TAGS[tag]}" in str(error.value)


def test_tags_that_disagree_are_refused_together_and_slow_yields():
    with pytest.raises(SpecError, match="'readcommitted' and 'readdirty' both set transaction_isolation"):
        spec_of({"database": {"tags": ["readcommitted", "readdirty"]}})
    assert tag_settings(["slow", "nologslowqueries"])["slow_query_log"] == "0"
    assert conflicts(["nodurable", "nosyncbinlog"]) == []  # the same value twice


def test_list_settings_add_up():
    settings = tag_settings(["sqlerror", "audit", "noicp", "nomrr", "sqlerror"])
    assert settings["plugin_load_add"] == "sql_errlog;server_audit"
    assert settings["optimizer_switch"] == "index_condition_pushdown=off,mrr=off"


def test_an_unknown_tag_suggests_a_close_one():
    with pytest.raises(SpecError, match=r"unknown tag 'semisnc' \(did you mean semisync\?\)"):
        spec_of({"database": {"tags": ["semisnc"]}})


def test_mariadbd_accepts_every_compatible_tag_together(tmp_path):
    text = my_cnf({"tags": compatible_tags()}, 1, True)
    path = tmp_path / "my.cnf"
    path.write_text(text.replace("/srv/replstack/demo/db1", str(tmp_path)))
    (tmp_path / "tmp").mkdir()
    proc = subprocess.run(["mariadbd", f"--defaults-file={path}", "--help", "--verbose"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "unknown variable" not in proc.stderr and "ERROR" not in proc.stderr


# -- resources: disk, tmpfs, shared memory, image, version, binaryDir --------------------------------------------
def refusal(config: dict) -> str:
    with pytest.raises(SpecError) as failure:
        spec_of(config)
    return str(failure.value)


def test_resource_defaults_change_nothing():
    from components.spec import DatabaseSpec
    db = spec_of({}).database
    assert db.disk.given() == {} and db.resources_given() == {} and db.disk_size == 20
    assert set(DatabaseSpec.model_fields) >= {"disk", "shared_memory_mb", "tmpfs_mb", "image", "version",
                                              "binary_dir"}
    assert spec_of({}).resource_settings() == {}


def test_disk_size_gb_is_disk_size_by_its_other_name():
    assert spec_of({"database": {"disk": {"sizeGb": 50}}}).database.disk_size == 50
    assert spec_of({"database": {"disk": {"sizeGb": 50}, "diskSize": 50}}).database.disk_size == 50
    assert "set only one of them" in refusal({"database": {"disk": {"sizeGb": 50}, "diskSize": 40}})
    # A plan's disk size yields to the stack's disk.sizeGb, as it yields to its diskSize.
    assert spec_of({"servicePlan": "x2.small", "database": {"disk": {"sizeGb": 7}}}).database.disk_size == 7
    assert spec_of({"proxies": [{"kind": "haproxy", "disk": {"sizeGb": 3}}]}).proxies[0].disk_size == 3


@pytest.mark.parametrize("disk", [
    {"fs": "zfs", "pool": "zpool", "type": "pool", "device": "tank/db", "compression": "zstd"},
    {"fs": "btrfs", "compression": "zstd"}, {"fs": "xfs", "pool": "lvm", "type": "pool", "device": "vg0"},
    {"fs": "directory", "type": "directory", "device": "/data/replstack"}, {"type": "physical", "device": "/dev/sdb"},
    {"fs": "ext4", "compression": "off", "type": "loopback"}, {"type": "volume", "device": "fast"}])
def test_disk_combinations_a_backend_can_make(disk):
    assert spec_of({"database": {"disk": disk}}).database.disk.given() == {f"disk.{k}": v for k, v in disk.items()}


@pytest.mark.parametrize("disk,reason", [
    ({"fs": "ext4", "compression": "zstd"}, "compression 'zstd' with fs 'ext4': ext4 does not compress"),
    ({"fs": "btrfs", "compression": "lz4"}, "btrfs compresses with gzip, zstd only"),
    ({"compression": "lz4"}, "an unset fs does not compress"),
    ({"fs": "xfs", "pool": "zpool"}, "fs 'xfs' in pool 'zpool': a zpool holds zfs"),
    ({"fs": "zfs", "pool": "lvm"}, "a lvm holds ext4, xfs, btrfs"),
    ({"type": "pool", "device": "tank"}, "type 'pool' needs pool zpool or lvm"),
    ({"fs": "directory", "type": "loopback"}, "a directory is both fs and type directory"),
    ({"type": "physical"}, "type 'physical' needs device"),
    ({"type": "physical", "device": "/srv/disk"}, "not a block device path"),
    ({"type": "directory", "device": "/etc/mysql"}, "a directory of the operating system"),
    ({"type": "directory", "device": "data"}, "not an absolute path"),
    ({"device": "/dev/sdb"}, "without type"),
    ({"fs": "ntfs"}, "allowed values"),
])
def test_disk_combinations_refused_with_the_reason(disk, reason):
    text = refusal({"database": {"disk": disk}})
    assert text.startswith("replstack:database.disk") and reason in text


@pytest.mark.parametrize("database,reason", [
    ({"image": "mariadb:latest"}, "is not pinned"), ({"image": "mariadb"}, "is not pinned"),
    ({"version": "latest"}, "is not a pinned version"), ({"version": "11"}, "is not a pinned version"),
    ({"image": "mariadb:11.4.5", "version": "10.11"}, "disagree"),
    ({"tmpfsMb": 256}, "tmpfsMb 256 is not below memory 256"),
    ({"sharedMemoryMb": 4096, "memory": 1024}, "sharedMemoryMb 4096 is not below memory 1024"),
    ({"binaryDir": "bin"}, "is not an absolute path"),
    ({"binaryDir": "/nonexistent/bin"}, "has no executable mariadbd"),
])
def test_resources_refused_naming_the_key(database, reason):
    assert reason in refusal({"database": database})


def test_container_image_follows_image_then_version():
    default = "docker.io/library/mariadb:11.4.5"
    assert spec_of({}).database.container_image(default) == default
    assert spec_of({"database": {"version": "10.11.9"}}).database.container_image(default) == \
        "docker.io/library/mariadb:10.11.9"
    pinned = "registry:5000/db/mariadb:11.4.5@sha256:" + "a" * 64
    assert spec_of({"database": {"image": pinned}}).database.container_image(default) == pinned


def test_binary_dir_is_where_the_local_backend_runs_mariadbd():
    assert spec_of({"database": {"binaryDir": "/usr/sbin"}}).local.mariadb_bin_dir == "/usr/sbin"


def test_each_backend_says_what_it_ignores(tmp_path):
    from components.orchestrators.kube import KubeOrchestrator
    from components.orchestrators.local import LocalOrchestrator

    spec = spec_of({"database": {"memory": 1024, "tmpfsMb": 256, "sharedMemoryMb": 64, "version": "11.4.5",
                                 "binaryDir": "/usr/sbin", "disk": {"fs": "directory", "type": "directory",
                                                                    "device": "/data/db", "sizeGb": 5}},
                    "proxies": [{"kind": "haproxy", "disk": {"fs": "zfs"}}]})
    local = LocalOrchestrator("replstack-t", spec.local, tmp_path, keep_data=False)
    lines = local.ignored_resources(spec.resource_settings())
    assert lines == [
        "replstack:database: sharedMemoryMb (64), tmpfsMb (256), version (11.4.5), disk.sizeGb (5), disk.device "
        "(/data/db) ignored by the local orchestrator (" + LocalOrchestrator.resource_note + ")",
        "replstack:proxies[0]: disk.fs (zfs) ignored by the local orchestrator (" + LocalOrchestrator.resource_note
        + ")"]
    assert local.ignored_resources({}) == []
    assert set(KubeOrchestrator.resource_keys) == {"image", "version", "disk.sizeGb", "sharedMemoryMb", "tmpfsMb"}


# -- database.ports ---------------------------------------------------------------------------------------------
def test_database_ports_pin_nodes_by_name_and_win_over_port():
    spec = spec_of({"database": {"nodes": 3, "port": 13306, "ports": {"db1": 3306, "db5": 3310}}})
    assert spec.fixed_ports() == {"db1": ({"mysql": 3306}, "replstack:database.ports.db1"),
                                  "db2": ({"mysql": 13307}, "replstack:database.port"),
                                  "db3": ({"mysql": 13308}, "replstack:database.port")}
    assert spec_of({"database": {"ports": {"db2": 3307}}}).fixed_ports() == {
        "db2": ({"mysql": 3307}, "replstack:database.ports.db2")}


@pytest.mark.parametrize("ports,reason", [
    ({"primary": 3306}, "replstack:database.ports.primary: is not a node name"),
    ({"db1": 70000}, "replstack:database.ports.db1: 70000 is not a TCP port"),
    ({"db1": 3306, "db2": 3306}, "replstack:database.ports.db2: port 3306 (db2/mysql) is also fixed for db1/mysql"),
])
def test_database_ports_refused_naming_the_key(ports, reason):
    assert reason in refusal({"database": {"nodes": 2, "ports": ports}})


def test_kube_sizes_shared_memory_and_a_tmpfs_tmpdir_and_the_objects_pass_the_schema():
    from components.orchestrators import kube_objects as objects
    from tests.support.kube import validate_strict

    names = objects.Names(cluster="replstack-t", namespace="replstack-t", labels={})
    args = dict(my_cnf="x", image="mariadb:11.4.5", pull_policy="IfNotPresent", memory_mb=1024, cores=1, disk_gb=5,
                storage_class=None)
    plain = objects.node_statefulset(names, "db1", "primary", **args)
    sized = objects.node_statefulset(names, "db1", "primary", **args, shm_mb=64, tmpfs_mb=256)
    validate_strict(sized)
    pod = sized["spec"]["template"]["spec"]
    assert pod["volumes"][1:] == [{"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}},
                                  {"name": "tmpfs", "emptyDir": {"medium": "Memory", "sizeLimit": "256Mi"}}]
    assert pod["containers"][0]["volumeMounts"][2:] == [{"name": "shm", "mountPath": "/dev/shm"},
                                                        {"name": "tmpfs", "mountPath": "/var/lib/replstack/tmp"}]
    # Unset, the StatefulSet is what it was.
    assert plain["spec"]["template"]["spec"]["volumes"] == [{"name": "config", "configMap": {
        "name": "replstack-t-db1-config"}}]
