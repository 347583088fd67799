"""Service plans: the shipped catalogue, user registries from a file or a URL (with its cached copy when the URL
cannot be reached), and how a plan fills the spec (keys the stack sets win)."""

from __future__ import annotations

import http.server
import threading
from pathlib import Path

import pytest

from components import plans
from components.spec import HostFacts, SpecError, load_spec

REGISTRY = "id,plan,nodes,dbmemory,dbcores,dbdatasize,dbsystemsize,dbiops,dbcpufreq,prxcores,prxdatasize\n" \
           "1,t3.small,3,192,1,10,2,500,3000,1,5\n"


def host(tmp_path: Path) -> HostFacts:
    return HostFacts(project_dir=tmp_path, memory_mb=64 * 1024, os_user="replstack-test")


def test_shipped_catalogue_has_replication_managers_plans():
    registry = plans.load(None, Path("."))
    assert len(registry.plans) == 37
    tiny = registry.plan("x2.tiny")
    assert (tiny.nodes, tiny.memory, tiny.cores, tiny.iops, tiny.data_disk, tiny.system_disk, tiny.proxy_cores) == \
        (2, 1024, 2, 300, 700, 300, 4)
    assert registry.plan("x3.middle.perf").nodes == 3


def test_plan_sets_nodes_and_resources_and_explicit_keys_win(tmp_path):
    spec = load_spec({"servicePlan": "x2.tiny", "proxies": [{"kind": "haproxy"}]}, host(tmp_path))
    db = spec.database
    assert (db.nodes, db.memory, db.cores, db.iops, db.disk_size, db.system_disk_size) == (2, 1024, 2, 300, 700, 300)
    assert spec.proxies[0].cores == 4 and spec.plan_notice is None
    spec = load_spec({"prov-service-plan": "x2.tiny", "database": {"memory": 512, "nodes": 3},
                      "proxies": [{"kind": "haproxy", "cores": 1}]}, host(tmp_path))
    assert (spec.database.nodes, spec.database.memory, spec.database.cores) == (3, 512, 2)
    assert spec.proxies[0].cores == 1


def test_unknown_plan_names_the_known_ones(tmp_path):
    with pytest.raises(SpecError) as error:
        load_spec({"servicePlan": "x2.tinyy"}, host(tmp_path))
    message = str(error.value)
    assert message.startswith("replstack:servicePlan: 'x2.tinyy' is not a plan of the shipped catalogue")
    assert "known plans: x1.small," in message and "x2.tiny" in message


def test_registry_file_relative_to_the_project(tmp_path):
    (tmp_path / "plans.csv").write_text(REGISTRY)
    spec = load_spec({"servicePlan": "t3.small", "servicePlanRegistry": "plans.csv"}, host(tmp_path))
    assert (spec.database.nodes, spec.database.memory, spec.database.iops) == (3, 192, 500)
    with pytest.raises(SpecError, match=r"replstack:servicePlan: 'x2.tiny' is not a plan of plans.csv; "
                                        r"known plans: t3.small"):
        load_spec({"servicePlan": "x2.tiny", "servicePlanRegistry": "plans.csv"}, host(tmp_path))
    (tmp_path / "bad.csv").write_text("plan,memory\nx,1\n")
    with pytest.raises(SpecError, match="replstack:servicePlanRegistry: bad.csv is not a service-plan registry"):
        load_spec({"servicePlan": "x", "servicePlanRegistry": "bad.csv"}, host(tmp_path))


@pytest.fixture
def served(tmp_path, monkeypatch):
    """An HTTP server on a free loopback port serving REGISTRY at /plans.csv; its cache under tmp_path."""
    monkeypatch.setenv("REPLSTACK_CACHE", str(tmp_path / "cache"))
    body = REGISTRY.encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(200 if self.path == "/plans.csv" else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_registry_url_is_cached_and_the_copy_used_when_unreachable(tmp_path, served):
    url = f"http://127.0.0.1:{served.server_address[1]}/plans.csv"
    spec = load_spec({"servicePlan": "t3.small", "servicePlanRegistry": url}, host(tmp_path))
    assert spec.database.memory == 192 and spec.plan_notice is None
    served.shutdown()
    served.server_close()
    spec = load_spec({"servicePlan": "t3.small", "servicePlanRegistry": url}, host(tmp_path))
    assert spec.database.memory == 192
    assert spec.plan_notice and spec.plan_notice.startswith(f"service-plan registry {url} cannot be fetched")
    assert "using its cached copy" in spec.plan_notice


def test_registry_url_unreachable_without_a_copy_fails(tmp_path, monkeypatch):
    monkeypatch.setenv("REPLSTACK_CACHE", str(tmp_path / "cache"))
    with pytest.raises(SpecError, match=r"replstack:servicePlanRegistry: http://127.0.0.1:9/p.csv cannot be "
                                        r"fetched .* and no copy of it is cached"):
        load_spec({"servicePlan": "x", "servicePlanRegistry": "http://127.0.0.1:9/p.csv"}, host(tmp_path))
