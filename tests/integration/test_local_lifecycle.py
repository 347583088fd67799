"""Failure and data-retention paths of the local backend, on real processes: a failed ``up`` loses nothing and a
re-run converges; ``serialized`` provisioning; ``keepData`` keeps the datadirs on destroy."""

from __future__ import annotations

from pathlib import Path

import pymysql
import pytest
from pulumi import automation as auto

from components.configurator.placement import socket_path
from tests.support.cluster import local_cluster
from tests.support.processes import processes_under

pytestmark = pytest.mark.timeout(600)


def test_failed_up_keeps_what_exists_and_rerun_converges(tmp_path):
    with local_cluster(tmp_path, up=False, nodes=2) as cluster:
        settings = cluster.project.root / "Pulumi.test.yaml"
        good = settings.read_text()
        # An HAProxy that exists (the spec refuses a missing binary before anything starts) but fails to run.
        broken_haproxy = tmp_path / "broken-haproxy" / "haproxy"
        broken_haproxy.parent.mkdir()
        broken_haproxy.write_text("#!/bin/sh\necho 'this haproxy is broken' >&2\nexit 1\n")
        broken_haproxy.chmod(0o755)
        broken = {"baseDir": str(cluster.data_dir), "haproxyBinary": str(broken_haproxy)}
        config = __import__("yaml").safe_load(good)["config"]
        cluster.project.write_config("test", {**config, "replstack:local": broken})

        with pytest.raises(auto.CommandError) as failure:
            cluster.stack.up(on_output=print)
        assert "haproxy1" in str(failure.value) and "this haproxy is broken" in str(failure.value)
        db_pids = {n: cluster.resource_outputs(n)["pid"] for n in ("db1", "db2")}
        assert all(db_pids.values()), "the databases made before the failure are in state and running"

        settings.write_text(good)
        up = cluster.stack.up(on_output=print)
        assert up.summary.resource_changes.get("create", 0) >= 2  # the proxy and the proxy sync
        assert {n: cluster.resource_outputs(n)["pid"] for n in db_pids} == db_pids, "no database was restarted"
        cluster.refresh_outputs()
        with cluster.connect(cluster.outputs["writeEndpoint"]) as conn, conn.cursor() as cur:
            cur.execute("SELECT @@port")
            assert cur.fetchone()[0] == cluster.node("db1")["port"]


def test_serialized_cluster_with_keep_data_keeps_datadirs_on_destroy(tmp_path):
    with local_cluster(tmp_path, nodes=2, proxies=[], serialized=True, keepData=True) as cluster:
        with cluster.connect(cluster.outputs["writeEndpoint"]) as conn, conn.cursor() as cur:
            cur.execute("CREATE DATABASE kept")
        cluster.stack.destroy(on_output=print)
        cluster.destroyed = True

        assert processes_under(cluster.data_dir) == []
        cluster_dir = next(cluster.data_dir.iterdir())
        for node in ("db1", "db2"):
            assert (cluster_dir / node / "data" / "mysql").is_dir(), f"{node}'s datadir is kept"
            assert (cluster_dir / node / "my.cnf").is_file()
        assert (cluster_dir / "db1" / "data" / "kept").is_dir()
        assert not (cluster_dir / "ports.json").exists(), "ports are released even when data is kept"
        for node in ("db1", "db2"):
            socket_dir = Path(socket_path(str(cluster_dir / node), "mariadbd.sock")).parent
            assert socket_dir == cluster_dir / node or not socket_dir.exists(), "runtime files outside go"


def test_root_password_from_a_stack_secret_replaces_the_generated_one(tmp_path):
    with local_cluster(tmp_path, nodes=2, proxies=[]) as cluster:
        generated = cluster.outputs["rootPassword"]
        chosen = "Chosen-" + generated[:12][::-1]
        cluster.stack.set_config("replstack:rootPassword", auto.ConfigValue(value=chosen, secret=True))
        cluster.stack.up(on_output=print)
        cluster.refresh_outputs()

        assert cluster.outputs["rootPassword"] == chosen
        for node in ("db1", "db2"):
            with cluster.connect(cluster.node_address(node)) as conn, conn.cursor() as cur:
                cur.execute("SELECT 1")
            with pytest.raises(pymysql.err.OperationalError):
                pymysql.connect(host=cluster.node(node)["host"], port=cluster.node(node)["port"], user="root",
                                password=generated, connect_timeout=5)
        stack_file = (cluster.project.root / "Pulumi.test.yaml").read_text()
        assert chosen not in stack_file and "secure:" in stack_file
        state = "".join(p.read_text() for p in (cluster.project.state_dir / ".pulumi").rglob("*.json"))
        assert chosen not in state and generated not in state
        # Replication still runs with the new root password in the topology's state.
        refresh = cluster.stack.refresh(on_output=print)
        assert set(refresh.summary.resource_changes) == {"same"}, refresh.summary.resource_changes
