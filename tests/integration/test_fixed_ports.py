"""Ports the stack fixes (``database.port``, ``database.ports``, ``proxies[].ports``) on real processes, through the CLI: the nodes and
the proxy listen where the stack says; moving ``database.port`` previews as the port change and moves every node
with replication and routing following; a fixed port another program holds fails the preview naming it, before
anything is touched."""

from __future__ import annotations

import random
import socket

import pytest

from components.waiting import wait_until
from tests.support.cli import CliStack, cli_cluster
from tests.support.cluster import cluster_config
from tests.support.processes import listening_ports

pytestmark = pytest.mark.timeout(600)


def free_run(count: int, taken: set[int] = frozenset()) -> int:
    """The first of ``count`` consecutive ports free on 127.0.0.1 now (below the range leased at random)."""
    for _ in range(200):
        first = random.randint(10000, 19000)
        candidates = range(first, first + count)
        if set(candidates) & set(taken):
            continue
        try:
            for port in candidates:
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", port))
        except OSError:
            continue
        return first
    raise RuntimeError("no free run of ports")


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> CliStack:
    tmp = tmp_path_factory.mktemp("fixed-ports")
    base = free_run(2)
    write = free_run(1, {base, base + 1})
    config = cluster_config(tmp / "data", nodes=2, proxies=[{"kind": "haproxy", "ports": {"write": write}}])
    config["replstack:database"]["port"] = base
    with cli_cluster(tmp, config, name="fixed") as created:
        yield created


def ports_of(stack: CliStack) -> dict[str, int]:
    return {n["name"]: n["port"] for n in stack.outputs()["nodes"]}


def replicates(stack: CliStack, table: str) -> None:
    outputs = stack.outputs()
    with stack.connect(outputs["writeEndpoint"]) as conn, conn.cursor() as cur:
        cur.execute("CREATE DATABASE IF NOT EXISTS app")
        cur.execute(f"CREATE TABLE app.{table} (id INT PRIMARY KEY)")
        cur.execute(f"INSERT INTO app.{table} VALUES (1)")
    replica = next(n for n in outputs["nodes"] if n["name"] == "db2")

    def there() -> bool:
        with stack.connect(f"{replica['host']}:{replica['port']}") as conn, conn.cursor() as cur:
            cur.execute(f"SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_NAME = '{table}'")
            return cur.fetchone()[0] == 1

    wait_until(there, timeout=30, what=f"app.{table} on db2")


def test_services_listen_on_the_fixed_ports(stack):
    base = stack.config()["replstack:database"]["port"]
    write = stack.config()["replstack:proxies"][0]["ports"]["write"]
    assert ports_of(stack) == {"db1": base, "db2": base + 1}
    assert stack.outputs()["writeEndpoint"] == f"127.0.0.1:{write}"
    assert {base, base + 1, write} <= listening_ports()
    replicates(stack, "before_move")
    stack.expect_no_changes().ok()


def test_moving_the_database_port_moves_every_node(stack):
    old = stack.config()["replstack:database"]["port"]
    new = free_run(2, {old, old + 1})
    stack.config_set("replstack:database.port", new)
    preview = stack.preview_diff().ok().output
    assert f"update: port(s) mysql {old} → {new} (fixed by replstack:database.port)" in preview, preview
    stack.up().ok()
    assert ports_of(stack) == {"db1": new, "db2": new + 1}
    assert not {old, old + 1} & listening_ports()
    replicates(stack, "after_move")
    stack.expect_no_changes().ok()


def test_database_ports_pin_one_node_by_name(stack):
    base = stack.config()["replstack:database"]["port"]
    pinned = free_run(1, {base, base + 1})
    stack.config_set("replstack:database.ports.db2", pinned)
    preview = stack.preview_diff().ok().output
    assert f"update: port(s) mysql {base + 1} → {pinned} (fixed by replstack:database.ports.db2)" in preview, preview
    stack.up().ok()
    assert ports_of(stack) == {"db1": base, "db2": pinned}
    assert pinned in listening_ports() and base + 1 not in listening_ports()
    replicates(stack, "after_pin")
    stack.expect_no_changes().ok()


def test_a_fixed_port_in_use_fails_the_preview_naming_it(stack):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", free_run(1, set(ports_of(stack).values()))))
        busy.listen()
        port = busy.getsockname()[1]
        stack.config_set("replstack:proxies[0].ports.read", port)
        refused = stack.preview_diff()
        assert refused.returncode != 0
        assert (f"port {port} (haproxy1/read, fixed by replstack:proxies[0].ports) is in use on 127.0.0.1"
                in refused.output), refused.output
        assert "Traceback" not in refused.output
        up = stack.up()
        assert up.returncode != 0
    config = stack.config()
    del config["replstack:proxies"][0]["ports"]["read"]
    stack.write_config(config)
    stack.expect_no_changes().ok()
