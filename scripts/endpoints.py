#!/usr/bin/env python3
"""Prints a stack's endpoints and how to connect, for `make demo`. The password is not printed: the connect
command reads it from the stack when it runs."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stack", default="local")
    args = parser.parse_args()
    proc = subprocess.run([str(SCRIPTS / "pulumi"), "stack", "output", "--json", "--stack", args.stack],
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
    print("\nConnect (the password is read from the stack's secrets, not shown):")
    print(f"  mariadb -h {write_host} -P {write_port} -u {out['rootUser']} "
          f"-p\"$(scripts/pulumi stack output rootPassword --show-secrets --stack {args.stack})\"")
    print("Tear down: make destroy")
    return 0


if __name__ == "__main__":
    sys.exit(main())
