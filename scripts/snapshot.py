#!/usr/bin/env python3
"""Snapshots of a stack's cluster, with what the stack deployed (its snapshot schedule's record in state):

    make snapshot  STACK=<name>                      take one now (the command cron runs), printing its progress
    make snapshots STACK=<name>                      list the snapshots kept, oldest first
    make restore   STACK=<name> [SNAPSHOT=<id>]      put the whole cluster back to a snapshot (the newest by
                                                     default), then `up` re-attaches replication

The stack must set ``replstack:database.snapshots.enabled: true`` and have been deployed. A restore replaces
every node's data: it asks for ``--yes`` (the make target passes it) and stops at the first failure with the
cluster on its own data again.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

SCRIPTS = Path(__file__).resolve().parent
PROJECT_DIR = SCRIPTS.parent
sys.path.insert(0, str(PROJECT_DIR))

from components.snapshots import operations  # noqa: E402

SCHEDULE_TYPE = ":SnapshotSchedule"


class NotConfigured(RuntimeError):
    pass


def say(text: str) -> None:
    print(f"snapshot: {text}", flush=True)


def pulumi(project: Path, *args: str, capture: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([str(SCRIPTS / "pulumi"), "--cwd", str(project), *args, "--non-interactive"],
                          capture_output=capture, text=True, stdin=subprocess.DEVNULL)


def schedule_record(project: Path, stack: str) -> dict[str, Any]:
    """The snapshot schedule's outputs in the stack's state (secrets decrypted in memory, never printed)."""
    done = pulumi(project, "stack", "export", "--show-secrets", "--stack", stack)
    if done.returncode != 0:
        raise NotConfigured(f"cannot read stack {stack!r}: {(done.stderr or done.stdout).strip()[-400:]}")
    resources = json.loads(done.stdout).get("deployment", {}).get("resources") or []
    for resource in resources:
        if resource.get("type", "").endswith(SCHEDULE_TYPE) and not resource.get("delete"):
            return resource.get("outputs") or {}
    raise NotConfigured(f"stack {stack!r} has no snapshot schedule: set replstack:database.snapshots.enabled "
                        "to true in its stack file and run `up` first")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("take", "list", "restore"))
    parser.add_argument("--stack", required=True)
    parser.add_argument("--snapshot", help="the snapshot id to restore (default: the newest)")
    parser.add_argument("--yes", action="store_true", help="restore without asking (it replaces every node's data)")
    parser.add_argument("--cwd", default=str(PROJECT_DIR), help="the Pulumi project (default: this checkout)")
    args = parser.parse_args()
    project = Path(args.cwd).resolve()
    try:
        record = schedule_record(project, args.stack)
        if args.action == "take":
            taken = operations.take(record, say)
            say(f"taken {taken['id']} of {taken['node']} at GTID {taken['gtid'] or '(none)'} ({taken['sizeMB']} MB)")
        elif args.action == "list":
            kept = operations.snapshots(record)
            for item in kept:
                print(f"{item['id']}  node={item['node']}  gtid={item['gtid'] or '-'}  {item['sizeMB']} MB  "
                      f"{item['seconds']} s")
            if not kept:
                say("no snapshot taken yet (make snapshot)")
        else:
            if not args.yes:
                say("a restore replaces the data of every node of the cluster; run it again with --yes")
                return 2
            operations.restore(record, args.snapshot, say)
            say(f"running `up --refresh` on stack {args.stack} to re-attach replication and the proxies")
            done = pulumi(project, "up", "--refresh", "--yes", "--stack", args.stack, capture=False)
            if done.returncode != 0:
                say(f"`up` failed after the restore (the data is restored); run `scripts/pulumi up --refresh "
                    f"--stack {args.stack}` again")
                return 1
    except (NotConfigured, operations.SnapshotError) as error:
        say(str(error))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
