"""The proxy-sync step against a real HAProxy: it passes once the runtime API shows the expected servers UP,
and fails after its timeout naming what is not routed."""

from __future__ import annotations

import socket

import pytest

from components.configurator.haproxy import PORT_NAMES, Backend, haproxy_paths, render_check_files, render_haproxy_cfg
from components.configurator.placement import Placement
from components.orchestrators import ports
from components.orchestrators.hosts import LocalHost
from components.orchestrators.lifecycle.haproxy import HAProxyProcess
from components.proxysync import ProxySyncError, ProxySyncProvider
from tests.support.processes import kill_processes_under


@pytest.fixture
def closed_port():
    """A port nothing listens on: bound, then released."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_haproxy(tmp_path, primary: Backend, replicas: list[Backend]) -> tuple[HAProxyProcess, dict]:
    leased = ports.lease(tmp_path, "haproxy1", "127.0.0.1", PORT_NAMES)
    placement = Placement("127.0.0.1", leased, str(tmp_path / "haproxy1"))
    proxy = HAProxyProcess(LocalHost(), haproxy_paths(placement))
    files = render_check_files(cluster="t", name="haproxy1", placement=placement, primary=primary.name,
                               check_user="replstack_check", check_password="NotUsed0", client="/usr/bin/mariadb",
                               max_lag=30)
    proxy.write_config(render_haproxy_cfg(cluster="t", name="haproxy1", placement=placement, primary=primary,
                                          replicas=replicas), files)
    proxy.start(timeout=30)
    return proxy, {"name": "haproxy1", "transport": "local", "socket": proxy.paths.socket}


def test_proxy_sync_fails_after_its_timeout_naming_the_servers_not_up(tmp_path, closed_port):
    try:
        proxy, admin = start_haproxy(tmp_path, Backend("db1", "127.0.0.1", closed_port),
                                     [Backend("db2", "127.0.0.1", closed_port)])
        props = {"proxies": [admin], "primary": "db1", "replicas": ["db2"], "timeout": 3}
        with pytest.raises(ProxySyncError) as failure:
            ProxySyncProvider().create(props)
        message = str(failure.value)
        assert "timed out after 3s" in message and "haproxy1" in message
        assert "write/db1 DOWN" in message and "read/db2 DOWN" in message
    finally:
        kill_processes_under(tmp_path)


def test_proxy_sync_fails_for_a_server_the_proxy_does_not_know(tmp_path, closed_port):
    try:
        proxy, admin = start_haproxy(tmp_path, Backend("db1", "127.0.0.1", closed_port), [])
        props = {"proxies": [admin], "primary": "db1", "replicas": ["db7"], "timeout": 1}
        with pytest.raises(ProxySyncError, match="read/db7 missing"):
            ProxySyncProvider().create(props)
        proxy.stop(None, timeout=10)
        assert not proxy.is_running()
    finally:
        kill_processes_under(tmp_path)
