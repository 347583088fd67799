"""The life of a Sphinx search daemon on a host: write sphinx.conf (0600), build the index with ``indexer``,
start ``searchd`` (it daemonizes and writes its pid file), rebuild with ``indexer --rotate`` on every ``up``
(``searchd`` swaps the new index in while it serves the old one), stop it with SIGTERM."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Mapping

from components.configurator.sphinx import FILE_MODE, SphinxPaths
from components.orchestrators.hosts import CommandFailed, Host
from components.orchestrators.lifecycle.process import PidFileService, stop_process
from components.waiting import wait_until


class SphinxFailed(RuntimeError):
    """indexer or searchd refused to run."""


class SphinxProcess(PidFileService):
    def __init__(self, host: Host, paths: SphinxPaths, binaries: Mapping[str, str]):
        self.host = host
        self.paths = paths
        self.binaries = dict(binaries)

    def write_config(self, text: str, files: Mapping[str, str] | None = None) -> None:
        for directory in (self.paths.dir, self.paths.index_dir, str(PurePosixPath(self.paths.dir) / "binlog")):
            self.host.make_dirs(directory)
        self.host.write_file(self.paths.config, text, mode=FILE_MODE)

    def index(self, rotate: bool, timeout: float = 600) -> None:
        """Every index of the config; with ``rotate`` the running searchd is told to swap the new files in, and
        this waits until it has."""
        argv = [self.binaries["indexer"], "--config", self.paths.config, "--all", "--quiet"]
        try:
            self.host.run(argv + (["--rotate"] if rotate else []), timeout=timeout)
        except CommandFailed as error:
            raise SphinxFailed(f"indexer failed: {error}") from None
        if rotate:
            wait_until(lambda: not self._pending_rotation(), timeout=timeout,
                       what=f"searchd ({self.paths.config}) to rotate its index")

    def _pending_rotation(self) -> bool:
        listing = self.host.run(["ls", "-1", self.paths.index_dir], timeout=30).split()
        return any(".new." in name for name in listing)

    def start(self, timeout: float) -> int:
        self.index(rotate=False)
        self.host.remove_tree(self.paths.pid_file)
        try:
            self.host.run([self.binaries["searchd"], "--config", self.paths.config], timeout=timeout)
        except CommandFailed as error:
            raise SphinxFailed(f"searchd did not start: {error}; see {self.paths.log}") from None
        return wait_until(lambda: self.pid() if self.is_running() else None, timeout=timeout,
                          what=f"searchd ({self.paths.config}) to write its pid")

    def reload(self, timeout: float) -> int:
        """A config change: searchd re-reads listeners only at start, so it is restarted."""
        self.stop(self.pid(), timeout)
        return self.start(timeout)

    def refresh(self, timeout: float) -> int:
        """The reindex of every ``up``: rotated in while searchd serves."""
        if not self.is_running():
            return self.start(timeout)
        self.index(rotate=True, timeout=max(timeout, 60))
        return int(self.pid() or 0)

    def stop(self, pid: int | None, timeout: float) -> None:
        for candidate in {int(p) for p in (pid, self.pid()) if p}:
            stop_process(self.host, candidate, self.is_running, timeout, "searchd")

    def remove(self) -> None:
        self.host.remove_tree(self.paths.dir)
