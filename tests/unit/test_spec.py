"""The stack model: defaults, aliases, and one clear error per malformed setting."""

from __future__ import annotations

import pytest

from components.spec import ClusterSpec, SpecError, config_from_pulumi_env, load_spec
from tests.support.bad_configs import BAD_CONFIGS, BadConfig


def test_defaults_are_a_three_node_local_mariadb_cluster():
    spec = load_spec({})
    assert spec.orchestrator == "local"
    assert spec.database.node_names() == ["db1", "db2", "db3"]
    assert spec.primary_name() == "db1"
    assert spec.database.memory == 256 and spec.database.max_connections == 1000
    assert spec.proxies == [] and spec.serialized is False and spec.keep_data is False


def test_proxies_get_names_by_kind():
    spec = load_spec({"proxies": [{"kind": "haproxy"}, {"kind": "haproxy", "name": "edge"}, {"kind": "haproxy"}]})
    assert [p.name for p in spec.proxy_services()] == ["haproxy1", "edge", "haproxy3"]


def test_replication_manager_keys_are_accepted_as_aliases():
    spec = load_spec({"prov-db-memory": "1024", "prov-db-tags": "semisync,pfs", "prov-serialized": "true"})
    assert spec.database.memory == 1024
    assert spec.database.tags == ["semisync", "pfs"]
    assert spec.serialized is True


def test_pulumi_config_values_are_decoded():
    raw = {"replstack:database": '{"nodes": 2}', "replstack:orchestrator": "local", "other:key": "x",
           "replstack:serialized": "true"}
    assert config_from_pulumi_env(raw) == {"database": {"nodes": 2}, "orchestrator": "local", "serialized": True}


def test_root_password_never_prints():
    spec = load_spec({"rootPassword": "s3cret-value"})
    assert "s3cret-value" not in repr(spec) and "s3cret-value" not in str(spec.model_dump())


@pytest.mark.parametrize("case", BAD_CONFIGS, ids=lambda c: c.id)
def test_malformed_setting_names_key_and_allowed_values(case: BadConfig):
    with pytest.raises(SpecError) as failure:
        load_spec(case.config)
    message = str(failure.value)
    for fragment in case.expected:
        assert fragment in message, f"{fragment!r} missing from: {message}"


def test_every_problem_is_reported_at_once():
    with pytest.raises(SpecError) as failure:
        load_spec({"database": {"nodes": 0, "memory": 1}, "orchestrator": "nope"})
    message = str(failure.value)
    assert "database.nodes" in message and "database.memory" in message and "orchestrator" in message
    assert len(message.splitlines()) == 3


def test_at_least_fifteen_malformed_cases():
    assert len(BAD_CONFIGS) >= 15
    assert ClusterSpec.model_fields  # the model exists with fields
