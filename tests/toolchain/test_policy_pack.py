"""The project's policy pack runs through the language host (RunPlugin) on a real preview, offline.

Each rule is shown failing a preview, naming the rule, on a stack (the real program) or a stand-in program that
breaks it (tests/toolchain/programs/policy_nodes: resources of the real types with inputs the spec never
produces), and a compliant stack passes."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
from pulumi import automation as auto

from components.spec import POLICY_RULES
from tests.support.cluster import cluster_config
from tests.support.engine import PROJECT_DIR, replstack_project, temp_project

POLICIES = str(PROJECT_DIR / "policies")
PROGRAMS = PROJECT_DIR / "tests" / "toolchain" / "programs"
DIGEST = "sha256:" + "ab" * 32


def standin(tmp_path: Path, config: dict) -> auto.Stack:
    """The stand-in program in a temporary project, with the project's components linked in (its StackPolicy
    is the real one)."""
    project = temp_project(tmp_path, PROGRAMS / "policy_nodes")
    (project.root / "components").symlink_to(PROJECT_DIR / "components")
    return project.stack("policy", {f"replstack:{key}": value for key, value in config.items()})


def preview_fails(stack: auto.Stack, rule: str) -> str:
    with pytest.raises(auto.CommandError) as failure:
        stack.preview(policy_packs=[POLICIES], on_output=lambda line: None)
    text = str(failure.value)
    assert rule in text and "mandatory" in text, text
    return text


def preview_passes(stack: auto.Stack) -> str:
    lines: list[str] = []
    stack.preview(policy_packs=[POLICIES], on_output=lines.append)
    return "\n".join(lines)


def policy(**settings) -> dict:
    """StackPolicy inputs as the real program makes them, for a compliant 3-node cluster with a proxy."""
    return {"environment": "development", "policyOverrides": {}, "allowDataLoss": False, "keepData": False,
            "nodes": ["db1", "db2", "db3"], "primary": "db1", "proxies": [{"name": "haproxy1", "kind": "haproxy",
                                                                             "cores": 1}],
            "plan": None, "database": {"memory": 256, "cores": 1}, "snapshotsSupported": False, "snapshots": None,
            **settings}


def haproxy(name: str = "haproxy1", **inputs) -> dict:
    return {"kind": "HAProxy", "name": name, "inputs": inputs}


def test_the_spec_knows_every_rule_of_the_pack():
    """policyOverrides may name exactly the pack's rules (besides policy-overrides itself)."""
    tree = ast.parse((PROJECT_DIR / "policies" / "__main__.py").read_text())
    names = [node.args[0].value for node in ast.walk(tree)
             if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "_rule"]
    assert sorted(names) == sorted((*POLICY_RULES, "policy-overrides"))


# -- the real program ------------------------------------------------------------------------------------------
def test_single_node_cluster_gets_the_advisory_high_availability_warning(tmp_path):
    project = replstack_project(tmp_path)
    stack = project.stack("policy", cluster_config(tmp_path / "data", nodes=1, proxies=[]))
    lines: list[str] = []
    preview = stack.preview(policy_packs=[POLICIES], on_output=lines.append)
    text = "\n".join(lines)
    assert "high-availability" in text and "single database node" in text
    assert preview.change_summary.get("create", 0) > 0
    assert not (tmp_path / "data").exists(), "a preview starts nothing"


def test_a_production_stack_needs_three_nodes_a_proxy_and_snapshots(tmp_path):
    project = replstack_project(tmp_path)
    stack = project.stack("production", cluster_config(tmp_path / "data", nodes=1, proxies=[],
                                                       environment="production"))
    text = preview_fails(stack, "production-ready")
    assert "1 database node(s), fewer than 3" in text and "has no proxy" in text
    assert "takes no snapshots" in text and "database.snapshots.enabled" in text
    assert "replstack:database.nodes" in text, "the message says how to fix it"


