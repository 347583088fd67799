"""A service as a systemd unit: what the ``onpremise`` backend writes to ``/etc/systemd/system`` on a host that
runs systemd, so that the host's own service manager starts the service at boot, restarts it after a crash and
stops it cleanly. The command is the one the service runs in the foreground (no daemonising: systemd keeps it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath

from components.configurator.render import render_template

UNIT_DIR = "/etc/systemd/system"
_PLAIN_WORD = re.compile(r"[A-Za-z0-9_./=:@+,-]+")
_UNIT_NAME_CHARS = re.compile(r"[^A-Za-z0-9_.-]")


@dataclass(frozen=True)
class ServiceCommand:
    """How a service runs: its foreground command line, its directory and log, the account that runs it, how
    long it may take to start and stop, whether it tells systemd it is ready (``notify``), and the signal that
    makes it re-read its config in place (``reload_signal``; None: a new config means a restart)."""

    unit: str
    argv: tuple[str, ...]
    workdir: str
    log_path: str
    user: str
    description: str
    start_timeout: float = 120
    stop_timeout: float = 60
    notify: bool = False
    reload_signal: str | None = None
    # Directories the service needs that a reboot may empty (a socket directory under /tmp): made before each
    # start, since systemd starts the unit at boot without replstack.
    runtime_dirs: tuple[str, ...] = ()

    @property
    def unit_file(self) -> str:
        return str(PurePosixPath(UNIT_DIR) / f"{self.unit}.service")


def unit_name(service_dir: str) -> str:
    """``replstack-<cluster>-<service>`` from a service's directory (``<baseDir>/<cluster>/<service>``): what a
    DBA types after ``systemctl status``. A cluster named ``replstack-...`` is not prefixed twice."""
    path = PurePosixPath(service_dir)
    cluster = path.parent.name
    name = f"{cluster}-{path.name}" if cluster.startswith("replstack-") else f"replstack-{cluster}-{path.name}"
    return _UNIT_NAME_CHARS.sub("-", name)


def exec_line(argv: tuple[str, ...] | list[str]) -> str:
    """``ExecStart=``'s command line: plain words as they are, others double-quoted with systemd's escapes;
    ``%`` (a specifier) and ``$`` (a variable) always escaped, so that no argument expands."""
    words = []
    for word in argv:
        escaped = word.replace("%", "%%").replace("$", "$$")
        if _PLAIN_WORD.fullmatch(word):
            words.append(escaped)
        else:
            words.append('"' + escaped.replace("\\", "\\\\").replace('"', '\\"') + '"')
    return " ".join(words)


def render_unit(command: ServiceCommand) -> str:
    make_dirs = [exec_line(["/bin/mkdir", "-p", "-m", "0700", d]) for d in command.runtime_dirs]
    return render_template("systemd.service.j2", unit=command, exec_start=exec_line(command.argv),
                           make_dirs=make_dirs)


def outside(service_dir: str, path: str) -> tuple[str, ...]:
    """``path``'s directory when it is not the service's own (a socket moved to a short directory)."""
    directory = str(PurePosixPath(path).parent)
    return () if directory == str(PurePosixPath(service_dir)) else (directory,)
