"""Turns a replication-manager cluster configuration (TOML) into a replstack stack file.

    python -m components.importer CLUSTER.toml [--cluster NAME] [--stack NAME] [--project DIR]

What it reads: the cluster's section (``[Default]`` first, the cluster's own keys over it), its database hosts
(``db-servers-hosts``: node count, fixed ports, on-premise hosts), ``db-servers-prefered-master``, the credentials
(``db-servers-credential``, ``replication-credential``, ``cloud18-sponsor-user-credentials``), the proxy switches and
their ports (``haproxy*``, ``proxysql*``, ``maxscale*``, ``mysqlrouter*``, ``shardproxy*``, ``sphinx*``), the topology
switches, and every ``prov-*`` key through replstack's aliases (``components.spec.RM_ALIASES``,
``components.rm_keys``). Every key it cannot translate is listed with why.

Without ``--stack`` the stack file goes to standard output. With it, to ``<stack config dir>/Pulumi.NAME.yaml`` of
the project (its ``replstack:`` keys replaced, everything else kept, such as the encryption salt ``stack init``
wrote). Passwords are never written in clear: with ``--stack`` each is set through ``scripts/pulumi config set
--secret --path KEY --stack NAME``, the value on standard input; when that cannot run (no such stack yet), or
without ``--stack``, the command to run is printed, without the value."""

from __future__ import annotations

import argparse
import ipaddress
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from components import rm_keys
from components.configurator.tags import DATABASE_TAGS, REFUSED_TAGS

NAMESPACE = "replstack"
# replication-manager's proxy switches: replstack kind, and its port keys by replstack listener name.
PROXIES: dict[str, tuple[str, dict[str, str]]] = {
    "haproxy": ("haproxy", {"write": "haproxy-write-port", "read": "haproxy-read-port", "stats": "haproxy-stat-port"}),
    "proxysql": ("proxysql", {"sql": "proxysql-port", "admin": "proxysql-admin-port"}),
    "maxscale": ("maxscale", {"write": "maxscale-write-port", "read": "maxscale-read-port", "admin": "maxscale-port"}),
    "mysqlrouter": ("mysqlrouter", {"write": "mysqlrouter-write-port", "read": "mysqlrouter-read-port"}),
    "shardproxy": ("shardproxy", {}),
    "sphinx": ("sphinx", {"sphinxql": "sphinx-sql-port", "api": "sphinx-port"}),
}
# Proxy keys replstack does another way, by prefix.
PROXY_REASONS = {
    "haproxy-user": "HAProxy's stats page is read-only and its runtime API a unix socket: no admin login",
    "haproxy-password": "HAProxy's stats page is read-only and its runtime API a unix socket: no admin login",
    "haproxy-api-port": "replstack drives HAProxy's runtime API over a unix socket",
    "haproxy-mode": "replstack's HAProxy follows the primary through its health checks",
    "haproxy-ip-write-bind": "proxies listen on local.bindAddress (or the host's address)",
    "haproxy-ip-read-bind": "proxies listen on local.bindAddress (or the host's address)",
    "proxysql-user": "replstack generates the ProxySQL admin account and its password",
    "proxysql-password": "replstack generates the ProxySQL admin account and its password",
    "maxscale-user": "replstack generates the MaxScale admin account and its password",
    "maxscale-pass": "replstack generates the MaxScale admin account and its password",
    "shardproxy-credential": "replstack generates the ShardProxy's accounts",
    "onpremise-ssh": "the onpremise backend always reaches its hosts over SSH",
    "onpremise-ssh-port": "set replstack:onpremise.hosts[].port",
    "onpremise-ssh-credential": "set replstack:onpremise.hosts[].user, and privateKey or password as a secret",
    "onpremise-ssh-private-key": "set replstack:onpremise.hosts[].privateKey (the key's text) as a secret",
}
TOPOLOGIES = {"replication-multi-master": "multi-master", "replication-multi-master-ring": "ring",
              "replication-multi-tier-slave": "multi-tier-slave"}
NOT_PROVISIONING = ("not a provisioning setting (replication-manager's monitoring, failover, scheduling or "
                    "interface): replstack does not carry it")


@dataclass
class Translation:
    config: dict[str, Any] = field(default_factory=dict)       # replstack key (no namespace) -> value
    secrets: dict[str, str] = field(default_factory=dict)      # pulumi config path -> value (never printed)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (rm key, why)

    def set(self, path: tuple[str, ...], value: Any) -> None:
        target = self.config
        for part in path[:-1]:
            target = target.setdefault(part, {})
        target[path[-1]] = value

    def get(self, path: tuple[str, ...]) -> Any:
        target: Any = self.config
        for part in path:
            if not isinstance(target, dict) or part not in target:
                return None
            target = target[part]
        return target

    def skip(self, key: str, why: str) -> None:
        self.skipped.append((key, why))


