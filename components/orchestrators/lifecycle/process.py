"""What every service lifecycle does the same way: find its process from its pid file, stop a process cleanly,
and remove a service's files."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Callable

from components.configurator.placement import ServicePaths
from components.orchestrators.hosts import SIGKILL, SIGTERM, Host
from components.waiting import wait_until


def read_pid_file(host: Host, path: str) -> int | None:
    """The pid a server wrote to its pid file, or None when there is none."""
    words = (host.read_file(path) or "").split()
    return int(words[0]) if words and words[0].isdigit() else None


class PidFileService:
    """A service that keeps its pid in its pid file and whose command line names its config: its pid, and whether
    a pid (by default the pid file's) is that service running. Lifecycles set ``host`` and ``paths``."""

    host: Host
    paths: ServicePaths

    def pid(self) -> int | None:
        return read_pid_file(self.host, self.paths.pid_file)

    def is_running(self, pid: int | None = None) -> bool:
        pid = pid or self.pid()
        return bool(pid) and self.host.process_alive(int(pid), self.paths.config)


def stop_process(host: Host, pid: int, alive: Callable[[int], bool], timeout: float, name: str) -> None:
    """SIGTERM (a clean shutdown), then SIGKILL if ``pid`` is still ``alive`` after ``timeout`` seconds."""
    if not alive(pid):
        return
    host.signal(pid, SIGTERM)
    try:
        wait_until(lambda: not alive(pid), timeout=timeout, what=f"{name} {pid} to stop")
    except TimeoutError:
        host.signal(pid, SIGKILL)
        wait_until(lambda: not alive(pid), timeout=10, what=f"{name} {pid} to die")


def remove_service_files(host: Host, service_dir: str, socket: str) -> None:
    """The service directory, and the short socket directory when its socket had to live outside it."""
    host.remove_tree(service_dir)
    remove_runtime_files(host, service_dir, socket)


def remove_runtime_files(host: Host, service_dir: str, socket: str) -> None:
    """What only a running service needs and that lives outside its directory: the short socket directory.
    Removed even when the data is kept."""
    socket_dir = str(PurePosixPath(socket).parent)
    if socket_dir != service_dir:
        host.remove_tree(socket_dir)
