"""Who keeps a service running on its host: the host's systemd (a unit per service) when the host runs systemd
and the backend may use it, otherwise the service itself as a detached process that ``refresh`` watches and
``up`` restarts. The lifecycles start, stop, reload and remove through a ``Supervisor`` and never ask which.
"""

from __future__ import annotations

import shlex
from typing import Callable, Protocol

from components.configurator.systemd_unit import UNIT_DIR, ServiceCommand, render_unit
from components.orchestrators.hosts import CommandFailed, Host
from components.orchestrators.lifecycle.process import stop_process

SYSTEMD = "systemd"
PROCESSES = "processes"


class SupervisionFailed(RuntimeError):
    """systemd refused or failed a unit; the message has the unit's status."""


class Supervisor(Protocol):
    name: str

    def start(self, command: ServiceCommand) -> int: ...

    def stop(self, command: ServiceCommand, pid: int | None, alive: Callable[[int], bool], timeout: float) -> None: ...

    def remove(self, command: ServiceCommand) -> None: ...


class DetachedProcesses:
    """The service is its own detached process (``Host.spawn``), stopped by signals."""

    name = PROCESSES

    def __init__(self, host: Host):
        self.host = host

    def start(self, command: ServiceCommand) -> int:
        forget_unit(self.host, command)
        return self.host.spawn(list(command.argv), log_path=command.log_path)

    def stop(self, command: ServiceCommand, pid: int | None, alive: Callable[[int], bool], timeout: float) -> None:
        if pid:
            stop_process(self.host, int(pid), alive, timeout, command.description)

    def remove(self, command: ServiceCommand) -> None:
        pass


class SystemdUnits:
    """The service is a unit of the host's systemd: written to ``/etc/systemd/system``, enabled (it starts at
    boot), started and stopped with ``systemctl``; systemd restarts it after a crash."""

    name = SYSTEMD

    def __init__(self, host: Host):
        self.host = host

    def _systemctl(self, *args: str, timeout: float = 120) -> str:
        return self.host.run(["systemctl", "--no-pager", "--quiet", *args], timeout=timeout)

    def install(self, command: ServiceCommand) -> None:
        """Writes the unit when it differs from the one on the host, and enables it."""
        text = render_unit(command)
        if self.host.read_file(command.unit_file) != text:
            self.host.write_file(command.unit_file, text, mode=0o644)
            self._systemctl("daemon-reload")
        self._systemctl("enable", f"{command.unit}.service")

    def main_pid(self, command: ServiceCommand) -> int:
        out = self.host.run(["systemctl", "show", "--property=MainPID", "--value", f"{command.unit}.service"])
        return int(out.strip() or 0)

    def start(self, command: ServiceCommand) -> int:
        self.install(command)
        unit = f"{command.unit}.service"
        try:
            self._systemctl("reset-failed", unit)
        except CommandFailed:
            pass  # nothing failed before
        try:
            self._systemctl("start", unit, timeout=command.start_timeout + 30)
        except CommandFailed as error:
            raise SupervisionFailed(f"systemd did not start {unit}: {error}; {self.status(command)}") from None
        pid = self.main_pid(command)
        if not pid:
            raise SupervisionFailed(f"systemd started {unit} but it is not running: {self.status(command)}")
        return pid

    def stop(self, command: ServiceCommand, pid: int | None, alive: Callable[[int], bool], timeout: float) -> None:
        """``systemctl stop`` (SIGTERM, then SIGKILL after the unit's stop timeout); a process of this service
        that systemd does not know (one started before the service moved under systemd) is stopped by signals."""
        if self.host.exists(command.unit_file):
            self._systemctl("stop", f"{command.unit}.service", timeout=timeout + 30)
        if pid:
            stop_process(self.host, int(pid), alive, timeout, command.description)

    def reload(self, command: ServiceCommand) -> None:
        """``systemctl reload``: the unit's ``ExecReload`` signals the main process to re-read its config."""
        self.install(command)
        self._systemctl("reload", f"{command.unit}.service")

    def remove(self, command: ServiceCommand) -> None:
        """Stops and disables the unit, removes its file; nothing of it is left in systemd."""
        unit = f"{command.unit}.service"
        if not self.host.exists(command.unit_file):
            return
        self._systemctl("disable", "--now", unit, timeout=command.stop_timeout + 30)
        self.host.remove_tree(command.unit_file)
        self._systemctl("daemon-reload")
        try:
            self._systemctl("reset-failed", unit)
        except CommandFailed:
            pass

    def status(self, command: ServiceCommand) -> str:
        try:
            out = self.host.run(["systemctl", "show", "--property=ActiveState,SubState,Result,ExecMainStatus",
                                 f"{command.unit}.service"])
        except CommandFailed as error:
            return str(error)
        tail = (self.host.read_file(command.log_path) or "").strip().splitlines()[-5:]
        return " ".join(out.split()) + (" | " + " | ".join(tail) if tail else "")


def units_under(host: Host, directory: str) -> list[str]:
    """The names of the units replstack wrote for services under ``directory`` (a cluster's directory)."""
    script = (f'grep -lF -- "WorkingDirectory=$1/" {shlex.quote(UNIT_DIR)}/replstack-*.service 2>/dev/null; true')
    out = host.run(["sh", "-c", script, "sh", directory.rstrip("/")])
    return sorted(line.rsplit("/", 1)[-1].removesuffix(".service") for line in out.split() if line)


def remove_units_under(host: Host, directory: str, timeout: float) -> list[str]:
    """What the cluster owner does last on a systemd host: every unit of a service under ``directory`` is
    stopped, disabled and removed (a service whose own delete never ran)."""
    if supervisor_for(host).name != SYSTEMD:
        return []
    units = units_under(host, directory)
    for unit in units:
        SystemdUnits(host).remove(ServiceCommand(unit=unit, argv=(), workdir=directory, log_path="/dev/null",
                                                 user="root", description=unit, stop_timeout=timeout))
    return units


def forget_unit(host: Host, command: ServiceCommand) -> None:
    """A service that leaves systemd (the stack switched to ``processes``) must not keep an enabled unit, which
    would start a second server on its data at the next boot."""
    if getattr(host, "service_manager", None) is not None and host.exists(command.unit_file):
        SystemdUnits(host).remove(command)


class Supervised:
    """A lifecycle whose service a ``Supervisor`` keeps running: the host's, looked up on first use (it may ask
    the host). Lifecycles set ``host``."""

    host: Host
    _supervisor: Supervisor | None = None

    @property
    def supervisor(self) -> Supervisor:
        if self._supervisor is None:
            self._supervisor = supervisor_for(self.host)
        return self._supervisor

    @property
    def under_systemd(self) -> bool:
        return isinstance(self.supervisor, SystemdUnits)


def supervisor_for(host: Host) -> Supervisor:
    manager = getattr(host, "service_manager", None)
    return SystemdUnits(host) if manager is not None and manager() == SYSTEMD else DetachedProcesses(host)