def test_a_compliant_production_stack_passes_with_no_violation(tmp_path):
    project = replstack_project(tmp_path)
    config = cluster_config(tmp_path / "data", nodes=3, environment="production")
    config["replstack:database"]["snapshots"] = {"enabled": True, "keep": 3}
    stack = project.stack("production", config)
    text = preview_passes(stack)
    assert "production-ready" not in text and "mandatory" not in text, text
    assert not (tmp_path / "data").exists()


def test_an_override_in_the_stack_file_lowers_a_rule_and_shows_in_the_preview(tmp_path):
    project = replstack_project(tmp_path)
    overrides = {"production-ready": {"level": "advisory", "reason": "a one-host rehearsal of production"}}
    stack = project.stack("production", cluster_config(tmp_path / "data", nodes=1, proxies=[],
                                                       environment="production", policyOverrides=overrides))
    text = preview_passes(stack)
    assert "rule production-ready is lowered to advisory" in text and "a one-host rehearsal" in text, text
    assert "production-ready" in text and "fewer than 3" in text, "the violation is still reported, as advisory"


def test_an_override_naming_no_rule_is_refused_by_the_spec(tmp_path):
    project = replstack_project(tmp_path)
    overrides = {"production-redy": {"level": "advisory", "reason": "typo"}}
    stack = project.stack("production", cluster_config(tmp_path / "data", policyOverrides=overrides))
    with pytest.raises(auto.CommandError) as failure:
        stack.preview(policy_packs=[POLICIES], on_output=lambda line: None)
    assert "replstack:policyOverrides" in str(failure.value) and "production-ready" in str(failure.value)


def test_cores_above_the_chosen_plan_fail_within_plan(tmp_path):
    from components import spec as spec_module
    if "service_plan" not in spec_module.ClusterSpec.model_fields or not _plans_available():
        pytest.skip("service plans are not in this version")
    project = replstack_project(tmp_path)
    config = cluster_config(tmp_path / "data", servicePlan="x3.small")
    del config["replstack:database"]
    config["replstack:database"] = {"memory": 256, "cores": 4}  # memory below the plan's: within it
    stack = project.stack("plan", config)
    text = preview_fails(stack, "within-plan")
    assert "replstack:database.cores is 4, more than servicePlan x3.small gives (2)" in text
    assert "database.memory" not in text


def _plans_available() -> bool:
    try:
        from components import plans  # noqa: F401
    except ImportError:
        return False
    return True


# -- the stand-in program --------------------------------------------------------------------------------------
def test_a_compliant_stand_in_passes(tmp_path):
    proxy = haproxy(placement={"host": "192.0.2.11", "ports": {"write": 3306, "read": 3307}}, image="haproxy:3.0.5",
                    password="s3cret")
    proxy["secrets"] = ["password"]
    stack = standin(tmp_path, {
        "readOnly": [0, 1, 1],
        "resources": [proxy, {"kind": "MaxScale", "name": "maxscale1",
                              "inputs": {"image": f"mariadb/maxscale@{DIGEST}"}}],
        "stackPolicy": policy(environment="production"),
    })
    text = preview_passes(stack)
    assert "mandatory" not in text and "violation" not in text.lower(), text


def test_two_writable_nodes_fail_the_mandatory_policy(tmp_path):
    """The spec never lets a stack make two nodes writable; a stand-in program registers such nodes with the
    real resource type, so the rule is seen to match resources by type and to fail the preview."""
    text = preview_fails(standin(tmp_path, {"readOnly": [0, 0, 1]}), "one-writable-primary")
    assert "db1, db2" in text


def test_no_writable_node_fails_one_writable_primary(tmp_path):
    text = preview_fails(standin(tmp_path, {"readOnly": [1, 1]}), "one-writable-primary")
    assert "no writable database node" in text


def test_read_only_must_be_explicit_on_every_node(tmp_path):
    text = preview_fails(standin(tmp_path, {"readOnly": [0, "maybe"]}), "read-only-is-explicit")
    assert "db2" in text


