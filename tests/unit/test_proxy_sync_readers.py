"""The proxy-sync readers of ProxySQL (``runtime_mysql_servers``) and MaxScale (``GET /v1/servers``), against
recorded answers in ``tests/unit/recorded/`` (hand-written in the documented formats: see its README)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from components.proxies.maxscale_rest import ServerState, server_states
from components.proxies.proxysql_admin import ServerStatus, server_statuses

RECORDED = Path(__file__).parent / "recorded"
NAMES = {("127.0.0.1", 23305 + i): f"db{i}" for i in range(1, 6)}


def recorded(name: str):
    return json.loads((RECORDED / name).read_text())


# -- ProxySQL ------------------------------------------------------------------------------------------------------
def test_proxysql_rows_of_a_healthy_cluster():
    statuses = server_statuses(recorded("proxysql_runtime_servers_healthy.json"), names=NAMES)
    assert statuses == [ServerStatus(10, "write", "db1", "ONLINE"), ServerStatus(20, "read", "db2", "ONLINE"),
                        ServerStatus(20, "read", "db3", "ONLINE"), ServerStatus(20, "read", "db1", "ONLINE")]
    assert all(s.healthy for s in statuses)


def test_proxysql_rows_of_a_degraded_cluster():
    statuses = {(s.backend, s.server): s for s in server_statuses(
        recorded("proxysql_runtime_servers_degraded.json"), names=NAMES)}
    assert {key: (s.status, s.healthy) for key, s in statuses.items()} == {
        ("write", "db1"): ("ONLINE", True),
        ("read", "db2"): ("SHUNNED", False),        # lagging past max_replication_lag, or replication stopped
        ("read", "db3"): ("OFFLINE_HARD", False),
        ("read", "db4"): ("OFFLINE_SOFT", False),
        ("read", "db1"): ("ONLINE", True),
    }


def test_proxysql_rows_without_names_and_other_hostgroups():
    rows = [{"hostgroup_id": 30, "hostname": "10.0.0.5", "port": 3306, "status": "online"}]
    assert server_statuses(rows) == [ServerStatus(30, "30", "10.0.0.5:3306", "ONLINE")]
    assert server_statuses(rows, writer_hostgroup=30)[0].backend == "write"


@pytest.mark.parametrize("row", [
    {"hostgroup_id": "10", "hostname": "127.0.0.1", "port": "23306"},
    {"hostgroup_id": "ten", "hostname": "127.0.0.1", "port": "23306", "status": "ONLINE"},
    {"hostgroup_id": "10", "hostname": "127.0.0.1", "port": "23306", "status": "UP"},
])
def test_proxysql_rows_of_another_shape_fail_loudly(row):
    with pytest.raises(ValueError, match="runtime_mysql_servers"):
        server_statuses([row])


# -- MaxScale -------------------------------------------------------------------------------------------------------
def test_maxscale_servers_of_a_healthy_cluster():
    states = server_states(recorded("maxscale_v1_servers_healthy.json"))
    assert [(s.server, s.address, s.port, s.role, s.healthy) for s in states] == [
        ("db1", "127.0.0.1", 23306, "primary", True),
        ("db2", "127.0.0.1", 23307, "replica", True),
        ("db3", "127.0.0.1", 23308, "replica", True),
    ]
    assert states[0].state == frozenset({"Master", "Running"})


def test_maxscale_servers_of_a_degraded_cluster():
    states = {s.server: s for s in server_states(recorded("maxscale_v1_servers_degraded.json"))}
    assert {name: (s.role, s.healthy) for name, s in states.items()} == {
        "db1": ("primary", True),
        "db2": (None, False),        # running, but the monitor took its Slave status: replication stopped
        "db3": (None, False),        # Down
        "db4": ("replica", False),   # in maintenance
        "db5": ("replica", False),   # the monitor cannot log in: its state is not known
    }


@pytest.mark.parametrize("document", [
    {},
    {"data": {"id": "db1"}},
    {"data": [{"id": "db1", "attributes": {"state": "Running"}}]},
    {"data": [{"id": "db1", "attributes": {"parameters": {"address": "127.0.0.1", "port": 3306}}}]},
    {"data": [{"id": "db1", "attributes": {"state": "Running", "parameters": {"address": "x", "port": "p"}}}]},
])
def test_maxscale_documents_of_another_shape_fail_loudly(document):
    with pytest.raises(ValueError, match="/v1/servers"):
        server_states(document)


def test_a_maxscale_state_is_a_set_of_words():
    state = ServerState("db2", "127.0.0.1", 3307, frozenset({"Slave", "Running", "Draining"}))
    assert state.role == "replica" and not state.healthy
