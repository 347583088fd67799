"""The project's policy pack runs through the language host (RunPlugin) on a real preview, offline."""

from __future__ import annotations

import pytest
from pulumi import automation as auto

from tests.support.cluster import cluster_config
from tests.support.engine import PROJECT_DIR, replstack_project, temp_project

POLICIES = str(PROJECT_DIR / "policies")
PROGRAMS = PROJECT_DIR / "tests" / "toolchain" / "programs"


def test_single_node_cluster_gets_the_advisory_high_availability_warning(tmp_path):
    project = replstack_project(tmp_path)
    stack = project.stack("policy", cluster_config(tmp_path / "data", nodes=1, proxies=[]))
    lines: list[str] = []
    preview = stack.preview(policy_packs=[POLICIES], on_output=lines.append)
    text = "\n".join(lines)
    assert "high-availability" in text and "single database node" in text
    assert preview.change_summary.get("create", 0) > 0
    assert not (tmp_path / "data").exists(), "a preview starts nothing"


def test_two_writable_nodes_fail_the_mandatory_policy(tmp_path):
    """The spec never lets a stack make two nodes writable; a stand-in program registers such nodes with the
    real resource type, so the rule is seen to match resources by type and to fail the preview."""
    project = temp_project(tmp_path, PROGRAMS / "policy_nodes")
    stack = project.stack("policy", {"replstack:readOnly": [0, 0, 1]})
    with pytest.raises(auto.CommandError) as failure:
        stack.preview(policy_packs=[POLICIES], on_output=lambda line: None)
    assert "one-writable-primary" in str(failure.value)
    assert "db1, db2" in str(failure.value)


def test_read_only_must_be_explicit_on_every_node(tmp_path):
    project = temp_project(tmp_path, PROGRAMS / "policy_nodes")
    stack = project.stack("policy", {"replstack:readOnly": [0, "maybe"]})
    with pytest.raises(auto.CommandError) as failure:
        stack.preview(policy_packs=[POLICIES], on_output=lambda line: None)
    assert "read-only-is-explicit" in str(failure.value) and "db2" in str(failure.value)
