"""Where a service runs, as chosen by an orchestrator: the one input of the renderers that is not in the spec."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Placement:
    """A service's address, its ports by name, and its directory on the host that runs it."""

    host: str
    ports: dict[str, int]
    dir: str
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_output(cls, value: dict) -> "Placement":
        ports = {name: int(port) for name, port in value["ports"].items()}  # protobuf numbers arrive as floats
        return cls(host=value["host"], ports=ports, dir=value["dir"], extra=dict(value.get("extra") or {}))
