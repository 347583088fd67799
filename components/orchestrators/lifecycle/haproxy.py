"""The life of one HAProxy on a host: write its config and the files beside it (the health-check command and its
0600 option file), check the config, start it as a daemon, reload it in place (a new process takes the
listeners, the old one finishes its connections), stop it."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Mapping

from components.configurator.haproxy import FILE_MODES, HAProxyPaths
from components.orchestrators.hosts import CommandFailed, Host
from components.orchestrators.lifecycle.process import PidFileService, remove_service_files, stop_process
from components.waiting import wait_until


class ProxyFailed(RuntimeError):
    """HAProxy refused its config or did not start."""


class HAProxyProcess(PidFileService):
    def __init__(self, host: Host, paths: HAProxyPaths, binary: str = "/usr/sbin/haproxy"):
        self.host = host
        self.paths = paths
        self.binary = binary

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
        """Daemon mode: the command returns once the listeners are bound, or fails naming the reason."""
        self.host.remove_tree(self.paths.pid_file)
        try:
            self.host.run([self.binary, "-D", "-f", self.paths.config, "-p", self.paths.pid_file], timeout=timeout)
        except CommandFailed as error:
            raise ProxyFailed(f"HAProxy did not start: {error}") from None
        return wait_until(lambda: self.pid() if self.is_running() else None, timeout=timeout,
                          what=f"HAProxy ({self.paths.config}) to write its pid")

    def reload(self, timeout: float) -> int:
        """A soft reload: the new process binds, then tells the old one (-sf) to finish and leave."""
        old = self.pid()
        if not self.is_running(old):
            return self.start(timeout)
        try:
            self.host.run([self.binary, "-D", "-f", self.paths.config, "-p", self.paths.pid_file,
                           "-sf", str(old)], timeout=timeout)
        except CommandFailed as error:
            raise ProxyFailed(f"HAProxy did not reload: {error}") from None
        return wait_until(lambda: (p := self.pid()) != old and self.is_running(p) and p, timeout=timeout,
                          what="the reloaded HAProxy to write its pid")

    def stop(self, pid: int | None, timeout: float) -> None:
        """Stops the process in state and the one in the pid file (they differ after a reload)."""
        for candidate in {int(p) for p in (pid, self.pid()) if p}:
            stop_process(self.host, candidate, self.is_running, timeout, "HAProxy")

    def remove(self) -> None:
        remove_service_files(self.host, self.paths.dir, self.paths.socket)
