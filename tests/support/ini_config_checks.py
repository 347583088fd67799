"""Checks of a rendered maxscale.cnf or mysqlrouter.conf, independent of the renderers: the file is read with
``configparser`` and held against ``proxy_parameters.yaml``, the table of each proxy's documented sections and
parameters; then what the sections refer to is resolved (servers, monitors, services, listeners, destinations)
and the listening ports are compared. Each function returns the list of problems found: empty means the file
passes.

The parser is strict (a repeated section or key is an error), does no interpolation, keeps key case, and treats
``[DEFAULT]`` as an ordinary section (Router's ``[DEFAULT]`` is a section of its own, not configparser's defaults).
"""

from __future__ import annotations

import configparser
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

import yaml

TABLE = Path(__file__).with_name("proxy_parameters.yaml")
_DURATION = re.compile(r"\d+(h|m|s|ms)")
_HOST_PORT = re.compile(r"(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<v4>[^:\[\]]+)):(?P<port>\d+)")


@lru_cache(maxsize=1)
def documented() -> dict[str, Any]:
    return yaml.safe_load(TABLE.read_text())


def parse(text: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=True, interpolation=None, default_section="\0no default section",
                                       comment_prefixes=("#",), inline_comment_prefixes=None,
                                       empty_lines_in_values=False)
    parser.optionxform = str  # type: ignore[assignment, method-assign]
    parser.read_string(text)
    return parser


