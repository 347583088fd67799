"""Seeding a new replica from a physical copy of a running node, over the ``Host`` transport.

``mariadb-backup --backup --stream=xbstream`` runs on the source's host (a healthy replica, else the primary),
its stream goes into ``mbstream -x`` on the new node's host, then ``mariadb-backup --prepare`` makes the copy
consistent there. When both are one machine the two commands are one shell pipeline there; when they are two
machines the stream passes through the engine. The copy's GTID position comes
from the backup's binlog info (``mariadb_backup_binlog_info``, ``xtrabackup_binlog_info`` in older servers): the
new node starts with ``gtid_slave_pos`` at it, so it replicates from the primary from that point on and needs
none of the binary logs the primary may have purged.

While the copy streams, the source's rows are counted in a consistent snapshot (the source's side of the data
check, components.datacheck): kept when that snapshot is at the copy's own position.

What the copy did is kept in the node's directory: ``seed.log`` (progress, copied MB, then the prepare) and
``seed.json`` (source, GTID, size, duration, the source's counts, and whether the replication step has checked
the copy's data).
"""

from __future__ import annotations

import contextlib
import json
import re
import shlex
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, Callable, Iterator, Mapping, Sequence

from components.configurator.mariadb import MariaDBPaths, node_paths
from components.configurator.placement import Placement
from components.datacheck import same_position, snapshot_counts
from components.orchestrators.hosts import CommandFailed, CommandStream, Host, LocalHost, host_for, os_user_of
from components.sql import Endpoint, connect, execute, query, variable

BINLOG_INFO = ("mariadb_backup_binlog_info", "xtrabackup_binlog_info")
SLAVE_INFO = ("mariadb_backup_slave_info", "xtrabackup_slave_info")
RECORD = "seed.json"
LOG = "seed.log"
BACKUP_LOG = "seed-backup.log"
# Files of the source's own replication that a copy must not carry into the new node.
REPLICATION_FILES = ("master.info", "relay-log.info", "multi-master.info")
COPY_TIMEOUT = 6 * 3600.0
CHUNK = 1 << 20
PROGRESS_EVERY = 2.0  # seconds between progress lines
MAX_SOURCE_LAG = 60   # seconds a replica may lag and still be the source of a copy


class SeedFailed(RuntimeError):
    """The copy could not be made; the message names the source, the step and the reason."""


@dataclass(frozen=True)
class Peer:
    """Another node of the cluster, as a new replica sees it: where it runs and how to reach it."""

    name: str
    role: str
    host: Host
    address: str
    port: int
    paths: MariaDBPaths
    access: Mapping[str, Any] | None = None

    @classmethod
    def of(cls, entry: Mapping[str, Any]) -> "Peer":
        placement = Placement.from_output(entry["placement"])
        return cls(name=entry["name"], role=entry["role"], host=host_for(entry.get("access")),
                   address=placement.host, port=int(placement.ports["mysql"]), paths=node_paths(placement),
                   access=entry.get("access"))

    def admin(self) -> Endpoint:
        return Endpoint(host="localhost", port=0, user=os_user_of(self.host), unix_socket=self.paths.socket,
                        access=self.access)


def known_peers(entries: Any) -> list[Peer]:
    """The peers whose placement is known (during a preview a new node's ports are not)."""
    peers = []
    for entry in entries if isinstance(entries, list) else []:
        try:
            peers.append(Peer.of(entry))
        except (KeyError, TypeError, ValueError, AttributeError):
            continue
    return peers


def pick_source(entries: Any, timeout: float = 3.0) -> Peer | None:
    """The node to copy: a replica that replicates from the primary with both threads running and at most
    ``MAX_SOURCE_LAG`` seconds behind (the least behind first), else the primary if it answers and takes writes,
    else None (a cluster being created: the new node starts empty)."""
    peers = known_peers(entries)
    primary = next((p for p in peers if p.role == "primary"), None)
    healthy: list[tuple[int, str, Peer]] = []
    for peer in (p for p in peers if p.role == "replica"):
        try:
            with connect(peer.admin(), timeout=timeout) as conn:
                rows = query(conn, "SHOW SLAVE STATUS")
        except Exception:  # noqa: BLE001  (a node that cannot be reached is no source)
            continue
        status = rows[0] if rows else {}
        lag = status.get("Seconds_Behind_Master")
        running = (status.get("Slave_IO_Running"), status.get("Slave_SQL_Running")) == ("Yes", "Yes")
        from_primary = primary is not None and (status.get("Master_Host"), int(status.get("Master_Port") or 0)) \
            == (primary.address, primary.port)
        if running and from_primary and lag is not None and int(lag) <= MAX_SOURCE_LAG:
            healthy.append((int(lag), peer.name, peer))
    if healthy:
        return min(healthy, key=lambda item: (item[0], item[1]))[2]
    if primary is not None:
        try:
            with connect(primary.admin(), timeout=timeout) as conn:
                if variable(conn, "read_only") == "0":
                    return primary
        except Exception:  # noqa: BLE001
            return None
    return None


