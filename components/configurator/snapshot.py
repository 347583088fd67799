"""The snapshot command of a node and its crontab entry: pure text from paths, no I/O.

A snapshot is what seeding a replica does (``components.orchestrators.lifecycle.seed``), kept instead of
started: ``mariadb-backup --backup --stream=xbstream`` of the node piped into ``mbstream -x``, then
``--prepare``, so that a snapshot is a consistent data directory ready to restore, with its GTID position in
the backup's binlog info. The command is a shell script on the node's host (no Python, no engine needed there),
run by cron on schedule and by ``make snapshot`` on demand: a snapshot completes in ``.partial-<id>`` and is
renamed to ``<id>`` (UTC time, ``20261128T031500Z``) only when prepared, so a listed snapshot is always whole.
Retention removes the oldest complete snapshots beyond ``keep``; a lock file keeps two runs from overlapping.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import PurePosixPath

from components.configurator.mariadb import MariaDBPaths
from components.configurator.render import UnsafeValue, render_template

SCRIPT_NAME = "snapshot-{node}.sh"
MANIFEST = "snapshot.json"
DATA = "data"
# A complete snapshot's directory name: its UTC time.
SNAPSHOT_ID = re.compile(r"^[0-9]{8}T[0-9]{6}Z$")
# The comment that marks a crontab line as this cluster's, so that an update or a destroy finds it again.
CRON_MARK = "# replstack snapshot {cluster}"


@dataclass(frozen=True)
class SnapshotJob:
    """What one snapshot command needs: the node it copies, where snapshots go and how many stay."""

    cluster: str
    node: str
    paths: MariaDBPaths
    directory: str
    keep: int
    os_user: str
    tools_dir: str          # where mariadb-backup and mbstream are
    from_replica: bool      # a replica's copy also records its replication position (--slave-info)

    @property
    def script(self) -> str:
        return str(PurePosixPath(self.directory) / SCRIPT_NAME.format(node=self.node))

    @property
    def log(self) -> str:
        return str(PurePosixPath(self.directory) / "snapshots.log")


# Cluster and node names go into the script's messages and manifest as they are: one word, no quoting needed.
_NAME = re.compile(r"[A-Za-z0-9._-]+")


def render_snapshot_script(job: SnapshotJob) -> str:
    for value in (job.cluster, job.node):
        if not _NAME.fullmatch(value):
            raise UnsafeValue(f"refusing to render {value!r} as a name in a shell script: letters, digits, . _ -")
    if not 1 <= int(job.keep) <= 1000:
        raise UnsafeValue(f"refusing to render keep={job.keep!r}: a count from 1 to 1000")
    tool = PurePosixPath(job.tools_dir)
    q = shlex.quote
    return render_template(
        "snapshot.sh.j2", cluster=job.cluster, node=job.node, keep=int(job.keep),
        directory=q(job.directory), config=q(job.paths.config), socket=q(job.paths.socket),
        tmpdir=q(job.paths.tmpdir), user=q(job.os_user), backup=q(str(tool / "mariadb-backup")),
        mbstream=q(str(tool / "mbstream")), slave_info="--slave-info" if job.from_replica else "",
        manifest=MANIFEST, data=DATA)


def cron_line(cluster: str, schedule: str, job: SnapshotJob) -> str:
    """One crontab line: the schedule, the script (its output appended to the snapshot log) and the mark."""
    if schedule == "manual":
        raise UnsafeValue("a manual schedule has no crontab line")
    fields = schedule.split(" ")
    if not (len(fields) == 1 and schedule.startswith("@")) and len(fields) != 5:
        raise UnsafeValue(f"refusing to render {schedule!r} as a crontab schedule")
    if "%" in job.script + job.log:  # cron turns '%' into a newline
        raise UnsafeValue(f"refusing a path with '%' in a crontab line: {job.script!r}")
    line = f"{schedule} {shlex.quote(job.script)} >>{shlex.quote(job.log)} 2>&1 {cron_mark(cluster)}"
    if not line.isprintable():
        raise UnsafeValue("refusing a crontab line that is not one line of printable characters")
    return line


def cron_mark(cluster: str) -> str:
    return CRON_MARK.format(cluster=cluster)


def with_cron_line(crontab: str, cluster: str, line: str | None) -> str:
    """``crontab`` without this cluster's line, plus ``line`` when given: other lines stay as they were."""
    mark = cron_mark(cluster)
    kept = [entry for entry in crontab.splitlines() if not entry.endswith(mark)]
    if line is not None:
        kept.append(line)
    return "\n".join(kept) + "\n" if kept else ""
