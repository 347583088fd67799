"""The kube backend without a cluster: its stack section, its pure object builders against the API's strict
schema, DNS names in haproxy.cfg, and its control channel (``kubectl exec`` relaying a unix socket) with a
stand-in ``kubectl`` that runs the exec'd command on this machine instead of in a pod."""

from __future__ import annotations

import socket
import stat
import sys
import threading
from pathlib import Path

import pytest
from pydantic import ValidationError

from components.configurator.haproxy import host_port
from components.configurator.render import UnsafeValue
from components.orchestrators import kube_objects as objects
from components.orchestrators.kube_channel import KubeHost
from components.orchestrators.kube_config import KubeSpec
from components.spec import SpecError, load_spec
from tests.support.kube import validate_strict

NAMES = objects.Names(cluster="replstack-t", namespace="replstack-t", labels={"team": "db"})


def test_images_must_be_pinned():
    with pytest.raises(ValidationError, match="not pinned"):
        KubeSpec.model_validate({"images": {"mariadb": "mariadb:latest"}})
    with pytest.raises(ValidationError, match="not pinned"):
        KubeSpec.model_validate({"images": {"haproxy": "haproxy"}})
    digest = "docker.io/library/mariadb@sha256:" + "a" * 64
    assert KubeSpec.model_validate({"images": {"mariadb": digest}}).images.mariadb == digest


def test_section_errors_name_the_key():
    with pytest.raises(SpecError) as failure:
        load_spec({"orchestrator": "kube", "kube": {"namespace": "Bad_Name"}})
    assert "replstack:kube.namespace" in str(failure.value) and "DNS label" in str(failure.value)
    with pytest.raises(SpecError) as failure:
        load_spec({"orchestrator": "kube", "kube": {"renderDirectory": "out", "context": "prod"}})
    assert "cannot be combined" in str(failure.value)
    with pytest.raises(SpecError) as failure:
        load_spec({"orchestrator": "kube"})
    assert "needs its section replstack:kube" in str(failure.value)
    with pytest.raises(SpecError) as failure:
        load_spec({"orchestrator": "kube", "kube": {"labels": {"replstack.io/cluster": "x"}}})
    assert "replstack sets those" in str(failure.value)
    assert load_spec({"orchestrator": "kube", "kube": {}}).kube.bootstrap is True


def every_object() -> list[dict]:
    return [
        objects.namespace(NAMES), objects.credentials(NAMES, "pw"), objects.headless_service(NAMES),
        objects.node_config(NAMES, "db1", "primary", "[mariadbd]\n"),
        objects.node_statefulset(NAMES, "db1", "primary", my_cnf="x", image="mariadb:11.4.5",
                                 pull_policy="IfNotPresent", memory_mb=256, cores=1, disk_gb=5, storage_class=None),
        objects.proxy_config(NAMES, "haproxy1", "global\n"),
        objects.proxy_check_secret(NAMES, "haproxy1", {"check.cnf": "x"}),
        objects.proxy_deployment(NAMES, "haproxy1", haproxy_cfg="c", files={"check.cnf": "x"},
                                 file_modes={"check.cnf": 0o600}, image="haproxy:3.0.10", pull_policy="Always",
                                 memory_mb=64, cores=1),
        objects.proxy_service(NAMES, "haproxy1"),
        *objects.client_services(NAMES, primary="db1", replicas=[], proxies=False),
        *objects.snapshot_account(NAMES),
        objects.snapshot_cronjob(NAMES, "db2", schedule="30 2 * * *", keep=3, snapshot_class="csi-snap",
                                 image="docker.io/alpine/k8s:1.34.2", pull_policy="IfNotPresent"),
    ]


def test_every_builder_passes_strict_validation():
    for obj in every_object():
        validate_strict(obj)


def test_strict_validation_catches_a_wrong_field():
    service = objects.proxy_service(NAMES, "haproxy1")
    service["spec"]["ports"][0]["port"] = "3306"
    with pytest.raises(Exception, match="3306"):
        validate_strict(service)
    service = objects.proxy_service(NAMES, "haproxy1")
    service["spec"]["selectors"] = {}
    with pytest.raises(Exception):
        validate_strict(service)


def test_without_proxies_clients_reach_the_primary_and_replicas_directly():
    write, read = objects.client_services(NAMES, primary="db1", replicas=["db2"], proxies=False)
    assert write["spec"]["selector"]["replstack.io/service"] == "db1"
    assert read["spec"]["selector"]["replstack.io/role"] == "replica"
    _, alone = objects.client_services(NAMES, primary="db1", replicas=[], proxies=False)
    assert alone["spec"]["selector"]["replstack.io/service"] == "db1"


def test_a_config_change_changes_the_pod_template():
    one, two = (objects.node_statefulset(NAMES, "db1", "primary", my_cnf=text, image="mariadb:11.4.5",
                                         pull_policy="IfNotPresent", memory_mb=256, cores=1, disk_gb=5,
                                         storage_class=None) for text in ("a", "b"))
    hashes = [s["spec"]["template"]["metadata"]["annotations"]["replstack.io/config-hash"] for s in (one, two)]
    assert hashes[0] != hashes[1]


