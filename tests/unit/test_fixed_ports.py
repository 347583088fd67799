"""Ports a stack fixes: what the spec accepts and refuses, and the lease taking them (or refusing, naming who
holds the port)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from components.orchestrators import ports
from components.spec import SpecError, load_spec


def refusal(config: dict) -> str:
    with pytest.raises(SpecError) as failure:
        load_spec(config)
    return str(failure.value)


def test_database_port_gives_each_node_the_next_one():
    spec = load_spec({"database": {"nodes": 3, "port": 13306}, "proxies": [{"kind": "haproxy",
                                                                             "ports": {"write": 13400}}]})
    assert spec.fixed_ports() == {"db1": ({"mysql": 13306}, "replstack:database.port"),
                                  "db2": ({"mysql": 13307}, "replstack:database.port"),
                                  "db3": ({"mysql": 13308}, "replstack:database.port"),
                                  "haproxy1": ({"write": 13400}, "replstack:proxies[0].ports")}


def test_no_fixed_port_by_default():
    assert load_spec({}).fixed_ports() == {}


def test_a_listener_the_kind_does_not_have_is_refused_naming_the_allowed_ones():
    text = refusal({"proxies": [{"kind": "haproxy", "ports": {"writer": 13400}}]})
    assert "replstack:proxies[0].ports: 'writer' is not a listener of haproxy; allowed: write, read, stats" in text


def test_a_port_fixed_twice_is_refused():
    text = refusal({"database": {"nodes": 3, "port": 13306}, "proxies": [{"kind": "haproxy",
                                                                          "ports": {"write": 13308}}]})
    assert "replstack:proxies[0].ports: port 13308 (haproxy1/write) is also fixed for db3/mysql" in text


def test_a_base_port_without_room_for_every_node_is_refused():
    assert "replstack:database.port: 65535 + 2" in refusal({"database": {"nodes": 3, "port": 65535}})


@pytest.mark.parametrize("port", [0, 70000])
def test_a_port_out_of_range_is_refused(port):
    assert "replstack:database.port" in refusal({"database": {"port": port}})


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_lease_takes_a_fixed_port_and_keeps_it(tmp_path: Path):
    port = free_port()
    leased = ports.lease(tmp_path, "db1", "127.0.0.1", ["mysql"], fixed={"mysql": port})
    assert leased == {"mysql": port}
    assert ports.lease(tmp_path, "db1", "127.0.0.1", ["mysql"], fixed={"mysql": port}) == {"mysql": port}
    # No longer fixed: the service keeps the port it holds.
    assert ports.lease(tmp_path, "db1", "127.0.0.1", ["mysql"]) == {"mysql": port}


def test_the_lease_refuses_a_fixed_port_another_service_of_the_cluster_holds(tmp_path: Path):
    port = free_port()
    ports.lease(tmp_path, "db1", "127.0.0.1", ["mysql"], fixed={"mysql": port})
    with pytest.raises(ports.FixedPortUnavailable, match=f"port {port} .db2/mysql, fixed by the stack. is held by db1"):
        ports.lease(tmp_path, "db2", "127.0.0.1", ["mysql"], fixed={"mysql": port})


def test_the_lease_refuses_a_fixed_port_in_use_naming_the_key(tmp_path: Path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ports.FixedPortUnavailable) as failure:
            ports.lease(tmp_path, "db1", "127.0.0.1", ["mysql"], fixed={"mysql": port},
                        fixed_by="replstack:database.port")
    assert f"port {port} (db1/mysql, fixed by replstack:database.port) is in use on 127.0.0.1" in str(failure.value)
    assert ports.recorded(tmp_path, "db1") is None, "nothing is recorded for a lease that failed"
