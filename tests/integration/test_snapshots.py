"""Snapshots on real processes, through what users run: a stack with ``database.snapshots`` gets its crontab line
and snapshot command from ``up``; the command cron would run takes a prepared physical copy; ``keep`` bounds how
many stay; ``scripts/snapshot.py restore`` (``make restore``) puts the whole cluster back to a snapshot after the
data changed, replication and the proxies working again; destroy leaves no crontab line and no snapshot."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from components.waiting import wait_until
from tests.support.cli import CliStack, cli_cluster
from tests.support.cluster import cluster_config
from tests.support.engine import PROJECT_DIR

pytestmark = pytest.mark.timeout(900)

SCHEDULE = "30 2 * * *"
KEEP = 2


def crontab() -> str:
    done = subprocess.run(["crontab", "-l"], capture_output=True, text=True)
    return done.stdout if done.returncode == 0 else ""


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> CliStack:
    tmp = tmp_path_factory.mktemp("snapshots")
    config = cluster_config(tmp / "data", nodes=2)
    config["replstack:database"]["snapshots"] = {"enabled": True, "schedule": SCHEDULE, "keep": KEEP}
    try:
        with cli_cluster(tmp, config, name="snap") as created:
            yield created
    finally:
        # Whatever happened, this test's line leaves the crontab.
        mark = "# replstack snapshot replstack-snap"
        kept = [line for line in crontab().splitlines() if not line.endswith(mark)]
        if kept:
            subprocess.run(["crontab", "-"], input="\n".join(kept) + "\n", text=True, check=False)
        elif crontab():
            subprocess.run(["crontab", "-r"], check=False)


def our_line(stack: CliStack) -> str | None:
    return next((line for line in crontab().splitlines()
                 if line.endswith(f"# replstack snapshot replstack-{stack.name}")), None)


def snapshot_dir(stack: CliStack) -> Path:
    return stack.data_dir / f"replstack-{stack.name}" / "snapshots"


def taken(stack: CliStack) -> list[str]:
    directory = snapshot_dir(stack)
    return sorted(p.name for p in directory.iterdir() if (p / "snapshot.json").is_file()) if directory.is_dir() else []


def snapshot_cli(stack: CliStack, *args: str) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, str(PROJECT_DIR / "scripts" / "snapshot.py"), *args, "--stack", stack.name,
                           "--cwd", str(stack.project.root)], env=stack.env, capture_output=True, text=True,
                          timeout=600)
    print(done.stdout + done.stderr)
    return done


def query(stack: CliStack, address: str, sql: str) -> list[tuple]:
    with stack.connect(address) as conn, conn.cursor() as cur:
        cur.execute(sql)
        return list(cur.fetchall())


def node_addresses(stack: CliStack) -> dict[str, str]:
    return {n["name"]: f"{n['host']}:{n['port']}" for n in stack.outputs()["nodes"]}


def test_up_installs_the_schedule_and_the_command(stack):
    line = our_line(stack)
    assert line is not None, crontab()
    script = snapshot_dir(stack) / "snapshot-db1.sh"
    assert line.startswith(SCHEDULE + " " + str(script)), line
    assert script.is_file() and (script.stat().st_mode & 0o777) == 0o700
    assert "--stream=xbstream" in script.read_text()
    stack.expect_no_changes().ok()


def test_the_scheduled_command_takes_a_prepared_snapshot(stack):
    before = taken(stack)
    command = our_line(stack).split(" ", 5)[5]  # what cron runs after the five schedule fields
    subprocess.run(["/bin/sh", "-c", command], check=True, timeout=600)
    new = [s for s in taken(stack) if s not in before]
    assert len(new) == 1, taken(stack)
    manifest = json.loads((snapshot_dir(stack) / new[0] / "snapshot.json").read_text())
    assert manifest["node"] == "db1" and manifest["gtid"].startswith("0-"), manifest
    data = snapshot_dir(stack) / new[0] / "data"
    assert (data / "mysql").is_dir() and (data / "ibdata1").is_file()
    assert "done at GTID" in (snapshot_dir(stack) / "snapshots.log").read_text()


def test_keep_bounds_the_snapshots_retained(stack):
    first = snapshot_cli(stack, "take")
    assert first.returncode == 0 and "taken" in first.stdout
    second = snapshot_cli(stack, "take")
    assert second.returncode == 0
    kept = taken(stack)
    assert len(kept) == KEEP, kept
    listing = snapshot_cli(stack, "list")
    assert [line.split()[0] for line in listing.stdout.splitlines() if line[:1].isdigit()] == kept


def test_restore_puts_the_cluster_back_to_the_snapshot(stack):
    outputs = stack.outputs()
    write = outputs["writeEndpoint"]
    with stack.connect(write) as conn, conn.cursor() as cur:
        cur.execute("CREATE DATABASE IF NOT EXISTS app")
        cur.execute("CREATE TABLE app.items (id INT PRIMARY KEY, label VARCHAR(20))")
        cur.executemany("INSERT INTO app.items VALUES (%s, %s)", [(i, f"item-{i}") for i in range(1, 101)])
    snap = snapshot_cli(stack, "take")
    assert snap.returncode == 0
    at_snapshot = query(stack, write, "SELECT COUNT(*), SUM(id) FROM app.items")
    with stack.connect(write) as conn, conn.cursor() as cur:
        cur.execute("DELETE FROM app.items WHERE id <= 50")
        cur.execute("INSERT INTO app.items VALUES (1000, 'after')")
        cur.execute("CREATE TABLE app.later (id INT PRIMARY KEY)")

    restored = snapshot_cli(stack, "restore", "--yes")
    assert restored.returncode == 0, restored.stdout + restored.stderr
    for name, address in node_addresses(stack).items():
        assert query(stack, address, "SELECT COUNT(*), SUM(id) FROM app.items") == at_snapshot, name
        assert query(stack, address, "SHOW TABLES FROM app") == [("items",)], name
    # Writes flow again, from the snapshot's GTID on, to every replica.
    with stack.connect(write) as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO app.items VALUES (2000, 'after-restore')")
    for name, address in node_addresses(stack).items():
        wait_until(lambda a=address: query(stack, a, "SELECT COUNT(*) FROM app.items WHERE id = 2000") == [(1,)],
                   timeout=30, what=f"the row written after the restore on {name}")
    stack.expect_no_changes().ok()


def test_restore_refuses_without_yes_and_an_unknown_id(stack):
    assert snapshot_cli(stack, "restore").returncode == 2
    unknown = snapshot_cli(stack, "restore", "--yes", "--snapshot", "20000101T000000Z")
    assert unknown.returncode == 1 and "no snapshot 20000101T000000Z" in unknown.stdout


def test_destroy_removes_the_schedule_and_the_snapshots(stack):
    stack.run("destroy", "--yes").ok()
    assert our_line(stack) is None, crontab()
    assert not snapshot_dir(stack).exists()
    assert not (stack.data_dir / f"replstack-{stack.name}").exists()
