"""The life of one HAProxy on a host: write its config and the files beside it (the health-check command and its
0600 option file), check the config, start it, reload it in place (new processes take the listeners, the old
ones finish their connections), stop it.

Detached, HAProxy is a daemon (``-D``) and a reload is a new daemon that tells the old one to finish (``-sf``).
Under systemd it runs in master-worker mode (``-Ws``, the way Debian's own unit runs it): the master is the
unit's main process and stays, and a reload (``systemctl reload``, SIGUSR2 to the master) replaces the workers."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Mapping

from components.configurator.haproxy import FILE_MODES, HAProxyPaths
from components.configurator.systemd_unit import ServiceCommand, outside, unit_name
from components.orchestrators.hosts import CommandFailed, Host, os_user_of
from components.orchestrators.lifecycle.process import PidFileService, remove_service_files, stop_process
from components.orchestrators.lifecycle.supervision import Supervised, SystemdUnits, forget_unit
from components.waiting import wait_until


class ProxyFailed(RuntimeError):
    """HAProxy refused its config or did not start."""


class HAProxyProcess(PidFileService, Supervised):
    def __init__(self, host: Host, paths: HAProxyPaths, binary: str = "/usr/sbin/haproxy"):
        self.host = host
        self.paths = paths
        self.binary = binary

    def command(self, timeout: float = 60) -> ServiceCommand:
        """The unit's command: the master-worker in the foreground, telling systemd when it is ready."""
        name = PurePosixPath(self.paths.dir)
        return ServiceCommand(
            unit=unit_name(self.paths.dir),
            argv=(self.binary, "-Ws", "-f", self.paths.config, "-p", self.paths.pid_file),
            workdir=self.paths.dir,
            log_path=str(name / "haproxy.out"),
            user=os_user_of(self.host),
            description=f"HAProxy {name.name} of {name.parent.name}",
            start_timeout=timeout,
            stop_timeout=timeout,
            notify=True,
            reload_signal="USR2",
            runtime_dirs=outside(self.paths.dir, self.paths.socket),
        )

    def write_config(self, text: str, files: Mapping[str, str] | None = None) -> None:
        """The config and the ``files`` beside it (by name; only those of ``FILE_MODES``, with their modes:
        the option file with the check password is the operator's only), then HAProxy's own check."""
        self.host.make_dirs(self.paths.dir)
        self.host.make_dirs(str(PurePosixPath(self.paths.socket).parent))
        for name, content in sorted((files or {}).items()):
            if name not in FILE_MODES:
                raise ProxyFailed(f"refusing to write {name!r} beside {self.paths.config}: not a file HAProxy uses")
            self.host.write_file(str(PurePosixPath(self.paths.dir) / name), content, mode=FILE_MODES[name])
        self.host.write_file(self.paths.config, text)
        try:
            self.host.run([self.binary, "-c", "-f", self.paths.config], timeout=60)
        except CommandFailed as error:
            raise ProxyFailed(f"HAProxy refused {self.paths.config}: {error}") from None

    def start(self, timeout: float) -> int:
        """Daemon mode: the command returns once the listeners are bound, or fails naming the reason. Under
        systemd, ``systemctl start`` returns once the master said it is ready (its listeners are bound)."""
        self.host.remove_tree(self.paths.pid_file)
        if self.under_systemd:
            return self.supervisor.start(self.command(timeout))
        forget_unit(self.host, self.command(timeout))
        try:
            self.host.run([self.binary, "-D", "-f", self.paths.config, "-p", self.paths.pid_file], timeout=timeout)
        except CommandFailed as error:
            raise ProxyFailed(f"HAProxy did not start: {error}") from None
        return wait_until(lambda: self.pid() if self.is_running() else None, timeout=timeout,
                          what=f"HAProxy ({self.paths.config}) to write its pid")

    def reload(self, timeout: float) -> int:
        """A soft reload. Detached: a new daemon binds, then tells the old one (-sf) to finish and leave. Under
        systemd: the unit's master replaces its workers (a daemon from before the service moved under systemd is
        restarted as the unit instead)."""
        old = self.pid()
        if not self.is_running(old):
            return self.start(timeout)
        units = self.supervisor
        if isinstance(units, SystemdUnits):
            command = self.command(timeout)
            if units.main_pid(command) == old:
                return self._reload_workers(units, command, old, timeout)
            self.stop(old, timeout)
            return self.start(timeout)
        try:
            self.host.run([self.binary, "-D", "-f", self.paths.config, "-p", self.paths.pid_file,
                           "-sf", str(old)], timeout=timeout)
        except CommandFailed as error:
            raise ProxyFailed(f"HAProxy did not reload: {error}") from None
        return wait_until(lambda: (p := self.pid()) != old and self.is_running(p) and p, timeout=timeout,
                          what="the reloaded HAProxy to write its pid")

    def _reload_workers(self, units: SystemdUnits, command: ServiceCommand, master: int, timeout: float) -> int:
        """``systemctl reload``, then wait until the master runs a worker it did not run before (the one with
        the new config); the master, the unit's main process, stays."""
        before = self._workers(master)
        units.reload(command)
        wait_until(lambda: bool(set(self._workers(master)) - set(before)), timeout=timeout,
                   what=f"HAProxy ({self.paths.config}) to run a worker with its new config")
        return master

    def _workers(self, master: int) -> list[int]:
        try:
            return [int(p) for p in self.host.run(["pgrep", "-P", str(master)]).split()]
        except CommandFailed:
            return []

    def stop(self, pid: int | None, timeout: float) -> None:
        """Stops the process in state and the one in the pid file (they differ after a reload)."""
        if self.under_systemd:
            self.supervisor.stop(self.command(timeout), None, self.is_running, timeout)
        for candidate in {int(p) for p in (pid, self.pid()) if p}:
            stop_process(self.host, candidate, self.is_running, timeout, "HAProxy")

    def remove(self) -> None:
        self.supervisor.remove(self.command())
        remove_service_files(self.host, self.paths.dir, self.paths.socket)
