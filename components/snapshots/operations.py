"""Taking a snapshot now, listing them, and restoring a cluster from one: what ``make snapshot``,
``make snapshots`` and ``make restore`` do, over each node's host transport (this machine or SSH).

A restore puts the whole cluster back to the snapshot, not one node: a primary restored alone would be behind
its replicas, and replicas restored alone would be ahead of nothing. It goes:

1. every node stops (the primary first, so nothing is written meanwhile);
2. each node's data directory is set aside (``data.before-restore``) and the snapshot's copied in (a tar stream
   from the snapshot's host, so a node on another host gets it too); the copy's replication files are dropped;
3. every node starts again; the primary's binary log starts at the snapshot's GTID position
   (``RESET MASTER``, ``gtid_binlog_state``) and each replica's ``gtid_slave_pos`` is that position, so the
   replicas continue from the primary's next write and GTIDs stay unique;
4. the set-aside directories are removed. If any step fails before that, every node gets its own data back and is
   started again: a failed restore leaves the cluster as it was.

Attaching the replicas to the primary is then the ordinary work of ``up`` (the topology step repairs replicas
that do not replicate, the proxies wait for them), which ``scripts/snapshot.py restore`` runs last.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, Callable, Mapping

from components.configurator.mariadb import MariaDBPaths, node_paths
from components.configurator.placement import Placement
from components.configurator.snapshot import DATA, MANIFEST, SNAPSHOT_ID
from components.orchestrators.hosts import CommandFailed, Host, host_for, os_user_of
from components.orchestrators.lifecycle.mariadb import MariaDBBinaries, MariaDBServer
from components.orchestrators.lifecycle.process import read_pid_file
from components.orchestrators.lifecycle.seed import REPLICATION_FILES, copy_position, pipe_between
from components.snapshots.schedule import job_of, node_host, snapshot_ids
from components.sql import connect, execute

ASIDE = "data.before-restore"
Say = Callable[[str], None]


class SnapshotError(RuntimeError):
    """A snapshot could not be taken, found or restored; the message says which and why."""


@dataclass(frozen=True)
class ClusterNode:
    name: str
    role: str
    host: Host
    paths: MariaDBPaths
    server: MariaDBServer


def cluster_nodes(props: Mapping[str, Any]) -> list[ClusterNode]:
    """The cluster's nodes as the snapshot schedule recorded them: where each runs, how to reach its host."""
    binaries = MariaDBBinaries(server=props["serverBinary"],
                               install_db=str(PurePosixPath(props["toolsDir"]) / "mariadb-install-db"))
    nodes = []
    for entry in props["nodes"]:
        host = host_for(entry.get("access"))
        paths = node_paths(Placement.from_output(entry["placement"]))
        nodes.append(ClusterNode(entry["name"], "primary" if entry["name"] == props["primary"] else "replica", host,
                                 paths, MariaDBServer(host, paths, binaries, os_user_of(host))))
    return nodes


def take(props: Mapping[str, Any], say: Say) -> dict[str, Any]:
    """Runs the node's snapshot command now (the same one cron runs), each of its progress lines passed to
    ``say`` as it comes; returns the new snapshot's manifest."""
    job, host = job_of(props), node_host(props)
    before = set(snapshot_ids(host, job.directory))
    stream = host.open_command([job.script], writes=False)
    pending = b""
    try:
        while chunk := stream.read(4096):
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                say(line.decode(errors="replace"))
        stream.finish(6 * 3600)
    except CommandFailed as error:
        raise SnapshotError(f"the snapshot of {job.node} failed: {error}") from None
    except BaseException:
        stream.abort()
        raise
    if pending:
        say(pending.decode(errors="replace"))
    new = [i for i in snapshot_ids(host, job.directory) if i not in before]
    if not new:
        raise SnapshotError(f"the snapshot command of {job.node} ended but no new snapshot is in {job.directory}")
    return _manifest(host, job.directory, new[-1])


def manifest(props: Mapping[str, Any], snapshot_id: str) -> dict[str, Any]:
    """The manifest of snapshot ``snapshot_id``; raises ``SnapshotError`` naming the ones there are."""
    return _manifest(node_host(props), job_of(props).directory, snapshot_id)


def _manifest(host: Host, directory: str, snapshot_id: str) -> dict[str, Any]:
    if not SNAPSHOT_ID.match(snapshot_id):
        raise SnapshotError(f"{snapshot_id!r} is not a snapshot id; allowed: one of "
                            f"{', '.join(snapshot_ids(host, directory)) or '(none taken yet)'}")
    text = host.read_file(str(PurePosixPath(directory) / snapshot_id / MANIFEST))
    if text is None:
        raise SnapshotError(f"no snapshot {snapshot_id} in {directory}; there are: "
                            f"{', '.join(snapshot_ids(host, directory)) or '(none)'}")
    return json.loads(text)


