"""What the fixtures' test hosts have in common: one host's identity (where its sshd listens, its keys, the
process that runs it), and a set of hosts as a sequence (``for host in hosts``, ``hosts[0]``, ``len``)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, Iterator, TypeVar


@dataclass
class TestHost:
    """``name`` (h1, s1, ...), the loopback address and port its sshd listens on, its directory on this machine,
    its host key (``ssh-ed25519 AAAA...``), the client key that logs in, and the process that runs it."""

    __test__ = False  # not a test class, whatever its name says

    name: str
    address: str
    port: int
    directory: Path
    host_key: str
    client_key: str = field(repr=False)
    process: subprocess.Popen | None = field(default=None, repr=False)


H = TypeVar("H")


class HostList(Generic[H]):
    hosts: list[H]

    def __iter__(self) -> Iterator[H]:
        return iter(self.hosts)

    def __getitem__(self, index: int) -> H:
        return self.hosts[index]

    def __len__(self) -> int:
        return len(self.hosts)
