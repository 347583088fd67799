"""The life of a ShardProxy on a host: a MariaDB server (the database lifecycle, on its own datadir) that, after
every start, installs Spider and runs its rendered ``setup.sql`` (the Spider servers and the sharded table) over
its unix socket, and gives the cluster's administrative account to its clients."""

from __future__ import annotations

from typing import Mapping

from components.configurator.shardproxy import FILE_MODES, ShardProxyPaths, statements
from components.orchestrators.hosts import Host
from components.orchestrators.lifecycle.mariadb import MariaDBBinaries, MariaDBServer
from components.orchestrators.lifecycle.process import PidFileService
from components.sql import connect, execute, quiet_session


class ShardProxyFailed(RuntimeError):
    """The ShardProxy refused its setup."""


class ShardProxyServer(PidFileService):
    def __init__(self, host: Host, paths: ShardProxyPaths, binaries: Mapping[str, str], root_user: str,
                 root_password: str):
        self.host = host
        self.paths = paths
        self.binaries = dict(binaries)
        self.server = MariaDBServer(host, paths, MariaDBBinaries(server=binaries["server"],  # type: ignore[arg-type]
                                                                 install_db=binaries["install_db"]))
        self.root = (root_user, root_password)
        self._setup: str | None = None

    def write_config(self, text: str, files: Mapping[str, str] | None = None) -> None:
        self.server.write_config(text)
        for name, content in sorted((files or {}).items()):
            if name not in FILE_MODES:
                raise ShardProxyFailed(f"refusing to write {name!r} beside {self.paths.config}")
            self.host.write_file(f"{self.paths.dir}/{name}", content, mode=FILE_MODES[name])
        self._setup = (files or {}).get("setup.sql")

    def start(self, timeout: float) -> int:
        self.server.install()
        pid = self.server.start(timeout)
        self._configure()
        return pid

    def reload(self, timeout: float) -> int:
        """A restart when my.cnf changed under the running server, else the setup again (servers re-pointed,
        the table re-made: neither holds rows)."""
        pid = self.pid()
        if pid is None or not self.is_running(pid):
            return self.start(timeout)
        if self.server.runs(pid, self.host.read_file(self.paths.config) or "", self._port()):
            self._configure()
            return pid
        self.server.stop(pid, timeout)
        return self.start(timeout)

    def _port(self) -> int:
        for line in (self.host.read_file(self.paths.config) or "").splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "port" and value.strip().isdigit():
                return int(value)
        return 0

    def _configure(self) -> None:
        self.server.secure(*self.root)
        setup = self._setup if self._setup is not None else self.host.read_file(self.paths.setup)
        if not setup:
            raise ShardProxyFailed(f"no {self.paths.setup} to run")
        with connect(self.server.socket_endpoint()) as conn:
            quiet_session(conn, binlog=False)
            for statement in statements(setup):
                try:
                    execute(conn, statement)
                except Exception as error:  # noqa: BLE001  (named with its statement's first words, no password)
                    raise ShardProxyFailed(f"{self.paths.setup}: {' '.join(statement.split()[:4])} ...: "
                                           f"{error}") from None

    def stop(self, pid: int | None, timeout: float) -> None:
        for candidate in {int(p) for p in (pid, self.pid()) if p}:
            self.server.stop(candidate, timeout)

    def remove(self) -> None:
        self.server.remove(keep_data=False)