class ImportError_(ValueError):
    """The file cannot be imported at all (no cluster section, several without --cluster)."""


def cluster_section(document: dict[str, Any], cluster: str | None) -> tuple[str, dict[str, Any]]:
    """The chosen cluster's keys: ``[Default]`` under the cluster's own."""
    default = document.get("Default") if isinstance(document.get("Default"), dict) else {}
    sections = {k: v for k, v in document.items() if isinstance(v, dict) and k != "Default"}
    flat = {k: v for k, v in document.items() if not isinstance(v, dict)}
    if cluster is not None:
        if cluster not in sections:
            raise ImportError_(f"no cluster section [{cluster}]; the file has: {', '.join(sections) or 'none'}")
        return cluster, {**default, **flat, **sections[cluster]}
    if len(sections) == 1:
        name = next(iter(sections))
        return name, {**default, **flat, **sections[name]}
    if not sections and (flat or default):
        return str((flat or default).get("title", "default")), {**default, **flat}
    raise ImportError_(f"the file has {len(sections)} cluster sections ({', '.join(sections)}): choose one with "
                       "--cluster NAME")


def _credential(text: Any) -> tuple[str, str]:
    user, _, password = str(text).partition(":")
    return user.strip(), password


def _hosts(text: str) -> list[tuple[str, int | None]]:
    out = []
    for item in str(text).split(","):
        item = item.strip()
        if not item:
            continue
        if item.startswith("["):  # [ipv6]:port
            host, _, port = item[1:].partition("]:")
        elif item.count(":") == 1:
            host, port = item.split(":")
        else:
            host, port = item, ""
        out.append((host, int(port) if port.isdigit() else None))
    return out


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _scalar(value: Any) -> Any:
    """replication-manager writes numbers and switches as strings too ("1024", "true"): native YAML values."""
    if isinstance(value, str):
        if value.isdigit():
            return int(value)
        if value.lower() in ("true", "false"):
            return value.lower() == "true"
    return value


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def translate(keys: dict[str, Any]) -> Translation:
    from components.spec import RM_ALIASES

    out = Translation()
    handled: set[str] = {"title"}
    hosts = _hosts(keys.get("db-servers-hosts", ""))
    handled.add("db-servers-hosts")

    orchestrator = keys.get("prov-orchestrator")
    handled.add("prov-orchestrator")
    if orchestrator is None:
        orchestrator = "local" if hosts and all(_loopback(h) for h, _ in hosts) else "onpremise"
    from components.spec import IMPLEMENTED_ORCHESTRATORS

    if orchestrator in IMPLEMENTED_ORCHESTRATORS:
        out.set(("orchestrator",), orchestrator)
    else:
        out.skip("prov-orchestrator", f"{orchestrator!r} is not available in this version (available: "
                 f"{', '.join(IMPLEMENTED_ORCHESTRATORS)}); set replstack:orchestrator yourself")
        orchestrator = None

    if hosts:
        out.set(("database", "nodes"), len(hosts))
        ports = [p for _, p in hosts]
        if all(p is not None for p in ports):
            first = ports[0]
            if ports == [first + i for i in range(len(ports))] and orchestrator in ("local", "onpremise"):
                out.set(("database", "port"), first)
            elif orchestrator in ("local", "onpremise"):
                out.skip("db-servers-hosts", f"ports {', '.join(map(str, ports))} do not follow replstack's "
                         "database.port (db1 on it, dbN on port + N - 1): each node gets a free port instead")
        if orchestrator == "onpremise":
            names = list(dict.fromkeys(h for h, _ in hosts))
            out.set(("onpremise", "hosts"), [{"address": h} for h in names])
            out.set(("onpremise", "placement"), {f"db{i}": h for i, (h, _) in enumerate(hosts, start=1)})
            out.skip("db-servers-hosts", "on-premise hosts: add each host's SSH user, key (a secret) and hostKey "
                     "under replstack:onpremise.hosts")
    preferred = keys.get("db-servers-prefered-master")
    handled.add("db-servers-prefered-master")
    if preferred:
        matches = [i for i, (h, p) in enumerate(hosts, start=1)
                   if str(preferred) in (h, f"{h}:{p}") or str(preferred).split(",")[0].strip() == f"{h}:{p}"]
        if matches:
            out.set(("database", "preferredPrimary"), f"db{matches[0]}")
        else:
            out.skip("db-servers-prefered-master", f"{preferred!r} is not one of db-servers-hosts")

    root_user = "root"
    if "db-servers-credential" in keys:
        handled.add("db-servers-credential")
        root_user, secret = _credential(keys["db-servers-credential"])
        out.set(("bootstrap", "rootUser"), root_user)
        if secret:
            out.secrets[f"{NAMESPACE}:rootPassword"] = secret
    if "replication-credential" in keys:
        handled.add("replication-credential")
        user, _ = _credential(keys["replication-credential"])
        if user and user.lower() != root_user.lower():
            out.set(("bootstrap", "replicationUser"), user)
            why = "replstack generates the replication password (no key sets it)"
        else:
            why = (f"{user!r} is also the root account: replstack gives replication its own account "
                   "(bootstrap.replicationUser, default replstack_repl) with a generated password")
        out.skip("replication-credential", why)
    if "cloud18-sponsor-user-credentials" in keys:
        handled.add("cloud18-sponsor-user-credentials")
        user, secret = _credential(keys["cloud18-sponsor-user-credentials"])
        out.set(("bootstrap", "sponsorUser"), {"name": user})
        if secret:
            out.secrets[f"{NAMESPACE}:bootstrap.sponsorUser.password"] = secret
        out.skip("cloud18-sponsor-user-credentials", "its ALL PRIVILEGES WITH GRANT OPTION is not given: "
                 "replstack's sponsor reads and monitors by default (bootstrap.sponsorUser.grants)")

    for switch, topology in TOPOLOGIES.items():
        if switch in keys:
            handled.add(switch)
            if _truthy(keys[switch]):
                out.set(("bootstrap", "topology"), topology)
    if "force-slave-semisync" in keys:
        handled.add("force-slave-semisync")
        out.set(("bootstrap", "semiSync"), _truthy(keys["force-slave-semisync"]))

    _proxies(keys, out, handled, orchestrator)

    for key, value in keys.items():
        if not key.startswith("prov-") or key in handled:
            continue
        handled.add(key)
        if key in RM_ALIASES:
            if key in rm_keys.LIST_VALUED:
                value = _tags(key, rm_keys.as_list(value), out)
            out.set(RM_ALIASES[key], _scalar(value))
        elif key in rm_keys.PROXY_ALIASES:
            if out.get(("proxies",)):
                for proxy in out.config["proxies"]:
                    target = proxy
                    path = rm_keys.PROXY_ALIASES[key]
                    for part in path[:-1]:
                        target = target.setdefault(part, {})
                    target.setdefault(path[-1], _scalar(value))
            else:
                out.skip(key, "no proxy is switched on")
        elif key in rm_keys.REFUSED:
            out.skip(key, f"no replstack key takes it ({rm_keys.REFUSED[key]})")
        else:
            out.skip(key, "not a provisioning key replstack knows")
    for key in keys:
        if key not in handled:
            out.skip(key, PROXY_REASONS.get(key, NOT_PROVISIONING))
    return out


