"""The ``kube`` backend applied to a real API server: kube-apiserver, etcd and kube-controller-manager built from
their Go modules (``scripts/setup --kube-apiserver``, cached) and started on free loopback ports in a temporary
directory. Through ``scripts/pulumi`` with the kubeconfig given as a stack secret: ``up`` creates every object
(checked by reading them back through the API; the controllers make the pods and the PVCs, which stay Pending:
there is no container runtime, scheduler or kubelet here, hence ``skipAwait`` and ``bootstrap: false``), a second
``preview`` shows no change, a resize (3 -> 2 nodes, more memory) previews as the objects that change, ``up``
applies it, and ``destroy`` deletes everything: the namespace is gone, checked through the API."""

from __future__ import annotations

import time

import pytest

from tests.integration.test_kube_render import kube_steps
from tests.support.cli import CliStack, cli_stack
from tests.support.kube import ApiServer, api_server, setup_kube

pytestmark = pytest.mark.timeout(3600)

STACK = "kubeapply"
CLUSTER = f"replstack-{STACK}"
NS = f"/api/v1/namespaces/{CLUSTER}"
APPS = f"/apis/apps/v1/namespaces/{CLUSTER}"


def kube_config(nodes: int = 3, memory: int = 512) -> dict:
    return {
        "replstack:orchestrator": "kube",
        "replstack:kube": {"skipAwait": True, "bootstrap": False, "storageClass": "standard"},
        "replstack:database": {"nodes": nodes, "memory": memory, "diskSize": 5,
                               "snapshots": {"enabled": True, "schedule": "manual", "keep": 3}},
        "replstack:proxies": [{"kind": "haproxy"}],
    }


def configure(stack: CliStack, server: ApiServer, **sizes: int) -> None:
    stack.write_config(kube_config(**sizes))
    # The kubeconfig as a user gives it: a secret, on standard input.
    stack.run("config", "set", "--secret", "--path", "replstack:kube.kubeconfig",
              stdin=server.kubeconfig.read_text()).ok()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    setup_kube(apiserver=True)
    tmp = tmp_path_factory.mktemp("kube-apply")
    monkey = pytest.MonkeyPatch()
    monkey.setenv("KUBECONFIG", str(tmp / "no-ambient-kubeconfig"))
    with api_server(tmp / "apiserver") as server:
        stack = cli_stack(tmp, {}, name=STACK)
        configure(stack, server)
        try:
            stack.up().ok()
            yield stack, server
        finally:
            stack.run("destroy", "--yes")
            stack.run("stack", "rm", "--yes", "--force")
            monkey.undo()


def wait_for(what, check, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def test_up_creates_every_object(cluster):
    _, server = cluster
    assert server.get(NS)["status"]["phase"] == "Active"
    assert server.names(f"{APPS}/statefulsets") == [f"{CLUSTER}-db1", f"{CLUSTER}-db2", f"{CLUSTER}-db3"]
    assert server.names(f"{APPS}/deployments") == [f"{CLUSTER}-haproxy1"]
    assert server.names(f"{NS}/services") == sorted(f"{CLUSTER}-{s}" for s in ("db", "haproxy1", "read", "write"))
    assert {f"{CLUSTER}-credentials", f"{CLUSTER}-haproxy1-check"} <= set(server.names(f"{NS}/secrets"))
    assert {f"{CLUSTER}-db{i}-config" for i in (1, 2, 3)} | {f"{CLUSTER}-haproxy1-config"} <= set(
        server.names(f"{NS}/configmaps"))
    cronjob = server.get(f"/apis/batch/v1/namespaces/{CLUSTER}/cronjobs/{CLUSTER}-snapshots")
    assert cronjob["spec"]["suspend"] is True  # schedule: manual
    assert server.names(f"/apis/rbac.authorization.k8s.io/v1/namespaces/{CLUSTER}/roles") == [f"{CLUSTER}-snapshots"]
    sts = server.get(f"{APPS}/statefulsets/{CLUSTER}-db2")
    assert sts["metadata"]["labels"]["replstack.io/role"] == "replica"
    assert sts["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"] == "512Mi"


def test_the_controllers_make_pods_and_volumes_that_wait_for_a_node(cluster):
    _, server = cluster
    pods = wait_for("pods", lambda: (lambda n: n if len(n) == 4 else None)(server.names(f"{NS}/pods")))
    assert {f"{CLUSTER}-db1-0", f"{CLUSTER}-db2-0", f"{CLUSTER}-db3-0"} <= set(pods)
    pod = server.get(f"{NS}/pods/{CLUSTER}-db1-0")
    assert pod["status"]["phase"] == "Pending"  # no scheduler, no kubelet
    env = pod["spec"]["containers"][0]["env"][0]
    assert env["valueFrom"]["secretKeyRef"]["name"] == f"{CLUSTER}-credentials"
    claims = wait_for("PVCs", lambda: (lambda n: n if len(n) == 3 else None)(
        server.names(f"{NS}/persistentvolumeclaims")))
    assert claims == [f"data-{CLUSTER}-db{i}-0" for i in (1, 2, 3)]
    claim = server.get(f"{NS}/persistentvolumeclaims/data-{CLUSTER}-db1-0")
    assert claim["spec"]["resources"]["requests"]["storage"] == "5Gi"
    assert claim["spec"]["storageClassName"] == "standard"


def test_a_second_preview_shows_no_change(cluster):
    stack, _ = cluster
    stack.expect_no_changes().ok()


def test_a_resize_previews_applies_and_destroy_deletes_everything(cluster):
    """Last in the module: it changes the stack, then destroys it."""
    stack, server = cluster
    configure(stack, server, nodes=2, memory=1024)
    preview = stack.preview_diff().ok().output
    steps = kube_steps(preview)
    assert steps.get("delete") == {"db3", "db3-config"}, preview
    changed = steps.get("update", set()) | steps.get("replace", set())
    assert changed == {"db1", "db2", "db1-config", "db2-config", "haproxy1", "haproxy1-config"}, preview
    assert not steps.get("create"), preview
    stack.up().ok()
    assert server.names(f"{APPS}/statefulsets") == [f"{CLUSTER}-db1", f"{CLUSTER}-db2"]
    sts = server.get(f"{APPS}/statefulsets/{CLUSTER}-db1")
    assert sts["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"] in ("1Gi", "1024Mi")
    assert f"{CLUSTER}-db3-config" not in server.names(f"{NS}/configmaps")

    stack.run("destroy", "--yes").ok()
    status, _ = server.request("GET", NS)
    assert status == 404, "the namespace is still there after destroy"
    for kind in ("statefulsets", "deployments"):
        assert server.names(f"{APPS}/{kind}") == []
    assert server.names(f"/apis/batch/v1/namespaces/{CLUSTER}/cronjobs") == []
