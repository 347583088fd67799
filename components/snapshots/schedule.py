"""The snapshot schedule of a cluster, as a resource: the snapshot command on the copied node's host and, unless
the schedule is ``manual``, a crontab line of the account that runs the servers there.

Why cron on the node's host: a snapshot must not depend on the machine that runs Pulumi being up, and the
command needs nothing but the MariaDB tools already beside the server. The crontab line carries a mark naming
the cluster, so an update replaces it, a destroy removes it, and other lines of that crontab stay as they were.
A refresh that finds the line or the script gone (someone edited the crontab) reports drift; ``up`` puts them
back. The resource also keeps the cluster's nodes (where each runs, and how to reach its host), which
``make snapshot`` and ``make restore`` read from the stack's state: they work with what the stack deployed.

Destroy removes the line, the command and, unless the stack keeps data, the snapshots.
"""

from __future__ import annotations

import shlex
from pathlib import PurePosixPath
from typing import Any, Mapping

import pulumi
from pulumi.dynamic import CreateResult, ReadResult, Resource, UpdateResult

from components.configurator.mariadb import node_paths
from components.configurator.placement import Placement
from components.configurator.snapshot import (MANIFEST, SNAPSHOT_ID, SnapshotJob, cron_line, cron_mark,
                                              render_snapshot_script, with_cron_line)
from components.dynamic import NO_ACTION, PlannedProvider, is_known, resource_options
from components.orchestrators.hosts import CommandFailed, Host, host_for, os_user_of

TYPE_MODULE = "replstack/cluster"


def _copied_node(props: Mapping[str, Any]) -> Mapping[str, Any]:
    return next(n for n in props["nodes"] if n["name"] == props["node"])


def job_of(props: Mapping[str, Any]) -> SnapshotJob:
    """The snapshot command's inputs, from the resource's inputs."""
    node = _copied_node(props)
    return SnapshotJob(cluster=props["cluster"], node=props["node"],
                       paths=node_paths(Placement.from_output(node["placement"])), directory=props["directory"],
                       keep=int(props["keep"]), os_user=os_user_of(node_host(props)), tools_dir=props["toolsDir"],
                       from_replica=node["role"] != "primary")


def node_host(props: Mapping[str, Any]) -> Host:
    """The copied node's host, where the snapshots and their command are."""
    return host_for(_copied_node(props).get("access"))


def default_directory(placement: Mapping[str, Any]) -> str:
    """``<cluster directory>/snapshots``: beside the node directories (a node's directory is
    ``<cluster directory>/<node>``)."""
    return str(PurePosixPath(placement["dir"]).parent / "snapshots")


def read_crontab(host: Host) -> str:
    try:
        return host.run(["crontab", "-l"], timeout=30)
    except CommandFailed as error:
        if "no crontab" in str(error):
            return ""
        raise


def write_crontab(host: Host, directory: str, text: str) -> None:
    """Installs ``text`` as the account's crontab (through a file: the transport feeds no standard input)."""
    if not text.strip():
        try:
            host.run(["crontab", "-r"], timeout=30)
        except CommandFailed as error:
            if "no crontab" not in str(error):
                raise
        return
    staged = str(PurePosixPath(directory) / ".crontab")
    host.write_file(staged, text, mode=0o600)
    try:
        host.run(["crontab", staged], timeout=30)
    finally:
        host.remove_tree(staged)


def installed_line(host: Host, cluster: str) -> str | None:
    mark = cron_mark(cluster)
    return next((line for line in read_crontab(host).splitlines() if line.endswith(mark)), None)


def snapshot_ids(host: Host, directory: str) -> list[str]:
    """The complete snapshots in ``directory``, oldest first."""
    try:
        listing = host.run(["find", directory, "-mindepth", "2", "-maxdepth", "2", "-name", MANIFEST], timeout=60)
    except CommandFailed:
        return []
    ids = {PurePosixPath(line).parent.name for line in listing.splitlines() if line.strip()}
    return sorted(i for i in ids if SNAPSHOT_ID.match(i))


