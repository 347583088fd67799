"""The values the ProxySQL, MaxScale and MySQL Router renderers put into their files, checked one by one.

Each of those files has its own syntax (libconfig strings, MaxScale's INI, Router's INI with ``{name}``
interpolation), but the safe subset is small and the same: names are letters, digits and ``_.~-`` (MaxScale's
rule for object names, which also keeps them out of every quoting and comment syntax), addresses are IP
addresses, ports are TCP ports, paths are absolute and one word, and passwords are one word of printable ASCII
without the characters a given syntax gives a meaning to. A value outside that subset is refused with
``UnsafeValue`` rather than escaped: an escape that one version of a proxy reads differently would be a way to add
a line, a section or an account. Messages about a password never contain it.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Iterable, Sequence

from components.configurator.placement import Placement
from components.configurator.render import UnsafeValue

_NAME = re.compile(r"[A-Za-z0-9_.~-]+")
_ACCOUNT = re.compile(r"[A-Za-z0-9_]+")
_PATH = re.compile(r"/[A-Za-z0-9_.~/+-]*")


@dataclass(frozen=True)
class Backend:
    """A database node as a proxy sees it (the same fields as the HAProxy renderer's, so a caller builds one list
    of nodes for any proxy kind)."""

    name: str
    host: str
    port: int


def name(what: str, value: str) -> str:
    if not (isinstance(value, str) and _NAME.fullmatch(value)):
        raise UnsafeValue(f"refusing to render {what} {value!r}: a name is letters, digits and '_.~-' only")
    return value


def account(what: str, value: str) -> str:
    if not (isinstance(value, str) and _ACCOUNT.fullmatch(value)):
        raise UnsafeValue(f"refusing to render {what} {value!r}: an account name is letters, digits and '_' only")
    return value


def secret(what: str, value: str, forbidden: str) -> str:
    """A password: one word of printable ASCII without any character of ``forbidden``. The message names the
    password by ``what`` only."""
    if not (isinstance(value, str) and value and value.isascii() and value.isprintable()
            and not any(c.isspace() or c in forbidden for c in value)):
        raise UnsafeValue(f"refusing to render the {what}: it must be one word of printable ASCII without any of "
                          f"{forbidden!r}")
    return value


def ip_address(what: str, value: str) -> str:
    """The address in its canonical form; host names are refused (the renderers connect to what the
    orchestrator placed, by address)."""
    try:
        return ipaddress.ip_address(value).compressed
    except (TypeError, ValueError):
        raise UnsafeValue(f"refusing to render {what} {value!r}: not an IP address") from None


def host_port(host: str, port: int) -> str:
    """``127.0.0.1:3306``, ``[::1]:3306``."""
    address = ip_address("address", host)
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def tcp_port(what: str, value: int) -> int:
    if not (isinstance(value, int) and not isinstance(value, bool) and 0 < value < 65536):
        raise UnsafeValue(f"refusing to render port {value!r} of {what}: not a TCP port number")
    return value


def absolute_path(what: str, value: str) -> str:
    if not (isinstance(value, str) and _PATH.fullmatch(value) and "/../" not in value + "/"):
        raise UnsafeValue(f"refusing to render {what} {value!r}: an absolute path of letters, digits and "
                          "'_.~/+-' only")
    return value


def whole_number(what: str, value: int, minimum: int = 0) -> int:
    if not (isinstance(value, int) and not isinstance(value, bool) and value >= minimum):
        raise UnsafeValue(f"refusing to render {value!r} as {what}: not a whole number >= {minimum}")
    return value


def listener_ports(placement: Placement, names: Sequence[str]) -> dict[str, int]:
    """The placement's port of each listener, in ``names`` order: exactly those listeners, each on its own TCP
    port."""
    if set(placement.ports) != set(names):
        raise UnsafeValue(f"refusing to render listeners {sorted(placement.ports)}: this proxy has exactly "
                          f"{list(names)}")
    ports = {listener: tcp_port(f"listener {listener}", placement.ports[listener]) for listener in names}
    if len(set(ports.values())) != len(ports):
        raise UnsafeValue(f"refusing to render listeners {ports}: two listeners share a port")
    return ports


def backends(primary: Backend, replicas: Iterable[Backend]) -> list[Backend]:
    """Every node, primary first, each with a name, an IP address and a port, names and addresses unique."""
    nodes = [primary, *replicas]
    checked = [Backend(name(f"server name {b.name!r}", b.name), ip_address(f"address of {b.name}", b.host),
                       tcp_port(f"server {b.name}", b.port)) for b in nodes]
    if len({b.name for b in checked}) != len(checked):
        raise UnsafeValue(f"refusing to render servers {[b.name for b in checked]}: names must be unique")
    if len({(b.host, b.port) for b in checked}) != len(checked):
        raise UnsafeValue(f"refusing to render servers {[b.name for b in checked]}: two share an address")
    return checked