def tool(install_db: str, name: str) -> str:
    """A MariaDB tool beside mariadb-install-db (mariadb-backup, mbstream)."""
    return str(PurePosixPath(install_db).parent / name)


class _Progress:
    """Progress lines in the new node's ``seed.log`` (rewritten every few seconds, atomically)."""

    def __init__(self, host: Host, path: str):
        self.host, self.path, self.lines, self.last = host, path, [], 0.0

    def say(self, text: str, force: bool = True) -> None:
        now = time.monotonic()
        if not force and now - self.last < PROGRESS_EVERY:
            return
        self.last = now
        self.lines.append(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {text}")
        self.host.write_file(self.path, "\n".join(self.lines) + "\n", mode=0o600)


def seed(source: Peer, target_host: Host, target: MariaDBPaths, install_db: str, node: str) -> dict[str, Any]:
    """Copies ``source`` into ``target``'s empty datadir, prepares it and returns the record (also written to
    ``seed.json`` in the node's directory): source, gtid, copiedMB, seconds."""
    started = time.monotonic()
    node_dir = str(PurePosixPath(target.config).parent)
    progress = _Progress(target_host, str(PurePosixPath(node_dir) / LOG))
    backup, mbstream = tool(install_db, "mariadb-backup"), tool(install_db, "mbstream")
    target_host.remove_tree(target.datadir)
    target_host.make_dirs(target.datadir)
    progress.say(f"{node}: copying {source.name} ({source.role}) with mariadb-backup --stream=xbstream")
    argv = [backup, f"--defaults-file={source.paths.config}", "--backup", "--stream=xbstream",
            f"--user={os_user_of(source.host)}", f"--socket={source.paths.socket}",
            f"--target-dir={source.paths.tmpdir}"]
    if source.role == "replica":
        argv.append("--slave-info")
    copied = 0
    extract = [mbstream, "-x", "-C", target.datadir]
    with ThreadPoolExecutor(max_workers=1) as pool:
        # The source's side of the data check, counted in a consistent snapshot while the copy streams: kept
        # when the snapshot is at the copy's own position (the cluster took no write meanwhile).
        counting = pool.submit(snapshot_counts, source.admin())
        try:
            if same_machine(source.host, target_host):
                copied, log = _pipe_here(target_host, argv, extract, target.datadir, node_dir,
                                         lambda mb: progress.say(f"{node}: copied {mb:.0f} MB from {source.name}",
                                                                 force=False))
            else:
                with _stream(source.host, argv, writes=False) as reader, \
                        _stream(target_host, extract, writes=True) as writer:
                    while chunk := reader.read(CHUNK):
                        writer.write(chunk)
                        copied += len(chunk)
                        progress.say(f"{node}: copied {copied / 2**20:.0f} MB from {source.name}", force=False)
                    writer.finish(COPY_TIMEOUT)
                    log = reader.finish(COPY_TIMEOUT)
        except (CommandFailed, OSError) as error:
            target_host.remove_tree(target.datadir)
            raise SeedFailed(f"{node}: the copy from {source.name} failed: {_one_line(error)}") from None
        target_host.write_file(str(PurePosixPath(node_dir) / BACKUP_LOG), log, mode=0o600)
        progress.say(f"{node}: copied {copied / 2**20:.0f} MB from {source.name} in "
                     f"{time.monotonic() - started:.1f}s; preparing (mariadb-backup --prepare)")
        try:
            target_host.run([backup, "--prepare", f"--target-dir={target.datadir}"], timeout=COPY_TIMEOUT)
        except CommandFailed as error:
            target_host.remove_tree(target.datadir)
            raise SeedFailed(f"{node}: preparing the copy of {source.name} failed: {_one_line(error)}") from None
        gtid = copy_position(target_host, target.datadir)
        source_counts = _recorded_counts(counting, gtid)
    for name in REPLICATION_FILES:
        target_host.remove_tree(str(PurePosixPath(target.datadir) / name))
    record = {"source": source.name, "sourceRole": source.role, "gtid": gtid, "copiedMB": round(copied / 2**20, 1),
              "seconds": round(time.monotonic() - started, 1), "verified": False,
              **({"sourceCounts": source_counts} if source_counts else {})}
    progress.say(f"{node}: the copy of {source.name} is ready at GTID {gtid or '(none)'} "
                 f"({record['copiedMB']} MB in {record['seconds']}s)")
    write_record(target_host, node_dir, record)
    return record


def _recorded_counts(counting: Future, gtid: str) -> dict[str, Any] | None:
    """The source's counts, kept when they were taken at the copy's own position (nothing was written between
    the copy's end and the snapshot); a count that failed or is at another position is left to the full check."""
    try:
        at, tables = counting.result()
    except Exception:  # noqa: BLE001  (the replication step's full check counts both sides instead)
        return None
    return {"gtid": at, "tables": tables} if gtid and same_position(at, gtid) else None


def copy_position(host: Host, datadir: str) -> str:
    """The GTID position of a prepared copy: from its binlog info (``file<TAB>position<TAB>gtid``), or, when
    the source's binary log had no GTID yet, from its replica info."""
    for name in BINLOG_INFO:
        text = host.read_file(str(PurePosixPath(datadir) / name))
        if text is not None:
            fields = text.strip().split("\t")
            if len(fields) >= 3 and fields[2].strip():
                return fields[2].strip()
            break
    for name in SLAVE_INFO:
        text = host.read_file(str(PurePosixPath(datadir) / name)) or ""
        match = re.search(r"gtid_slave_pos\s*=\s*'([^']*)'", text)
        if match:
            return match.group(1)
    return ""


def start_at(endpoint: Endpoint, gtid: str) -> None:
    """On the started copy: no replication of the source's is left, and ``gtid_slave_pos`` is the copy's
    position, so that the replication step attaches it from there."""
    with connect(endpoint) as conn:
        execute(conn, "SET SESSION sql_log_bin = 0")
        execute(conn, "STOP SLAVE")
        execute(conn, "RESET SLAVE ALL")
        execute(conn, "SET GLOBAL gtid_slave_pos = %s", (gtid,))


def node_dir_of(conn) -> str:
    """A node's directory, from its datadir (``<dir>/data``)."""
    return str(PurePosixPath(str(query(conn, "SELECT @@datadir AS d")[0]["d"]).rstrip("/")).parent)


def read_record(host: Host, node_dir: str) -> dict[str, Any] | None:
    text = host.read_file(str(PurePosixPath(node_dir) / RECORD))
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None


def write_record(host: Host, node_dir: str, record: Mapping[str, Any]) -> None:
    host.write_file(str(PurePosixPath(node_dir) / RECORD), json.dumps(record, indent=2) + "\n", mode=0o600)


def append_log(host: Host, node_dir: str, text: str) -> None:
    path = str(PurePosixPath(node_dir) / LOG)
    before = host.read_file(path) or ""
    host.write_file(path, before + f"{time.strftime('%Y-%m-%d %H:%M:%S')} {text}\n", mode=0o600)


# -- streams over a host's transport ----------------------------------------------------------------------------
def same_machine(one: Host, other: Host) -> bool:
    """Whether two hosts are one machine: both this one, or the same account at the same SSH address."""
    if isinstance(one, LocalHost) and isinstance(other, LocalHost):
        return True
    first, second = getattr(one, "access", None), getattr(other, "access", None)
    return first is not None and second is not None and type(one) is type(other) and \
        (first.address, int(first.port), first.user) == (second.address, int(second.port), second.user)


def _pipe_here(host: Host, source_argv: Sequence[str], target_argv: Sequence[str], datadir: str, node_dir: str,
               progress: Callable[[float], None]) -> tuple[int, str]:
    """``source_argv | target_argv`` as one pipeline on ``host`` (its standard error in a log beside the node),
    with ``progress`` told the copy's size every few seconds; returns the bytes copied and that log."""
    log_path = str(PurePosixPath(node_dir) / BACKUP_LOG)
    script = (f"set -o pipefail; {shlex.join(source_argv)} 2>{shlex.quote(log_path)} | {shlex.join(target_argv)}")
    done = threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        try:
            host.run(["bash", "-c", script], timeout=COPY_TIMEOUT)
        except BaseException as error:  # noqa: BLE001  (re-raised by the caller's thread)
            failure.append(error)
        finally:
            done.set()

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    while not done.wait(PROGRESS_EVERY):
        try:
            progress(int(host.run(["du", "-sm", datadir], timeout=30).split()[0]))
        except (CommandFailed, ValueError, IndexError):
            pass
    worker.join()
    log = host.read_file(log_path) or ""
    if failure:
        raise CommandFailed(f"{failure[0]}; {log.strip()[-1000:]}")
    return int(host.run(["du", "-sb", datadir], timeout=60).split()[0]), log


def pipe_between(source: Host, source_argv: Sequence[str], target: Host, target_argv: Sequence[str],
                 progress: Callable[[int], None] | None = None, timeout: float = COPY_TIMEOUT) -> int:
    """Runs ``source_argv`` on ``source`` with its output fed to ``target_argv`` on ``target`` (the two may be
    different machines: the bytes pass through the engine), and returns the bytes copied. ``progress`` is told
    the count after each chunk. Raises ``CommandFailed`` naming the command that failed."""
    copied = 0
    with _stream(source, source_argv, writes=False) as reader, _stream(target, target_argv, writes=True) as writer:
        while chunk := reader.read(CHUNK):
            writer.write(chunk)
            copied += len(chunk)
            if progress is not None:
                progress(copied)
        writer.finish(timeout)
        reader.finish(timeout)
    return copied


@contextlib.contextmanager
def _stream(host: Host, argv: Sequence[str], writes: bool) -> Iterator[CommandStream]:
    """A command whose output is read (or input written) in chunks; killed if the block fails."""
    opener: Callable[..., CommandStream] | None = getattr(host, "open_command", None)
    if opener is None:
        raise CommandFailed(f"{host!r} cannot stream a command's input or output (no open_command)")
    stream = opener(argv, writes=writes)
    try:
        yield stream
    except BaseException:
        stream.abort()
        raise



def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= 300 else text[:297] + "..."