def test_keep_data_keeps_the_volumes():
    kept = objects.node_statefulset(NAMES, "db1", "primary", my_cnf="a", image="mariadb:11.4.5",
                                    pull_policy="IfNotPresent", memory_mb=256, cores=1, disk_gb=5,
                                    storage_class=None, keep_data=True)
    assert kept["spec"]["persistentVolumeClaimRetentionPolicy"]["whenDeleted"] == "Retain"


def test_snapshots_are_volume_snapshots_of_the_nodes_volume_kept_by_count(tmp_path):
    job = objects.snapshot_cronjob(NAMES, "db2", schedule="manual", keep=3, snapshot_class=None,
                                   image="docker.io/alpine/k8s:1.34.2", pull_policy="IfNotPresent")
    assert job["spec"]["suspend"] is True  # manual: taken with kubectl create job --from=cronjob/...
    script = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["command"][2]
    assert "persistentVolumeClaimName: data-replstack-t-db2-0" in script and "volumeSnapshotClassName" not in script
    assert "tail -n +4" in script
    # The manifest the script applies is a VolumeSnapshot (its CRD is not in the core schemas: checked here).
    import yaml
    manifest = script.split("<<EOF\n", 1)[1].split("\nEOF", 1)[0].replace("$name", "x")
    doc = yaml.safe_load(manifest)
    assert doc["kind"] == "VolumeSnapshot" and doc["metadata"]["labels"]["replstack.io/service"] == "db2"
    assert doc["spec"] == {"source": {"persistentVolumeClaimName": "data-replstack-t-db2-0"}}
    role = objects.snapshot_account(NAMES)[1]
    assert role["rules"][0]["resources"] == ["volumesnapshots"]


def test_haproxy_addresses_accept_dns_names_and_nothing_else():
    assert host_port("replstack-t-db1-0.replstack-t-db.ns.svc.cluster.local", 3306).endswith(".local:3306")
    assert host_port("::1", 3306) == "[::1]:3306"
    for bad in ("db1 backup", "db1#x", "Db1.example", "a..b", "1.2.3.4.5", ""):
        with pytest.raises(UnsafeValue):
            host_port(bad, 3306)


# -- the control channel, with a stand-in kubectl ------------------------------------------------------------
STAND_IN = """#!{python}
# Stand-in kubectl: 'exec [-i] POD [-c C] -- ARGV' runs ARGV on this machine; records its options.
import os, sys
args = sys.argv[1:]
with open(os.environ["KUBECTL_LOG"], "a") as log:
    log.write(" ".join(a for a in args if not a.startswith("/tmp/replstack-kubeconfig")) + "\\n")
    kubeconfig = args[args.index("--kubeconfig") + 1] if "--kubeconfig" in args else None
    if kubeconfig:
        log.write("kubeconfig-mode %o %s\\n" % (os.stat(kubeconfig).st_mode & 0o777, open(kubeconfig).read()))
command = args[args.index("--") + 1:]
os.execvp(command[0], command)
"""


@pytest.fixture
def stand_in(tmp_path, monkeypatch):
    script = tmp_path / "kubectl"
    script.write_text(STAND_IN.format(python=sys.executable))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    log = tmp_path / "kubectl.log"
    monkeypatch.setenv("REPLSTACK_KUBECTL", str(script))
    monkeypatch.setenv("KUBECTL_LOG", str(log))
    return log


def echo_server(path: Path, prefix: bytes) -> threading.Thread:
    """A unix socket that answers each connection with ``prefix`` + what it read until the client's end."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(4)

    def serve() -> None:
        for _ in range(2):
            conn, _ = server.accept()
            data = b""
            while chunk := conn.recv(4096):
                data += chunk
            conn.sendall(prefix + data)
            conn.close()
        server.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return thread


def test_channel_relays_a_unix_socket_over_exec(tmp_path, stand_in):
    path = tmp_path / "admin.sock"
    server = echo_server(path, b"answer:")
    host = KubeHost({"transport": "kube", "namespace": "ns", "pod": "c-db1-0", "container": "mariadb",
                     "kubeconfig": "apiVersion: v1\nkind: Config\n", "context": "test"})
    assert host.unix_request(str(path), b"show stat\n") == b"answer:show stat\n"
    with host.forward_unix(str(path)) as (address, port), socket.create_connection((address, port)) as conn:
        conn.sendall(b"hello")
        conn.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := conn.recv(4096):
            answer += chunk
    assert answer == b"answer:hello"
    server.join(5)
    log = stand_in.read_text()
    assert "--context test --namespace ns exec -i c-db1-0 -c mariadb -- sh -c" in log
    assert "kubeconfig-mode 600 apiVersion: v1" in log


def test_channel_errors_name_the_pod(tmp_path, stand_in):
    host = KubeHost({"transport": "kube", "namespace": "ns", "pod": "c-db1-0", "container": "mariadb"})
    with pytest.raises(Exception, match="pod ns/c-db1-0"):
        host.run(["false"])
    with pytest.raises(Exception, match="pod ns/c-db1-0: unix socket"):
        host.unix_request(str(tmp_path / "missing.sock"), b"x")
