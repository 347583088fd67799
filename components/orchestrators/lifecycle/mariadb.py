"""The life of one MariaDB server on a host: install the datadir, start, wait until it answers, secure the
root account, apply settings live, stop. Written once against the ``Host`` transport."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import PurePosixPath
from typing import ContextManager

from components.configurator.flavors import install_command
from components.configurator.mariadb import MariaDBPaths
from components.configurator.systemd_unit import ServiceCommand, outside, unit_name
from components.orchestrators.hosts import CommandFailed, Host, os_user_of
from components.orchestrators.lifecycle.process import read_pid_file, remove_runtime_files, remove_service_files
from components.orchestrators.lifecycle.supervision import DetachedProcesses, Supervised
from components.dialect import Dialect
from components.sql import Endpoint, account_grants, connect, execute, query, quiet_session, quote_account
from components.waiting import StopWaiting, wait_until


# Client errors of a replica's I/O thread that mean its source does not answer at all (refused, unreachable,
# gone): nothing to wait for until that source is started.
SOURCE_DOWN = (2002, 2003, 2005, 2006, 2013)


class ServerFailed(RuntimeError):
    """The server did not start or stop as asked; the message carries the end of its error log."""


@dataclass(frozen=True)
class MariaDBBinaries:
    server: str = "/usr/sbin/mariadbd"
    install_db: str = "/usr/bin/mariadb-install-db"


class MariaDBServer(Supervised):
    """One server of the cluster's flavor (``dialect``): MariaDB's mariadbd, or MySQL's (Percona Server's)
    mysqld from ``database.binaryDir``."""

    def __init__(self, host: Host, paths: MariaDBPaths, binaries: MariaDBBinaries, os_user: str | None = None,
                 dialect: Dialect = Dialect()):
        self.host = host
        self.paths = paths
        self.binaries = binaries
        self.dialect = dialect
        # The OS account that runs mariadbd on its host; root's socket login is tied to it.
        self.os_user = os_user or os_user_of(host)

    def command(self, start_timeout: float = 120, stop_timeout: float = 60) -> ServiceCommand:
        return ServiceCommand(
            unit=unit_name(self.paths.dir),
            argv=(self.binaries.server, f"--defaults-file={self.paths.config}"),
            workdir=self.paths.dir,
            log_path=str(PurePosixPath(self.paths.dir) / "mariadbd.out"),
            user=self.os_user,
            description=f"{'MariaDB' if self.dialect.mariadb else 'MySQL'} {PurePosixPath(self.paths.dir).name} "
                        f"of {PurePosixPath(self.paths.dir).parent.name}",
            start_timeout=start_timeout,
            stop_timeout=stop_timeout,
            runtime_dirs=outside(self.paths.dir, self.paths.socket),
        )

    # -- files --------------------------------------------------------------------------------------------
    def write_config(self, text: str) -> None:
        self.host.make_dirs(self.paths.dir)
        self.host.make_dirs(self.paths.tmpdir)
        self.host.make_dirs(str(PurePosixPath(self.paths.socket).parent))
        self.host.write_file(self.paths.config, text)

    def is_installed(self) -> bool:
        if not self.dialect.mariadb:
            return self.host.exists(self._initialized_mark)
        return self.host.exists(str(PurePosixPath(self.paths.datadir) / "mysql"))

    def install(self) -> None:
        """Creates the system tables. Root logs in through the unix socket as the OS account that runs the
        server, so no password exists (or is passed anywhere) before ``secure`` sets one over that socket."""
        if self.is_installed():
            return
        self.host.remove_tree(self.paths.datadir)
        if not self.dialect.mariadb:
            self._initialize()
            return
        self.host.run([
            self.binaries.install_db,
            f"--defaults-file={self.paths.config}",
            f"--user={self.os_user}",
            "--auth-root-authentication-method=socket",
            f"--auth-root-socket-user={self.os_user}",
            "--skip-test-db",
        ])

    def _initialize(self) -> None:
        """MySQL and Percona Server: ``--initialize-insecure`` leaves root@localhost without a password; a
        first start with networking off (nothing but this socket can reach it) ties the OS account's login to
        the socket (auth_socket), as MariaDB's install does, and the server stops again. The datadir counts as
        installed only after that (``is_installed`` looks for a file written last)."""
        command = install_command(self.dialect.flavor, binary_dir=str(PurePosixPath(self.binaries.server).parent),
                                  defaults_file=self.paths.config, os_user=self.os_user)
        try:
            self.host.run([*command, f"--user={self.os_user}"])
        except CommandFailed as error:
            raise ServerFailed(f"{error}; {self.error_log_tail()}") from None
        first, command = DetachedProcesses(self.host), self._first_start()  # a transient server: never a unit
        root = Endpoint(host="localhost", port=0, user="root", unix_socket=self.paths.socket,
                        via=self.socket_endpoint().via)
        pid = first.start(command)
        try:
            def answers() -> bool:
                if not self.host.process_alive(pid, ""):
                    raise StopWaiting(f"mysqld exited during its first start: {self.error_log_tail()}")
                with connect(root, timeout=2):
                    return True

            try:
                wait_until(answers, timeout=120, what=f"mysqld ({self.paths.config}) to start for its first setup")
            except StopWaiting as error:
                raise ServerFailed(str(error)) from None
            admin = quote_account(self.os_user, "localhost")
            with connect(root) as conn:
                execute(conn, "SET SESSION sql_log_bin = 0")
                if self.os_user == "root":
                    execute(conn, f"ALTER USER {admin} IDENTIFIED WITH auth_socket")
                else:
                    execute(conn, f"CREATE USER {admin} IDENTIFIED WITH auth_socket")
                    execute(conn, f"GRANT ALL PRIVILEGES ON *.* TO {admin} WITH GRANT OPTION")
                    execute(conn, "ALTER USER 'root'@'localhost' ACCOUNT LOCK")
        finally:
            first.stop(command, pid, self.is_running, 60)
        self.host.write_file(self._initialized_mark, "auth_socket\n")

    def _first_start(self) -> ServiceCommand:
        command = self.command()
        return replace(command, unit=f"{command.unit}-init", argv=(*command.argv, "--skip-networking"))

    @property
    def _initialized_mark(self) -> str:
        return str(PurePosixPath(self.paths.datadir) / "replstack-initialized")

    # -- process ------------------------------------------------------------------------------------------
    def is_running(self, pid: int | None) -> bool:
        return bool(pid) and self.host.process_alive(int(pid), self.paths.config)

    def running_pid(self, known: int | float | None) -> int | None:
        """The pid of the server running this node's config: ``known`` (from state) when it still runs, else
        the one in its pid file (a server someone restarted by hand), else None."""
        for pid in (known, read_pid_file(self.host, self.paths.pid_file)):
            if pid and self.is_running(int(pid)):
                return int(pid)
        return None

    def runs(self, pid: int, config: str, port: int) -> bool:
        """Whether the server ``pid`` can be adopted as this node: it runs from this node's config file, that
        file is the config it should have, and it answers on the port it should have."""
        if not self.is_running(pid) or self.host.read_file(self.paths.config) != config:
            return False
        try:
            with connect(self.socket_endpoint(), timeout=2) as conn:
                return int(query(conn, "SELECT @@port AS p")[0]["p"]) == int(port)
        except Exception:  # noqa: BLE001  (a server that does not answer as expected is not adopted)
            return False

    def start(self, timeout: float) -> int:
        """Starts mariadbd (under the host's systemd, or detached) and waits until it accepts connections on
        its socket."""
        pid = self.supervisor.start(self.command(start_timeout=timeout))

        def answers() -> bool:
            # Any process with that pid is ours here: the command line is not matched, since right after
            # the spawn it may not show mariadbd's yet.
            if not self.host.process_alive(pid, ""):
                raise StopWaiting(f"mariadbd exited while starting: {self.error_log_tail()}")
            with connect(self.socket_endpoint(), timeout=2):
                return True

        try:
            wait_until(answers, timeout=timeout, what=f"mariadbd ({self.paths.config}) to accept connections")
        except StopWaiting as error:
            raise ServerFailed(str(error)) from None
        except TimeoutError as error:
            self.stop(pid, timeout=10)
            raise ServerFailed(f"{error}; {self.error_log_tail()}") from None
        return pid

    def restart(self, pid: int | None, lock: ContextManager[None], stop_timeout: float, start_timeout: float) -> int:
        """Stop, start and wait until replication runs again, holding ``lock`` (one per cluster) so that the
        nodes restart one at a time: a cluster never has two replicas down for a restart."""
        with lock:
            self.stop(pid, stop_timeout)
            new_pid = self.start(start_timeout)
            self.wait_replication_resumed(start_timeout)
        return new_pid

    def wait_replication_resumed(self, timeout: float) -> None:
        """After a restart, a node that replicates must be replicating again before the next node restarts;
        a node that does not replicate returns at once. Fails naming the replication error if it stops."""

        def replicating() -> bool:
            with connect(self.socket_endpoint()) as conn:
                status = self.dialect.replica_status(conn)
            if not status or not status.get("Master_Host"):
                return True
            if status["Slave_SQL_Running"] == "No" and status.get("Last_SQL_Error"):
                raise StopWaiting(f"replication stopped: {status['Last_SQL_Error']}")
            if status["Slave_IO_Running"] == "Connecting" and int(status.get("Last_IO_Errno") or 0) in SOURCE_DOWN:
                # Its primary is down too (the whole cluster was stopped): the primary starts after the replicas
                # and the replication step then waits until every replica has caught up with it.
                return True
            return status["Slave_IO_Running"] == "Yes" and status["Slave_SQL_Running"] == "Yes"

        try:
            wait_until(replicating, timeout=timeout, what=f"{self.paths.dir} to replicate again after its restart")
        except StopWaiting as error:
            raise ServerFailed(f"{self.paths.dir}: {error}") from None

    def stop_replication(self) -> None:
        """Stops the node's replication threads, if it has any (a replica leaving the cluster); a server that
        does not answer is left to ``stop``."""
        try:
            with connect(self.socket_endpoint(), timeout=5) as conn:
                if self.dialect.replica_status(conn):
                    execute(conn, self.dialect.replica("stop"))
        except Exception:  # noqa: BLE001  (best effort: the server is stopped next either way)
            pass

    def stop(self, pid: int | None, timeout: float) -> None:
        """A clean shutdown (SIGTERM), then SIGKILL if it has not ended after ``timeout`` seconds."""
        self.supervisor.stop(self.command(stop_timeout=timeout), pid, self.is_running, timeout)

    def remove(self, keep_data: bool = False) -> None:
        """Everything of the node (its systemd unit too), or with ``keep_data`` only its runtime files outside
        its directory and its unit."""
        self.supervisor.remove(self.command())
        if keep_data:
            remove_runtime_files(self.host, self.paths.dir, self.paths.socket)
        else:
            remove_service_files(self.host, self.paths.dir, self.paths.socket)

    def error_log_tail(self, lines: int = 12) -> str:
        text = self.host.read_file(self.paths.log_error) or ""
        return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:]) or "(empty error log)"

    # -- SQL over the local socket ------------------------------------------------------------------------
    def socket_endpoint(self) -> Endpoint:
        """The server's unix socket, reached through the host's control channel when the host is not this
        machine (a socket on another host is not a file here)."""
        via = self.host if hasattr(self.host, "forward_unix") else None
        return Endpoint(host="localhost", port=0, user=self.os_user, unix_socket=self.paths.socket, via=via)

    def secure(self, root_user: str, root_password: str) -> None:
        """Creates (or re-keys) the administrative account that clients use over the network, outside the
        binary log so that every node does the same on its own and replication replays nothing of it, and out
        of the general and slow logs; only the password's hash is sent. It has every privilege but those that
        bypass read_only, so a replica refuses its writes; the provider's own work goes through the socket."""
        account = quote_account(root_user, "%")
        with connect(self.socket_endpoint()) as conn:
            quiet_session(conn, binlog=False)
            self.dialect.set_password(conn, account, root_password)
            execute(conn, f"GRANT ALL PRIVILEGES ON *.* TO {account} WITH GRANT OPTION")
            restrict_client_account(conn, root_user, "%", self.dialect)
            for row in query(conn, "SELECT User AS user, Host AS host FROM mysql.user WHERE user = ''"):
                execute(conn, f"DROP USER {quote_account(row['user'], row['host'])}")

    def apply_live(self, settings: dict[str, str]) -> None:
        """``SET GLOBAL`` for settings known to be dynamic (see configurator.settings)."""
        with connect(self.socket_endpoint()) as conn:
            for name, value in settings.items():
                execute(conn, f"SET GLOBAL {name} = %s", (_sql_value(value),))

    def server_version(self) -> str:
        with connect(self.socket_endpoint()) as conn:
            return str(query(conn, "SELECT VERSION() AS v")[0]["v"])


def restrict_client_account(conn, user: str, host: str, dialect: Dialect = Dialect()) -> None:
    """Takes from a client account the privileges that bypass read_only, if it has them (an account of an
    earlier version had ALL). Run on every node, outside the binary log."""
    account = quote_account(user, host)
    if not query(conn, "SELECT 1 FROM mysql.user WHERE User = %s AND Host = %s", (user, host)):
        return
    bypass = dialect.bypass_read_only
    grants = account_grants(conn, account)
    if any(privilege in grants for privilege in ("ALL PRIVILEGES", *bypass)):
        execute(conn, f"REVOKE {', '.join(bypass)} ON *.* FROM {account}")


def _sql_value(value: str) -> int | str:
    """my.cnf values as SET GLOBAL wants them: sizes with a unit suffix become bytes, numbers numbers."""
    units = {"K": 1024, "M": 1024**2, "G": 1024**3}
    if value[-1:].upper() in units and value[:-1].isdigit():
        return int(value[:-1]) * units[value[-1].upper()]
    if value.lstrip("-").isdigit():
        return int(value)
    return value
