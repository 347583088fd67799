"""What a MaxScale routes, read from its REST API: ``GET /v1/servers``, a JSON:API document whose ``data`` holds
one resource per server (``id``, ``attributes.state``, ``attributes.parameters.address``/``port``).

``state`` is a comma-separated set of MaxScale's documented status words: ``Master``/``Slave`` (the role the
monitor gives it), ``Running`` or ``Down``, and ``Maintenance``, ``Draining``, ``Drained``, ``Auth Error``. A
replica whose replication broke keeps ``Running`` but loses ``Slave``, so the routers stop sending it reads: the
reader reports it healthy only while it has a role, runs, and is not being kept out of routing.

The reader is a pure function of the parsed document, tested against recorded answers; ``fetch_servers`` is a
thin HTTP GET with basic authentication (the password is sent in the header only, never logged or put in a URL).
"""

from __future__ import annotations

import base64
import json
import urllib.request
from dataclasses import dataclass
from typing import Any, Mapping

ROLES = {"Master": "primary", "Slave": "replica"}
# Statuses that keep a server out of new connections whatever its role.
OUT_OF_ROUTING = frozenset({"Maintenance", "Draining", "Drained", "Auth Error"})


@dataclass(frozen=True)
class ServerState:
    server: str
    address: str
    port: int
    state: frozenset[str]

    @property
    def role(self) -> str | None:
        """``primary``, ``replica``, or None when the monitor gives it no role (down, or replication broken)."""
        return next((ROLES[word] for word in ("Master", "Slave") if word in self.state), None)

    @property
    def healthy(self) -> bool:
        return "Running" in self.state and self.role is not None and not self.state & OUT_OF_ROUTING


def server_states(document: Mapping[str, Any]) -> list[ServerState]:
    """One state per server resource of a ``/v1/servers`` answer. A document that is not that shape raises
    ``ValueError`` naming what is missing."""
    try:
        resources = document["data"]
        if not isinstance(resources, list):
            raise TypeError("data is not a list")
        states = []
        for resource in resources:
            attributes = resource["attributes"]
            parameters = attributes["parameters"]
            words = frozenset(w.strip() for w in str(attributes["state"]).split(",") if w.strip())
            states.append(ServerState(str(resource["id"]), str(parameters["address"]), int(parameters["port"]),
                                      words))
        return states
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"not a MaxScale /v1/servers document: {error!r}") from None


def fetch_servers(base_url: str, user: str, password: str, timeout: float = 5.0) -> dict[str, Any]:
    """``GET <base_url>/v1/servers``, parsed."""
    request = urllib.request.Request(base_url.rstrip("/") + "/v1/servers")
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    request.add_header("Authorization", f"Basic {token}")
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (an http URL we built)
        return json.load(response)