def test_a_password_in_clear_text_fails_no_plain_passwords(tmp_path):
    stack = standin(tmp_path, {"resources": [
        {"kind": "DatabaseUsers", "module": "bootstrap", "name": "users",
         "inputs": {"rootPassword": "in-clear", "access": {"privateKey": "also-in-clear"},
                    "monitoringPassword": "kept-secret"},
         "secrets": ["monitoringPassword"]}]})
    text = preview_fails(stack, "no-plain-passwords")
    assert "input rootPassword holds a password in clear text" in text
    assert "access.privateKey" in text
    assert "monitoringPassword" not in text, "a secret passes"
    assert "in-clear" not in text, "the value is never repeated"


def test_an_unpinned_image_or_a_foreign_registry_fails_pinned_images(tmp_path):
    stack = standin(tmp_path, {"readOnly": [0, 1, 1], "resources": [
        haproxy("haproxy1", image="haproxy:latest"),
        haproxy("haproxy2", image="haproxy"),
        haproxy("haproxy3", image="registry.example.com/haproxy:3.0.5"),
        haproxy("haproxy4", image=f"haproxy@{DIGEST}")]})
    text = preview_fails(stack, "pinned-images")
    assert "haproxy1: image 'haproxy:latest'" in text and "haproxy2: image 'haproxy'" in text
    assert "registry.example.com, not an allowed registry" in text
    assert "haproxy4: image" not in text, "a digest pins an image"


def test_two_services_on_one_host_port_fail_distinct_ports(tmp_path):
    stack = standin(tmp_path, {"resources": [
        haproxy("haproxy1", placement={"host": "192.0.2.11", "ports": {"write": 3306, "read": 3307}}),
        {"kind": "MariaDBServer", "name": "db1", "inputs": {
            "settings": {"read_only": "0"}, "placement": {"host": "192.0.2.11", "ports": {"mysql": 3306}}}},
        {"kind": "MariaDBServer", "name": "db2", "inputs": {
            "settings": {"read_only": "1"}, "placement": {"host": "192.0.2.12", "ports": {"mysql": 3306}}}}]})
    text = preview_fails(stack, "distinct-ports")
    assert "port 3306 on host 192.0.2.11 is given to" in text and "db1 (mysql)" in text
    assert "192.0.2.12" not in text


def test_removing_nodes_needs_keep_data_or_allow_data_loss_and_never_the_primary(tmp_path):
    """The StackPolicy's check sees the nodes in state: a change that drops some is refused by no-data-loss
    unless the stack keeps data or allows the loss; dropping the primary is refused by keep-primary."""
    stack = standin(tmp_path, {"readOnly": [0, 1, 1], "stackPolicy": policy()})
    stack.up(policy_packs=[POLICIES], on_output=lambda line: None)

    stack.set_config("replstack:stackPolicy", auto.ConfigValue(_json(policy(nodes=["db1", "db2"]))))
    text = preview_fails(stack, "no-data-loss")
    assert "deletes node(s) db3 with their data" in text and "allowDataLoss" in text
    assert "keep-primary" not in text

    stack.set_config("replstack:stackPolicy", auto.ConfigValue(_json(policy(nodes=["db1", "db2"],
                                                                             allowDataLoss=True))))
    assert "mandatory" not in preview_passes(stack)
    stack.set_config("replstack:stackPolicy", auto.ConfigValue(_json(policy(nodes=["db1", "db2"], keepData=True))))
    assert "mandatory" not in preview_passes(stack)

    stack.set_config("replstack:stackPolicy", auto.ConfigValue(_json(policy(nodes=["db2", "db3"], primary="db2",
                                                                             keepData=True))))
    text = preview_fails(stack, "keep-primary")
    assert "removes the primary db1" in text
    stack.destroy(on_output=lambda line: None)


def test_a_production_stand_in_without_snapshots_fails_once_snapshots_exist(tmp_path):
    """snapshots are enforced when the spec has them (snapshotsSupported); until then a production stack
    is not held to them."""
    stack = standin(tmp_path, {"readOnly": [0, 1, 1], "resources": [haproxy()],
                               "stackPolicy": policy(environment="production", snapshotsSupported=True,
                                                     snapshots={"enabled": True, "keep": 0})})
    text = preview_fails(stack, "production-ready")
    assert "snapshots.enabled to true (with keep 1 or more" in text


def _json(value) -> str:
    return json.dumps(value)