def _listed(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def _port_problem(where: str, key: str, value: str) -> str | None:
    if not (value.isdigit() and 0 < int(value) < 65536):
        return f"{where}: {key}={value!r} is not a TCP port"
    return None


# -- MaxScale ---------------------------------------------------------------------------------------------------
def maxscale_problems(text: str, servers: Iterable[str] = ()) -> list[str]:
    """Sections and parameters against the documented table, values of enumerated, boolean, duration and port
    parameters, and references: every server a monitor or service lists is a server section, a ``cluster`` is a
    monitor, a listener's service is a service, every service has a listener, a server is monitored at most once,
    and no two listeners (the REST API included) share a port. ``servers``, when given, are the node names the
    file must define, no more and no fewer."""
    table = documented()["maxscale"]
    config = parse(text)
    problems: list[str] = []
    if "maxscale" not in config:
        problems.append("no [maxscale] section")
    by_type: dict[str, list[str]] = {}
    for section in config.sections():
        params = dict(config[section])
        if section == "maxscale":
            allowed = set(table["sections"]["maxscale"])
        else:
            kind = params.get("type")
            if kind not in table["types"]:
                problems.append(f"[{section}]: type={kind!r} is not one of {sorted(table['types'])}")
                continue
            by_type.setdefault(kind, []).append(section)
            allowed = set(table["types"][kind])
            module = params.get("module") if kind == "monitor" else params.get("router") if kind == "service" \
                else None
            if kind in ("monitor", "service"):
                if module not in table["modules"]:
                    problems.append(f"[{section}]: {'module' if kind == 'monitor' else 'router'}={module!r} is not "
                                    f"a documented module of this table {sorted(table['modules'])}")
                else:
                    allowed |= set(table["modules"][module])
        problems += [f"[{section}]: unknown parameter {key!r}" for key in params if key not in allowed]
        problems += _maxscale_value_problems(section, params, table)
    problems += _maxscale_reference_problems(config, by_type, set(servers) if servers else None)
    return problems


def _maxscale_value_problems(section: str, params: dict[str, str], table: dict[str, Any]) -> list[str]:
    problems = []
    values = table["values"]
    for key, value in params.items():
        where = f"[{section}]"
        if key in ("type", "module", "router", "protocol") and value not in values[key]:
            problems.append(f"{where}: {key}={value!r} is not one of {values[key]}")
        if key == "router_options" and not set(_listed(value)) <= set(values["router_options"]):
            problems.append(f"{where}: router_options={value!r} is not a list of {values['router_options']}")
        if key in table["booleans"] and value.lower() not in values["boolean"]:
            problems.append(f"{where}: {key}={value!r} is not a boolean")
        if key in table["durations"] and not _DURATION.fullmatch(value):
            problems.append(f"{where}: {key}={value!r} is not a duration with a unit (h, m, s, ms)")
        if key in table["ports"]:
            problems += [p for p in [_port_problem(where, key, value)] if p]
    return problems


def _maxscale_reference_problems(config: configparser.ConfigParser, by_type: dict[str, list[str]],
                                 expected_servers: set[str] | None) -> list[str]:
    problems = []
    servers, monitors = set(by_type.get("server", [])), set(by_type.get("monitor", []))
    services, listeners = by_type.get("service", []), by_type.get("listener", [])
    if expected_servers is not None and servers != expected_servers:
        problems.append(f"server sections {sorted(servers)} are not the nodes {sorted(expected_servers)}")
    monitored: dict[str, str] = {}
    for monitor in monitors:
        for server in _listed(config[monitor].get("servers", "")):
            if server not in servers:
                problems.append(f"[{monitor}] monitors {server!r}, which is not a server section")
            if server in monitored:
                problems.append(f"server {server!r} is monitored by both [{monitored[server]}] and [{monitor}]")
            monitored[server] = monitor
    for service in services:
        params = config[service]
        targets = [k for k in ("servers", "cluster", "targets") if k in params]
        if len(targets) != 1:
            problems.append(f"[{service}] must have exactly one of servers, cluster, targets (has {targets})")
        for server in _listed(params.get("servers", "")):
            if server not in servers:
                problems.append(f"[{service}] routes to {server!r}, which is not a server section")
        if "cluster" in params and params["cluster"] not in monitors:
            problems.append(f"[{service}] cluster={params['cluster']!r} is not a monitor section")
        for key in ("user", "password"):
            if key not in params:
                problems.append(f"[{service}] has no {key} (MaxScale needs it to load the database accounts)")
    served = set()
    ports: dict[str, str] = {}
    if "maxscale" in config and "admin_port" in config["maxscale"]:
        ports[config["maxscale"]["admin_port"]] = "the REST API"
    for listener in listeners:
        params = config[listener]
        service = params.get("service")
        if service not in services:
            problems.append(f"[{listener}] service={service!r} is not a service section")
        served.add(service)
        _claim_port(ports, params, "port", f"[{listener}]", problems)
    problems += [f"[{s}] has no listener" for s in services if s not in served]
    return problems


# -- MySQL Router ------------------------------------------------------------------------------------------------
def mysqlrouter_problems(text: str, destinations: Iterable[str] = ()) -> list[str]:
    """Sections and options against the documented table (``[routing]`` or ``[routing:<key>]``), values of
    enumerated options and ports, and references: every route has destinations and a port or socket, every
    destination is ``host:port`` and one of ``destinations`` when given (the nodes' addresses), and no two routes
    share a port."""
    table = documented()["mysqlrouter"]
    config = parse(text)
    problems: list[str] = []
    ports: dict[str, str] = {}
    known = {str(d) for d in destinations}
    for section in config.sections():
        plugin = section.split(":", 1)[0]
        if plugin not in table["sections"]:
            problems.append(f"[{section}]: not a documented section {sorted(table['sections'])}")
            continue
        params = dict(config[section])
        problems += [f"[{section}]: unknown option {key!r}" for key in params
                     if key not in table["sections"][plugin]]
        for key, value in params.items():
            if key in table["values"] and value not in table["values"][key]:
                problems.append(f"[{section}]: {key}={value!r} is not one of {table['values'][key]}")
            if key in table["ports"]:
                problems += [p for p in [_port_problem(f"[{section}]", key, value)] if p]
            if "{" in value or "}" in value:
                problems.append(f"[{section}]: {key}={value!r} holds a brace, which Router reads as a variable")
        if plugin != "routing":
            continue
        if "routing_strategy" not in params and "mode" not in params:
            problems.append(f"[{section}] has neither routing_strategy nor mode")
        targets = _listed(params.get("destinations", ""))
        if not targets:
            problems.append(f"[{section}] has no destinations")
        for target in targets:
            if not _HOST_PORT.fullmatch(target):
                problems.append(f"[{section}]: destination {target!r} is not host:port")
            elif known and target not in known:
                problems.append(f"[{section}]: destination {target!r} is not a node of the cluster")
        _claim_port(ports, params, "bind_port", f"[{section}]", problems)
    if not any(s.split(":", 1)[0] == "routing" for s in config.sections()):
        problems.append("no [routing] section")
    return problems


def _claim_port(ports: dict, params, key: str, label: str, problems: list[str]) -> None:
    """A listening section takes its port (``params[key]``) or listens on a socket; two on one port is a
    problem, named by both sections' ``label``s."""
    port = params.get(key)
    if port is None and "socket" not in params:
        problems.append(f"{label} has neither {key} nor socket")
        return
    if port is None:
        return
    if port in ports:
        problems.append(f"{label} and {ports[port]} both listen on port {port}")
    ports[port] = label
