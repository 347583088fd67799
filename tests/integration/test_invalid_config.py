"""Malformed stack files through a real ``pulumi up``: each fails naming the key and the allowed values, before
any resource exists, and nothing is started."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pulumi import automation as auto

from tests.support.bad_configs import BAD_CONFIGS, BadConfig
from tests.support.engine import TempProject, replstack_project
from tests.support.processes import kill_processes_under, processes_under

STACK = "invalid"


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("invalid-config")
    project = replstack_project(tmp)
    project.stack(STACK, {})
    try:
        yield project
    finally:
        kill_processes_under(tmp)


def up_fails_touching_nothing(project: TempProject, config: dict[str, Any], data_dir: Path) -> str:
    """Runs ``up`` with ``config`` (replstack settings without the namespace; ``data_dir`` is the baseDir unless
    the config sets one), checks that it failed as a configuration error and that no cluster directory, process
    or resource exists afterwards. Returns the error text."""
    settings = {f"replstack:{k}": v for k, v in config.items()}
    local = config.get("local", {})
    if "baseDir" not in local:
        settings["replstack:local"] = {**local, "baseDir": str(data_dir)}
    base_dir = (project.root / Path(settings["replstack:local"]["baseDir"]).expanduser()).resolve()
    stack = project.stack(STACK, settings)

    with pytest.raises(auto.CommandError) as failure:
        stack.up(on_output=lambda line: None)
    message = str(failure.value)
    assert "invalid stack configuration" in message
    assert "Traceback" not in message, "a configuration error is reported as such, not as a crash"

    assert not data_dir.exists()
    assert not (base_dir / f"replstack-{STACK}").exists(), "no cluster directory was made"
    assert processes_under(data_dir) == []
    resources = stack.export_stack().deployment.get("resources") or []
    assert [r["type"] for r in resources if r["type"] != "pulumi:pulumi:Stack"] == []
    return message


@pytest.mark.parametrize("case", BAD_CONFIGS, ids=lambda c: c.id)
def test_up_refuses_malformed_config_and_starts_nothing(project: TempProject, case: BadConfig):
    message = up_fails_touching_nothing(project, case.config, project.root.parent / "data" / case.id)
    for fragment in case.expected:
        assert fragment in message, f"{fragment!r} missing from: {message}"


# Ways to start a server that accepts any password (skip-grant-tables) through database.settings: a value that
# opens a new section, the option itself, its loose_/dashed spelling, the server's prefix abbreviation, and an
# init file or a library that could grant anything.
INJECTIONS: dict[str, dict[str, Any]] = {
    "value-opens-a-section": {"innodb_buffer_pool_size": "128M\n[mysqld]\nskip-grant-tables"},
    "value-with-carriage-return": {"innodb_buffer_pool_size": "128M\r\n[mariadbd]\r\nskip_grant_tables=1"},
    "option-itself": {"skip_grant_tables": 1},
    "loose-dashed-spelling": {"loose-skip-grant-tables": "ON"},
    "abbreviated-name": {"skip-grant-tab": 1},
    "init-file": {"init_file": "/tmp/grant-everything.sql"},
    "foreign-plugin-library": {"plugin_load_add": "evil=/tmp/evil.so"},
}


@pytest.mark.parametrize("settings", list(INJECTIONS.values()), ids=list(INJECTIONS))
def test_my_cnf_injection_never_yields_a_server(project: TempProject, settings: dict[str, Any]):
    """No server can come up to accept a wrong password: ``up`` fails on the setting, naming it, before any
    config is written or process started."""
    data_dir = project.root.parent / "data" / "injection"
    message = up_fails_touching_nothing(project, {"database": {"nodes": 1, "settings": settings}}, data_dir)
    for key in settings:
        assert f"replstack:database.settings.{key}" in message, message
    assert "allowed" in message