class SnapshotScheduleProvider(PlannedProvider):
    compared = ("node", "nodes", "primary", "directory", "keep", "schedule", "toolsDir", "keepData")

    def plan(self, olds: dict[str, Any], news: dict[str, Any]) -> str:
        when = "no schedule (make snapshot takes one)" if news["schedule"] == "manual" else \
            f"crontab '{news['schedule']}'"
        if not olds:
            return f"create: snapshots of {news['node']} into {news['directory']}, keep {int(news['keep'])}; {when}"
        changed = self.changes(olds, news)
        if not changed:
            return NO_ACTION if not self.drifted(olds, news) else f"repair: reinstall the snapshot command; {when}"
        if "node" in changed and olds.get("node") != news["node"]:
            return f"move: snapshots now copy {news['node']} (was {olds.get('node')}); {when}"
        return f"update: snapshots of {news['node']} into {news['directory']}, keep {int(news['keep'])}; {when}"

    def drifted(self, olds: dict[str, Any], news: dict[str, Any]) -> bool:
        return bool(olds) and olds.get("installed") is False

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(id_=f"snapshots-{props['cluster']}", outs=self._install(props))

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        if is_known(olds.get("nodes")) and (olds.get("node") != news["node"] or
                                            olds.get("directory") != news["directory"]):
            self._uninstall(olds, remove_snapshots=False)
        return UpdateResult(outs=self._install(news))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        job = job_of(props)
        host = node_host(props)
        try:
            script_ok = host.read_file(job.script) == render_snapshot_script(job)
            line = installed_line(host, props["cluster"])
            expected = None if props["schedule"] == "manual" else cron_line(props["cluster"], props["schedule"], job)
            installed = script_ok and line == expected
        except Exception:  # noqa: BLE001  (a host that cannot be looked at: the next up re-installs)
            installed = False
        return ReadResult(id_=id_, outs={**props, "installed": installed,
                                         "snapshots": snapshot_ids(host, job.directory) if installed else
                                         props.get("snapshots", [])})

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        self._uninstall(props, remove_snapshots=not props.get("keepData"))

    # -----------------------------------------------------------------------------------------------------
    def _install(self, props: dict[str, Any]) -> dict[str, Any]:
        job = job_of(props)
        host = node_host(props)
        host.make_dirs(job.directory)
        host.write_file(job.script, render_snapshot_script(job), mode=0o700)
        line = None if props["schedule"] == "manual" else cron_line(props["cluster"], props["schedule"], job)
        try:
            write_crontab(host, job.directory, with_cron_line(read_crontab(host), props["cluster"], line))
        except CommandFailed as error:
            raise RuntimeError(f"installing the snapshot schedule on {props['node']}'s host failed (is cron "
                               f"installed there? Debian: apt-get install cron): {error}") from None
        return {**props, "script": job.script, "cronLine": line or "", "installed": True,
                "snapshots": snapshot_ids(host, job.directory)}

    def _uninstall(self, props: dict[str, Any], remove_snapshots: bool) -> None:
        job = job_of(props)
        host = node_host(props)
        crontab = read_crontab(host)
        cleaned = with_cron_line(crontab, props["cluster"], None)
        if cleaned != crontab:
            host.make_dirs(job.directory)
            write_crontab(host, job.directory, cleaned)
        host.remove_tree(job.script)
        if remove_snapshots:
            for name in snapshot_ids(host, job.directory):
                host.remove_tree(str(PurePosixPath(job.directory) / name))
            host.run(["sh", "-c", "rm -rf -- " + " ".join(shlex.quote(str(PurePosixPath(job.directory) / n))
                                                          for n in (".lock", ".crontab", "snapshots.log"))
                      + f" {shlex.quote(job.directory)}/.partial-*; rmdir -- {shlex.quote(job.directory)} "
                        "2>/dev/null || true"], timeout=120)


class SnapshotSchedule(Resource, module=TYPE_MODULE, name="SnapshotSchedule"):
    """The snapshots of one node of a cluster (see the module's docstring)."""

    script: pulumi.Output[str]
    cronLine: pulumi.Output[str]

    def __init__(self, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions | None = None,
                 secret_nodes: bool = False):
        super().__init__(SnapshotScheduleProvider(), name,
                         {**props, "script": None, "cronLine": None, "installed": None, "snapshots": None},
                         resource_options(opts, secret_outputs=["nodes"] if secret_nodes else [], legacy=False))
