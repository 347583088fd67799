"""Every stack file in stacks/ is a valid stack: the project's shared config (Pulumi.yaml ``config``) merged under
it, as the engine merges them, then validated by the spec, as ``preview`` would before touching anything.

Secrets a stack file cannot hold in clear: a ``secure:`` value (encrypted with its state's passphrase, which a
test does not have) is replaced by a placeholder string, and an onpremise host that names neither ``privateKey``
nor ``password`` gets a placeholder ``privateKey``, standing for the `config set --secret` its comments ask for.
Nothing else is filled in: any other missing or wrong key fails the test."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from components.spec import HostFacts, load_spec

ROOT = Path(__file__).resolve().parents[2]
STACKS = sorted((ROOT / "stacks").glob("Pulumi.*.yaml"))
PLACEHOLDER = "placeholder-for-a-stack-secret"


def project_config() -> dict[str, Any]:
    """The project's ``config`` block, as values (``{value: ...}`` entries unwrapped)."""
    settings = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    out = {}
    for key, entry in (settings.get("config") or {}).items():
        out[key] = entry["value"] if isinstance(entry, dict) and "value" in entry else entry
    return out


def _without_secure(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            return PLACEHOLDER
        return {k: _without_secure(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_secure(v) for v in value]
    return value


def stack_config(path: Path) -> dict[str, Any]:
    """The ``replstack`` settings the program gets for this stack file (namespace stripped)."""
    merged = {**project_config(), **(yaml.safe_load(path.read_text()).get("config") or {})}
    config = {key.split(":", 1)[1]: _without_secure(value) for key, value in merged.items()
              if key.startswith("replstack:")}
    for host in (config.get("onpremise") or {}).get("hosts") or []:
        if "privateKey" not in host and "password" not in host:
            host["privateKey"] = PLACEHOLDER
    return config


def test_the_stacks_directory_has_an_example_per_orchestrator_and_an_environment_pair():
    names = {p.name for p in STACKS}
    from components.orchestrators import registry
    for orchestrator in registry.available():
        assert f"Pulumi.{orchestrator}.yaml" in names, f"no example stack for the {orchestrator} orchestrator"
    assert {"Pulumi.staging.yaml", "Pulumi.production.yaml"} <= names


@pytest.mark.parametrize("path", STACKS, ids=[p.name for p in STACKS])
def test_every_stack_file_is_valid(path: Path, tmp_path: Path):
    text = path.read_text()
    assert text.lstrip().startswith("#"), f"{path.name} starts with no comment saying what it is"
    host = HostFacts(project_dir=ROOT, memory_mb=1 << 20, os_user="replstack-test-user")
    spec = load_spec(stack_config(path), host)
    assert spec.orchestrator in path.name or spec.environment in path.name


def test_the_production_and_staging_stacks_differ_in_what_their_comments_say():
    staging = load_spec(stack_config(ROOT / "stacks" / "Pulumi.staging.yaml"))
    production = load_spec(stack_config(ROOT / "stacks" / "Pulumi.production.yaml"))
    assert (staging.environment, production.environment) == ("staging", "production")
    assert production.database.nodes >= 3 and production.proxies, "production meets production-ready"
    assert production.keep_data and not staging.keep_data
    assert production.database.memory > staging.database.memory
    assert staging.orchestrator == production.orchestrator and staging.bootstrap == production.bootstrap


def test_shared_settings_live_in_the_project_config_not_in_stack_files():
    shared = set(project_config())
    assert shared, "Pulumi.yaml has a config block"
    for path in STACKS:
        own = set(yaml.safe_load(path.read_text()).get("config") or {})
        assert not shared & own, f"{path.name} repeats shared key(s) {shared & own}"


def test_a_secure_value_stands_for_a_secret(tmp_path: Path):
    path = tmp_path / "Pulumi.x.yaml"
    path.write_text("config:\n  replstack:rootPassword:\n    secure: v1:abc\n")
    assert stack_config(path)["rootPassword"] == PLACEHOLDER