def _tags(key: str, tags: list[str], out: Translation) -> list[str]:
    kept = []
    for tag in tags:
        if tag in REFUSED_TAGS:
            out.skip(f"{key}: {tag}", f"tag refused: {REFUSED_TAGS[tag]}")
        elif tag not in DATABASE_TAGS:
            out.skip(f"{key}: {tag}", "not a tag replstack knows")
        else:
            kept.append(tag)
    return kept


def _proxies(keys: dict[str, Any], out: Translation, handled: set[str], orchestrator: str | None) -> None:
    proxies = []
    for switch, (kind, ports) in PROXIES.items():
        related = [k for k in keys if k == switch or k.startswith(switch + "-")]
        if not _truthy(keys.get(switch, False)):
            if switch in keys:
                handled.update(related)
            continue
        handled.update(related)
        entry: dict[str, Any] = {"kind": kind}
        fixed = {listener: int(keys[key]) for listener, key in ports.items() if key in keys}
        if kind == "shardproxy" and "shardproxy-servers" in keys:
            found = _hosts(keys["shardproxy-servers"])
            if found and found[0][1]:
                fixed["sql"] = found[0][1]
        if fixed:
            entry["ports"] = fixed
        proxies.append(entry)
        for key in related:
            if key == switch or key in ports.values() or (kind == "shardproxy" and key == "shardproxy-servers"):
                continue
            if key.endswith("-servers"):
                servers = _hosts(keys[key])
                if orchestrator == "local" and all(_loopback(h) for h, _ in servers):
                    continue  # the local backend runs it on this host, as asked
                out.skip(key, "where the proxy runs: on-premise, set replstack:onpremise.placement "
                         f"({kind}1: HOST)")
            elif key == "haproxy-binary-path":
                if orchestrator == "local":
                    out.set(("local", "haproxyBinary"), keys[key])
                else:
                    out.skip(key, "set replstack:onpremise.haproxyBinary (the path on the hosts)")
            else:
                out.skip(key, PROXY_REASONS.get(key, f"a {kind} setting replstack renders itself"))
    if proxies:
        out.set(("proxies",), proxies)