def snapshots(props: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every complete snapshot's manifest, oldest first."""
    host, directory = node_host(props), job_of(props).directory
    return [_manifest(host, directory, i) for i in snapshot_ids(host, directory)]


def restore(props: Mapping[str, Any], snapshot_id: str | None, say: Say) -> dict[str, Any]:
    """Puts every node back to the snapshot (the newest when ``snapshot_id`` is None); see the module's
    docstring. Returns the snapshot's manifest."""
    job, source = job_of(props), node_host(props)
    ids = snapshot_ids(source, job.directory)
    if not ids:
        raise SnapshotError(f"no snapshot to restore in {job.directory}: take one first (make snapshot)")
    chosen = manifest(props, snapshot_id or ids[-1])
    data = str(PurePosixPath(job.directory) / chosen["id"] / DATA)
    gtid = chosen.get("gtid") or copy_position(source, data)
    nodes = cluster_nodes(props)
    timeout = float(props.get("startTimeout") or 120)
    say(f"restore {chosen['id']} (of {chosen['node']}, GTID {gtid or '(none)'}) onto "
        f"{', '.join(n.name for n in nodes)}")
    for node in sorted(nodes, key=lambda n: n.role != "primary"):
        say(f"{node.name}: stopping")
        node.server.stop(read_pid_file(node.host, node.paths.pid_file), timeout)
    swapped: list[ClusterNode] = []
    try:
        for node in nodes:
            _swap_in(node, source, data, say)
            swapped.append(node)
        for node in sorted(nodes, key=lambda n: n.role != "primary"):
            say(f"{node.name}: starting at GTID {gtid or '(none)'}")
            node.server.start(timeout)
            _set_position(node, gtid)
    except Exception as error:
        say(f"restore failed ({error}); every node gets its own data back")
        _give_back(nodes, swapped, timeout, say)
        raise SnapshotError(f"restoring {chosen['id']} failed, the cluster keeps its data: {error}") from None
    for node in nodes:
        node.host.remove_tree(_aside(node))
    say(f"restored {chosen['id']}: every node is at GTID {gtid or '(none)'}; replication is attached by `up`")
    return chosen


def _aside(node: ClusterNode) -> str:
    return str(PurePosixPath(node.paths.datadir).parent / ASIDE)


def _swap_in(node: ClusterNode, source: Host, data: str, say: Say) -> None:
    aside = _aside(node)
    node.host.remove_tree(aside)
    node.host.run(["mv", "--", node.paths.datadir, aside])
    node.host.make_dirs(node.paths.datadir)
    copied = pipe_between(source, ["tar", "-C", data, "-cf", "-", "."],
                          node.host, ["tar", "-C", node.paths.datadir, "-xf", "-"])
    for name in REPLICATION_FILES:
        node.host.remove_tree(str(PurePosixPath(node.paths.datadir) / name))
    say(f"{node.name}: data replaced by the snapshot ({copied / 2**20:.0f} MB)")


def _set_position(node: ClusterNode, gtid: str) -> None:
    """The node's GTID state is the snapshot's: a primary's binary log continues from it, a replica asks its
    primary for what follows it. Outside the binary log: every node does this on its own."""
    with connect(node.server.socket_endpoint()) as conn:
        execute(conn, "SET SESSION sql_log_bin = 0")
        execute(conn, "STOP SLAVE")
        execute(conn, "RESET SLAVE ALL")
        execute(conn, "RESET MASTER")
        if gtid:
            execute(conn, "SET GLOBAL gtid_binlog_state = %s", (gtid,))
        execute(conn, "SET GLOBAL gtid_slave_pos = %s", (gtid,))


def _give_back(nodes: list[ClusterNode], swapped: list[ClusterNode], timeout: float, say: Say) -> None:
    for node in nodes:
        try:
            node.server.stop(read_pid_file(node.host, node.paths.pid_file), timeout)
            if node in swapped or node.host.exists(_aside(node)):
                node.host.remove_tree(node.paths.datadir)
                node.host.run(["mv", "--", _aside(node), node.paths.datadir])
            node.server.start(timeout)
            say(f"{node.name}: back on its own data")
        except Exception as error:  # noqa: BLE001  (go on with the others; the error is said)
            say(f"{node.name}: could not be given its data back: {error}; it is in {_aside(node)}")
