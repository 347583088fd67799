"""The life of a proxy that runs in the foreground from one config file (ProxySQL, MaxScale, MySQL Router when
their binary is installed): write the file with its mode, start the command detached (its output in
``<name>.out``), restart it for a new config (none of them re-reads its whole file on a signal), stop it with
SIGTERM. The pid is the spawned process's, kept in ``<name>.pid`` by this lifecycle."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Mapping, Sequence

from components.configurator.placement import ServicePaths
from components.orchestrators.hosts import Host
from components.orchestrators.lifecycle.process import PidFileService, stop_process
from components.waiting import StopWaiting, wait_until


class DaemonFailed(RuntimeError):
    pass


class ForegroundDaemon(PidFileService):
    def __init__(self, host: Host, paths: ServicePaths, binaries: Mapping[str, str], argv: Sequence[str],
                 mode: int, dirs: Sequence[str] = ()):
        self.host = host
        self.paths = paths
        self.binaries = dict(binaries)
        self.argv = list(argv)
        self.mode = mode
        self.dirs = list(dirs)
        self.name = PurePosixPath(self.argv[0]).name

    def write_config(self, text: str, files: Mapping[str, str] | None = None) -> None:
        for directory in [self.paths.dir, *self.dirs]:
            self.host.make_dirs(directory)
        self.host.write_file(self.paths.config, text, mode=self.mode)

    def start(self, timeout: float) -> int:
        log = str(PurePosixPath(self.paths.dir) / f"{self.name}.out")
        pid = self.host.spawn(self.argv, log_path=log)
        self.host.write_file(self.paths.pid_file, f"{pid}\n")

        def up() -> bool:
            if not self.host.process_alive(pid, ""):
                raise StopWaiting(f"{self.name} exited: {(self.host.read_file(log) or '').strip()[-400:]}")
            return self.is_running(pid)

        try:
            wait_until(up, timeout=timeout, what=f"{self.name} ({self.paths.config}) to run")
        except StopWaiting as error:
            raise DaemonFailed(str(error)) from None
        return pid

    def reload(self, timeout: float) -> int:
        self.stop(self.pid(), timeout)
        return self.start(timeout)

    def stop(self, pid: int | None, timeout: float) -> None:
        for candidate in {int(p) for p in (pid, self.pid()) if p}:
            stop_process(self.host, candidate, self.is_running, timeout, self.name)

    def remove(self) -> None:
        self.host.remove_tree(self.paths.dir)