def validate(translation: Translation, project: Path) -> list[str]:
    """What replstack's own checks say of the translated settings (on this host, for the local backend)."""
    from components.spec import HostFacts, SpecError, load_spec

    secrets = {k.split(":", 1)[1]: v for k, v in translation.secrets.items()}
    config = {k: (dict(v) if isinstance(v, dict) else v) for k, v in translation.config.items()}
    if "rootPassword" in secrets:
        config["rootPassword"] = secrets["rootPassword"]
    sponsor = config.get("bootstrap", {}).get("sponsorUser")
    if sponsor is not None and "bootstrap.sponsorUser.password" in secrets:
        config["bootstrap"] = {**config["bootstrap"], "sponsorUser": {**sponsor, "password": secrets[
            "bootstrap.sponsorUser.password"]}}
    host = HostFacts.current()
    host = HostFacts(project_dir=project, memory_mb=host.memory_mb, os_user=host.os_user)
    try:
        load_spec(config, host)
    except SpecError as error:
        return str(error).splitlines()
    return []


def stack_document(translation: Translation) -> dict[str, Any]:
    return {"config": {f"{NAMESPACE}:{k}": v for k, v in translation.config.items()}}


def secret_command(pulumi: str, key: str, stack: str | None, project: Path | None = None) -> list[str]:
    """``config set --secret`` of ``key`` in ``project`` (scripts/pulumi runs in its own project otherwise)."""
    return ([pulumi] + (["--cwd", str(project)] if project is not None else []) +
            ["config", "set", "--secret", "--path", key] + (["--stack", stack] if stack else []))


def write_stack(project: Path, stack: str, translation: Translation) -> Path:
    """``Pulumi.<stack>.yaml`` in the project's stack config directory: replstack keys replaced, the rest kept."""
    settings_file = project / "Pulumi.yaml"
    config_dir = "."
    if settings_file.exists():
        config_dir = (yaml.safe_load(settings_file.read_text()) or {}).get("stackConfigDir") or "."
    path = project / config_dir / f"Pulumi.{stack}.yaml"
    existing = yaml.safe_load(path.read_text()) if path.exists() else {}
    existing = existing or {}
    config = {k: v for k, v in (existing.get("config") or {}).items() if not k.startswith(NAMESPACE + ":")}
    config.update(stack_document(translation)["config"])
    existing["config"] = config
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(existing, sort_keys=False, default_flow_style=False))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m components.importer", description=__doc__.split("\n\n")[0])
    parser.add_argument("toml", type=Path, help="a replication-manager cluster configuration")
    parser.add_argument("--cluster", help="the cluster section to import when the file has several")
    parser.add_argument("--stack", help="write stacks/Pulumi.STACK.yaml and set its passwords as secrets")
    parser.add_argument("--project", type=Path, default=Path.cwd(), help="the project directory (default: here)")
    parser.add_argument("--pulumi", help="the Pulumi CLI (default: the project's scripts/pulumi)")
    args = parser.parse_args(argv)
    try:
        document = tomllib.loads(args.toml.read_text())
        name, keys = cluster_section(document, args.cluster)
    except (OSError, tomllib.TOMLDecodeError, ImportError_) as error:
        print(f"importer: {args.toml}: {error}", file=sys.stderr)
        return 2
    translation = translate(keys)
    pulumi = args.pulumi or str(args.project / "scripts" / "pulumi")
    shown_cli = args.pulumi or "scripts/pulumi"
    report = sys.stderr
    if args.stack:
        path = write_stack(args.project, args.stack, translation)
        print(f"wrote {path} from cluster [{name}]", file=report)
    else:
        sys.stdout.write(yaml.safe_dump(stack_document(translation), sort_keys=False, default_flow_style=False))
    failed = 0
    for key in translation.secrets:
        command = secret_command(pulumi, key, args.stack, args.project.resolve() if args.stack else None)
        shown = " ".join([shown_cli, *secret_command(pulumi, key, args.stack)[1:]])
        if args.stack:
            try:
                done = subprocess.run(command, input=translation.secrets[key], capture_output=True, text=True,
                                      cwd=args.project, timeout=120)
            except OSError as error:
                done = subprocess.CompletedProcess(command, 1, "", str(error))
            if done.returncode == 0:
                print(f"set {key} as a secret", file=report)
                continue
            failed += 1
            reason = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["failed"]
            print(f"could not set {key} ({reason[0]}); run, typing the password on standard input:\n  {shown}",
                  file=report)
        else:
            print(f"password for {key}: run, typing it on standard input:\n  {shown} --stack NAME", file=report)
    for problem in validate(translation, args.project):
        print(f"the stack as written is refused until fixed: {problem}", file=report)
    if translation.skipped:
        print(f"not translated ({len(translation.skipped)}):", file=report)
        for key, why in translation.skipped:
            print(f"  {key}: {why}", file=report)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
