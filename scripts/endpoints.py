#!/usr/bin/env python3
"""Prints a stack's endpoints and how to connect, for `make demo`. The password is never printed nor put on a
command line (any local user reads /proc/*/cmdline): it goes into a client option file, mode 0600 in the state
directory (itself 0700), that the printed command names with --defaults-extra-file."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent


def state_dir() -> Path:
    """The file backend's directory, as scripts/engine-env sets it up."""
    env = subprocess.run([str(SCRIPTS / "engine-env")], check=True, capture_output=True, text=True).stdout
    url = dict(line.split("=", 1) for line in env.splitlines() if "=" in line)["PULUMI_BACKEND_URL"]
    return Path(url.removeprefix("file://"))


def option_value(text: str) -> str:
    """A value of a MariaDB option file, double-quoted with the escapes the client reads back."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_client_file(stack: str, host: str, port: str, user: str, password: str) -> Path:
    """``<state dir>/clients/<stack>.cnf``, created 0600 (never readable by others, not even for a moment)."""
    directory = state_dir() / "clients"
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    path = directory / f"{stack}.cnf"
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(f"# Written by replstack for stack {stack}: mariadb --defaults-extra-file={path}\n[client]\n"
                     f"host = {host}\nport = {port}\nuser = {option_value(user)}\n"
                     f"password = {option_value(password)}\n")
    os.replace(tmp, path)
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stack", default="local")
    args = parser.parse_args()
    proc = subprocess.run([str(SCRIPTS / "pulumi"), "stack", "output", "--json", "--show-secrets", "--stack",
                           args.stack],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        print(proc.stderr, file=sys.stderr)
        return proc.returncode
    out = json.loads(proc.stdout)
    write_host, write_port = out["writeEndpoint"].rsplit(":", 1)
    replicas = [n["name"] for n in out["nodes"] if n["role"] == "replica"]
    print(f"\nreplstack stack '{args.stack}' is up.")
    print(f"  write endpoint  {out['writeEndpoint']:<22} -> primary {out['primary']}")
    print(f"  read endpoint   {out['readEndpoint']:<22} -> {', '.join(replicas) or out['primary']}")
    for node in out["nodes"]:
        print(f"  node {node['name']:<10} {node['host']}:{node['port']:<8} {node['role']}")
    for proxy in out.get("proxies", []):
        print(f"  proxy {proxy['name']:<9} stats page {proxy['statsUrl']}")
    client = write_client_file(args.stack, write_host, write_port, out["rootUser"], out["rootPassword"])
    print(f"\nConnect (the password is in {client}, mode 0600, not shown):")
    print(f"  mariadb --defaults-extra-file={client}")
    print("Tear down: make destroy")
    return 0


if __name__ == "__main__":
    sys.exit(main())
