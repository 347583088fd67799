"""Malformed stack files through a real ``pulumi up``: each fails naming the key and the allowed values, before
any resource exists, and nothing is started."""

from __future__ import annotations

import pytest
from pulumi import automation as auto

from tests.support.bad_configs import BAD_CONFIGS, BadConfig
from tests.support.engine import TempProject, replstack_project
from tests.support.processes import kill_processes_under, processes_under


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("invalid-config")
    project = replstack_project(tmp)
    project.stack("invalid", {})
    try:
        yield project
    finally:
        kill_processes_under(tmp)


@pytest.mark.parametrize("case", BAD_CONFIGS, ids=lambda c: c.id)
def test_up_refuses_malformed_config_and_starts_nothing(project: TempProject, case: BadConfig):
    data_dir = project.root.parent / "data" / case.id
    settings = {f"replstack:{k}": v for k, v in case.config.items()}
    settings["replstack:local"] = {**case.config.get("local", {}), "baseDir": str(data_dir)}
    stack = project.stack("invalid", settings)

    with pytest.raises(auto.CommandError) as failure:
        stack.up(on_output=lambda line: None)
    message = str(failure.value)
    assert "invalid stack configuration" in message
    for fragment in case.expected:
        assert fragment in message, f"{fragment!r} missing from: {message}"
    assert "Traceback" not in message, "a configuration error is reported as such, not as a crash"

    assert not data_dir.exists()
    assert processes_under(data_dir) == []
    resources = stack.export_stack().deployment.get("resources") or []
    assert [r["type"] for r in resources if r["type"] != "pulumi:pulumi:Stack"] == []
