#!/usr/bin/env python3
"""`make repair STACK=<name>`: brings a stack back to a state `up` can continue from after an interrupted run
(a `pulumi` killed, a machine rebooted), non-interactively, saying what it does, one line per step:

1. the lock: the file backend keeps a lock per running update, naming the process that holds it. A lock whose
   holder is gone (same host, pid no longer a pulumi process) is removed; a live holder stops the repair;
2. the checkpoint: a run killed while the engine wrote it leaves it (or its ``.attrs`` metadata file) empty or
   cut short. A damaged metadata file is removed (the backend does without); a damaged checkpoint is replaced by
   the last good copy (the backend's ``.bak``, else its newest backup), the damaged file kept beside it; what
   the lost steps had made is adopted by the next ``up``;
3. pending operations: a create the engine started but never recorded may have left a server running. What
   exists on the host is reported per resource, then the pending creates are cleared: every replstack create
   adopts what it finds (a server running its current config on its recorded port, the ports a placement holds),
   and the cluster owner stops anything else at destroy;
4. a refresh, so that state says which services run.

Then `up` continues. Exit code 0 when the stack is ready for `up`, 1 otherwise (the reason on the last line).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

SCRIPTS = Path(__file__).resolve().parent
PROJECT_DIR = SCRIPTS.parent


class RepairFailed(RuntimeError):
    pass


def say(step: str, text: str) -> None:
    print(f"repair: {step:<18} {text}", flush=True)


def pulumi(project: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(SCRIPTS / "pulumi"), "--cwd", str(project), *args, "--non-interactive"],
                          capture_output=True, text=True, stdin=subprocess.DEVNULL)


def state_dir() -> Path:
    env = subprocess.run([str(SCRIPTS / "engine-env")], check=True, capture_output=True, text=True).stdout
    url = dict(line.split("=", 1) for line in env.splitlines() if "=" in line)["PULUMI_BACKEND_URL"]
    return Path(url.removeprefix("file://"))


def holder_alive(lock: dict[str, Any]) -> bool:
    """Whether the process named by a lock still runs a pulumi command here."""
    try:
        cmdline = Path(f"/proc/{int(lock['pid'])}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError, KeyError):
        return False
    return bool(cmdline) and Path(cmdline[0].decode(errors="replace")).name == "pulumi"


def clear_dead_locks(state: Path, project: str, stack: str) -> None:
    locks = sorted(state.glob(f".pulumi/locks/*/{project}/{stack}/*.json"))
    if not locks:
        say("lock", "none")
        return
    for path in locks:
        try:
            lock = json.loads(path.read_text())
        except ValueError:
            lock = {}
        who = f"pid {lock.get('pid', '?')} on {lock.get('hostname', '?')} since {lock.get('timestamp', '?')}"
        if lock.get("hostname") not in (None, socket.gethostname()):
            raise RepairFailed(f"the stack is locked by {who}, another machine: make sure no update runs there, "
                               f"then remove {path}")
        if holder_alive(lock):
            raise RepairFailed(f"the stack is locked by a running pulumi ({who}): wait for it or stop it first")
        path.unlink(missing_ok=True)
        Path(f"{path}.attrs").unlink(missing_ok=True)
        say("lock", f"removed the lock of {who}: its process is gone")


def what_exists(resource: dict[str, Any]) -> str:
    """What a pending create left on the host, in words (local backend: the service directory and process)."""
    inputs = resource.get("inputs") or {}
    placement = inputs.get("placement") if isinstance(inputs.get("placement"), dict) else None
    directory = (placement or {}).get("dir") or (
        str(Path(inputs["clusterDir"]) / inputs["service"]) if "clusterDir" in inputs and "service" in inputs else None)
    if not directory:
        return "nothing on a host to check"
    if not Path(directory).exists():
        return f"{directory} does not exist"
    running = [pid for pid in os.listdir("/proc") if pid.isdigit() and _mentions(pid, directory + "/")]
    return f"{directory} exists" + (f", process(es) {', '.join(running)} run from it (adopted by the next up)"
                                    if running else ", nothing runs from it")


def _mentions(pid: str, text: str) -> bool:
    try:
        return text in Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False


def _checkpoint_ok(path: Path) -> bool:
    try:
        return "checkpoint" in json.loads(path.read_text())
    except (OSError, ValueError):
        return False


def drop_damaged_attributes(state: Path, project: str, stack: str) -> None:
    """The backend keeps each file's metadata in ``<file>.attrs``; a kill while it is written leaves it empty,
    and the stack then fails to load ("failed to load checkpoint: EOF"). A missing one is fine: it goes."""
    folder = state / ".pulumi" / "stacks" / project
    for attrs in [*folder.glob(f"{stack}.json*.attrs"), state / ".pulumi" / "meta.yaml.attrs"]:
        try:
            json.loads(attrs.read_text())
        except FileNotFoundError:
            continue
        except (OSError, ValueError):
            attrs.unlink(missing_ok=True)
            say("checkpoint", f"removed {attrs.name}, left damaged by the interrupted write")


def restore_checkpoint(state: Path, project: str, stack: str) -> None:
    drop_damaged_attributes(state, project, stack)
    current = state / ".pulumi" / "stacks" / project / f"{stack}.json"
    if not current.exists() or _checkpoint_ok(current):
        say("checkpoint", "readable" if current.exists() else "none yet")
        return
    backups = sorted((state / ".pulumi" / "backups" / project / stack).glob(f"{stack}.*.json"), reverse=True)
    good = next((p for p in [current.with_name(f"{stack}.json.bak"), *backups] if _checkpoint_ok(p)), None)
    if good is None:
        raise RepairFailed(f"{current} is damaged and no readable copy of it exists")
    damaged = current.with_name(f"{stack}.json.damaged")
    current.replace(damaged)
    os.chmod(damaged, 0o600)
    shutil.copy2(good, current)
    attrs = Path(f"{good}.attrs")
    if attrs.exists():
        shutil.copy2(attrs, f"{current}.attrs")
    say("checkpoint", f"{current.name} was damaged (kept as {damaged.name}); restored the last good copy, {good.name}")


def pending_operations(project: Path, stack: str) -> list[dict[str, Any]]:
    exported = pulumi(project, "stack", "export", "--stack", stack)
    if exported.returncode != 0:
        raise RepairFailed(f"cannot read the stack's state: {exported.stderr.strip() or exported.stdout.strip()}")
    return json.loads(exported.stdout).get("deployment", {}).get("pending_operations") or []


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", required=True)
    parser.add_argument("--cwd", default=str(PROJECT_DIR), help="the Pulumi project (default: this checkout)")
    args = parser.parse_args()
    project = Path(args.cwd).resolve()
    name = yaml.safe_load((project / "Pulumi.yaml").read_text())["name"]
    try:
        state = state_dir()
        clear_dead_locks(state, name, args.stack)
        restore_checkpoint(state, name, args.stack)
        pending = pending_operations(project, args.stack)
        creates = [op for op in pending if op.get("type") == "creating"]
        for op in pending:
            resource = op.get("resource", {})
            urn_name = resource.get("urn", "?").rsplit("::", 1)[-1]
            say("pending", f"{op.get('type', '?')} {urn_name}: {what_exists(resource)}")
        if not pending:
            say("pending", "none")
        refresh = ["refresh", "--yes", "--skip-preview", "--stack", args.stack]
        if creates:
            refresh.append("--clear-pending-creates")
        done = pulumi(project, *refresh)
        if done.returncode != 0:
            raise RepairFailed("refresh failed: " + (done.stderr.strip() or done.stdout.strip()).splitlines()[-1])
        summary = [line.strip() for line in done.stdout.splitlines() if line.strip().endswith(
            ("unchanged", "updated", "deleted", "created"))]
        say("refresh", ", ".join(summary) or "done")
        left = pending_operations(project, args.stack)
        if left:
            raise RepairFailed(f"{len(left)} pending operation(s) remain after the refresh")
    except RepairFailed as error:
        say("failed", str(error))
        return 1
    say("done", f"run `scripts/pulumi up --stack {args.stack}` (or `make demo STACK={args.stack}`) to continue")
    return 0


if __name__ == "__main__":
    sys.exit(main())
