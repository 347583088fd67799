"""The ``kube`` backend, rendered without a cluster: ``scripts/pulumi up`` of a 3-node cluster with HAProxy,
through the real pulumi-kubernetes provider (built by ``scripts/setup --kube``) in ``renderYamlToDirectory``
mode, then every written object checked against the Kubernetes API's strict schema and the project's own
assertions: ports and probes, secrets referenced and never inlined, resources and volumes sized from the spec,
labels naming cluster and role. Then a resize (3 -> 2 nodes, more memory) as the preview shows it and as
``up`` writes it, and ``destroy`` removing every file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.cli import CliStack, cli_stack
from tests.support.engine import PROJECT_DIR
from tests.support.kube import decode_secret, rendered, setup_kube, validate_strict

pytestmark = pytest.mark.timeout(900)

STACK = "kuberender"
CLUSTER = f"replstack-{STACK}"


def kube_config(out: Path, nodes: int = 3, memory: int = 512) -> dict:
    return {
        "replstack:orchestrator": "kube",
        "replstack:kube": {"renderDirectory": str(out), "storageClass": "fast-ssd", "labels": {"team": "db"},
                           "bootstrap": False},
        "replstack:database": {"nodes": nodes, "memory": memory, "cores": 2, "diskSize": 15,
                               "snapshots": {"enabled": True, "schedule": "@daily", "keep": 5, "node": "db2"}},
        "replstack:proxies": [{"kind": "haproxy", "memory": 64}],
    }


@pytest.fixture(scope="module")
def stack(tmp_path_factory, request):
    setup_kube()
    tmp = tmp_path_factory.mktemp("kube-render")
    monkey = pytest.MonkeyPatch()
    # Hermetic: no ambient kubeconfig for the provider to contact.
    monkey.setenv("KUBECONFIG", "")
    stack = cli_stack(tmp, kube_config(tmp / "out"), name=STACK)
    stack.out = tmp / "out"  # type: ignore[attr-defined]
    try:
        stack.up().ok()
        yield stack
    finally:
        stack.run("destroy", "--yes")
        stack.run("stack", "rm", "--yes", "--force")
        monkey.undo()


def kube_steps(preview: str) -> dict[str, set[str]]:
    """The Kubernetes objects a ``preview --diff`` would change, by step (create, update, replace, delete)."""
    found = re.findall(r"^\s*[-+~]+\s*kubernetes:[^:\s]+:\w+: \(([\w-]+)\)\n(?:\s*\[id=.*\]\n)?\s*\[urn=\S+::(\S+)\]",
                       preview, re.M)
    out: dict[str, set[str]] = {}
    for step, name in found:
        out.setdefault(step, set()).add(name)
    return out


def by_kind(objects: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for obj in objects:
        out.setdefault(obj["kind"], []).append(obj)
    return out


def containers(obj: dict) -> list[dict]:
    spec = obj["spec"]["template"]["spec"]
    return spec.get("initContainers", []) + spec["containers"]


def test_every_object_passes_strict_schema_validation(stack: CliStack):
    objects = rendered(stack.out)
    kinds = by_kind(objects)
    assert {k: len(v) for k, v in kinds.items()} == {
        "Namespace": 1, "Secret": 2, "ConfigMap": 4, "StatefulSet": 3, "Service": 4, "Deployment": 1,
        "ServiceAccount": 1, "Role": 1, "RoleBinding": 1, "CronJob": 1}
    for obj in objects:
        validate_strict(obj)


def test_labels_name_the_cluster_and_the_role(stack: CliStack):
    for obj in rendered(stack.out):
        labels = obj["metadata"]["labels"]
        assert labels["replstack.io/cluster"] == CLUSTER and labels["team"] == "db", obj["metadata"]
        if obj["kind"] != "Namespace":
            assert obj["metadata"]["namespace"] == CLUSTER
    sets = {s["metadata"]["name"]: s for s in by_kind(rendered(stack.out))["StatefulSet"]}
    roles = {name: s["spec"]["template"]["metadata"]["labels"]["replstack.io/role"] for name, s in sets.items()}
    assert roles == {f"{CLUSTER}-db1": "primary", f"{CLUSTER}-db2": "replica", f"{CLUSTER}-db3": "replica"}


def test_statefulsets_size_pods_and_volumes_from_the_spec(stack: CliStack):
    for sts in by_kind(rendered(stack.out))["StatefulSet"]:
        assert sts["spec"]["replicas"] == 1 and sts["spec"]["serviceName"] == f"{CLUSTER}-db"
        claim = sts["spec"]["volumeClaimTemplates"][0]["spec"]
        assert claim["storageClassName"] == "fast-ssd" and claim["resources"]["requests"]["storage"] == "15Gi"
        server = sts["spec"]["template"]["spec"]["containers"][0]
        assert server["image"] == "docker.io/library/mariadb:11.4.5"
        assert server["resources"] == {"requests": {"cpu": "2", "memory": "512Mi"},
                                       "limits": {"cpu": "2", "memory": "512Mi"}}
        assert server["ports"] == [{"name": "mysql", "containerPort": 3306, "protocol": "TCP"}]
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert server[probe]["tcpSocket"]["port"] == "mysql"
        for container in containers(sts):
            assert container["resources"]["limits"] and container["resources"]["requests"]


def test_passwords_are_referenced_never_inlined(stack: CliStack):
    objects = rendered(stack.out)
    kinds = by_kind(objects)
    credentials = next(s for s in kinds["Secret"] if s["metadata"]["name"] == f"{CLUSTER}-credentials")
    root_password = decode_secret(credentials)["root-password"]
    assert len(root_password) >= 16
    check = next(s for s in kinds["Secret"] if s["metadata"]["name"] == f"{CLUSTER}-haproxy1-check")
    check_files = decode_secret(check)
    check_password = re.search(r"password\s*=\s*(\S+)", check_files["check.cnf"]).group(1)
    for obj in objects:
        if obj["kind"] == "Secret":
            continue
        text = str(obj)
        assert root_password not in text and check_password not in text, f"{obj['kind']} inlines a password"
    for sts in kinds["StatefulSet"]:
        env = sts["spec"]["template"]["spec"]["containers"][0]["env"]
        assert env == [{"name": "MARIADB_ROOT_PASSWORD", "valueFrom": {"secretKeyRef": {
            "name": f"{CLUSTER}-credentials", "key": "root-password"}}}]
    deployment = kinds["Deployment"][0]
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert volumes["check"]["secret"]["secretName"] == f"{CLUSTER}-haproxy1-check"


def test_configs_are_the_rendered_files_with_pod_addresses(stack: CliStack):
    kinds = by_kind(rendered(stack.out))
    maps = {c["metadata"]["name"]: c["data"] for c in kinds["ConfigMap"]}
    db1 = maps[f"{CLUSTER}-db1-config"]["my.cnf"]
    db2 = maps[f"{CLUSTER}-db2-config"]["my.cnf"]
    assert "read_only = 0" in db1 and "read_only = 1" in db2
    assert "innodb_buffer_pool_size = 307M" in db1  # 60 % of 512 MB
    assert f"report_host = {CLUSTER}-db1-0.{CLUSTER}-db.{CLUSTER}.svc.cluster.local" in db1
    assert "bind_address = 0.0.0.0" in db1 and "datadir = /var/lib/replstack/data" in db1
    haproxy = maps[f"{CLUSTER}-haproxy1-config"]["haproxy.cfg"]
    assert f"server db1 {CLUSTER}-db1-0.{CLUSTER}-db.{CLUSTER}.svc.cluster.local:3306 check" in haproxy
    assert "bind 0.0.0.0:3306" in haproxy and "bind 0.0.0.0:3307" in haproxy


def test_snapshots_are_a_cronjob_of_volume_snapshots(stack: CliStack):
    job = by_kind(rendered(stack.out))["CronJob"][0]
    assert job["spec"]["schedule"] == "@daily" and job["spec"]["suspend"] is False
    pod = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == f"{CLUSTER}-snapshots"
    script = pod["containers"][0]["command"][2]
    assert f"persistentVolumeClaimName: data-{CLUSTER}-db2-0" in script and "tail -n +6" in script


def test_services_route_clients_through_the_proxy(stack: CliStack):
    services = {s["metadata"]["name"]: s["spec"] for s in by_kind(rendered(stack.out))["Service"]}
    assert services[f"{CLUSTER}-db"]["clusterIP"] == "None"
    assert services[f"{CLUSTER}-write"]["ports"][0]["targetPort"] == "write"
    assert services[f"{CLUSTER}-read"]["ports"][0]["targetPort"] == "read"
    assert services[f"{CLUSTER}-write"]["selector"]["app.kubernetes.io/component"] == "proxy"
    proxy = services[f"{CLUSTER}-haproxy1"]
    assert {p["name"]: p["port"] for p in proxy["ports"]} == {"write": 3306, "read": 3307, "stats": 8404}
    outputs = stack.outputs()
    assert outputs["writeEndpoint"] == f"{CLUSTER}-haproxy1.{CLUSTER}.svc.cluster.local:3306"


def test_a_resize_previews_as_the_objects_that_change_then_applies_and_destroy_removes_everything(
        stack: CliStack):
    """Last in the module: it changes the stack."""
    stack.write_config(kube_config(stack.out, nodes=2, memory=1024))
    preview = stack.preview_diff().ok().output
    steps = kube_steps(preview)
    assert steps.get("delete") == {"db3", "db3-config"}, preview
    changed = steps.get("update", set()) | steps.get("replace", set())
    # The others' configs (buffers) and pods (memory); the proxy's config (no db3) and its pod (config hash).
    assert changed == {"db1", "db2", "db1-config", "db2-config", "haproxy1", "haproxy1-config"}, preview
    assert '"512Mi" => "1Gi"' in preview and "+ innodb_buffer_pool_size = 614M" in preview
    stack.up().ok()
    names = {o["metadata"]["name"] for o in rendered(stack.out)}
    assert f"{CLUSTER}-db3" not in names and f"{CLUSTER}-db2" in names
    sts = next(o for o in rendered(stack.out) if o["metadata"]["name"] == f"{CLUSTER}-db1")
    assert sts["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"] in ("1024Mi", "1Gi")
    stack.run("destroy", "--yes").ok()
    assert list((stack.out / "1-manifest").glob("*.yaml")) == []


def test_the_policy_pack_counts_kube_nodes_and_proxies_and_checks_their_images(tmp_path, monkeypatch):
    """``preview --policy-pack policies`` on production kube stacks (rendering: nothing is applied)."""
    monkeypatch.setenv("KUBECONFIG", "")
    policies = str(PROJECT_DIR / "policies")
    config = kube_config(tmp_path / "out", nodes=2)
    config["replstack:environment"] = "production"
    config["replstack:kube"]["images"] = {"mariadb": "quay.io/example/mariadb:11.4.5"}
    stack = cli_stack(tmp_path, config, name="kubepolicy")
    try:
        failed = stack.run("preview", "--policy-pack", policies)
        assert failed.returncode != 0, failed.output
        assert "2 database node(s), fewer than 3" in failed.output and "has no proxy" not in failed.output
        assert "pinned-images" in failed.output and "quay.io" in failed.output
        config = kube_config(tmp_path / "out", nodes=3)
        config["replstack:environment"] = "production"
        stack.write_config(config)
        passed = stack.run("preview", "--policy-pack", policies).ok()
        assert "mandatory" not in passed.output and "production-ready" not in passed.output
        assert not (tmp_path / "out").exists()
    finally:
        stack.run("stack", "rm", "--yes", "--force")
