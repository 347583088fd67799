"""How a backend reaches the host a service runs on: a small transport interface (run a command, start a
detached process, read and write files, signal a process), one implementation per way of reaching a host.
The service lifecycles in ``lifecycle/`` are written once against it; ``local`` runs them here, ``onpremise``
will run them over SSH."""

from __future__ import annotations

import contextlib
import fcntl
import getpass
import os
import shutil
import signal
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ContextManager, Iterator, Mapping, Protocol, Sequence

import psutil


# What services and the commands run for them create (datadirs, binary and relay logs, master.info, sockets,
# pid files) is readable by the operator's account only, whatever umask the engine was started with.
SERVICE_UMASK = 0o077
# mariadbd sets its own umask from these (its default makes files 0660, master.info with the replication
# password included).
SERVICE_FILE_MODES = {"UMASK": "0600", "UMASK_DIR": "0700"}


@dataclass(frozen=True)
class PortHolder:
    """Who listens on a port: its pid and name when visible."""

    pid: int | None
    name: str
    cmdline: str

    def __str__(self) -> str:
        return f"pid {self.pid} ({self.name})" if self.pid else self.name

    def runs_from(self, directory: str) -> bool:
        """Whether it is a service started from a config under ``directory``."""
        return directory.rstrip("/") + "/" in self.cmdline


class CommandFailed(RuntimeError):
    """A command on a service host failed; the message carries its output."""


class CommandStream(Protocol):
    """A command running on a host whose standard output is read, or whose standard input is written, in
    chunks (a backup streamed from one host into another): ``read`` returns b"" at the end, ``finish`` waits for
    the command and raises ``CommandFailed`` with the end of its standard error if it failed."""

    def read(self, size: int) -> bytes: ...

    def write(self, data: bytes) -> None: ...

    def finish(self, timeout: float) -> str: ...

    def abort(self) -> None: ...


class Host(Protocol):
    """The operations a service lifecycle needs from the host it runs on."""

    @property
    def os_user(self) -> str:
        """The OS account commands run as there (services started by the lifecycles run as it)."""
        ...

    def run(self, argv: Sequence[str], *, timeout: float = 300) -> str: ...

    def spawn(self, argv: Sequence[str], *, log_path: str) -> int: ...

    # Optional: ``service_manager() -> "systemd" | "processes"``, what keeps services running there
    # (lifecycle.supervision); a host without it runs them as detached processes.

    def write_file(self, path: str, text: str, *, mode: int = 0o644) -> None: ...

    def read_file(self, path: str) -> str | None: ...

    def make_dirs(self, path: str) -> None: ...

    def remove_tree(self, path: str) -> None: ...

    def exists(self, path: str) -> bool: ...

    def process_alive(self, pid: int, marker: str) -> bool: ...

    def signal(self, pid: int, sig: int) -> None: ...

    def exclusive(self, lock_path: str) -> ContextManager[None]: ...

    def unix_request(self, path: str, data: bytes, *, timeout: float = 3.0) -> bytes: ...

    def port_holder(self, address: str, port: int) -> PortHolder | None: ...

    def processes_under(self, directory: str) -> list[int]: ...

    # Optional (``open_command`` in components.orchestrators.lifecycle.seed falls back for transports without
    # it): a command whose output is read, or whose input is written, as a stream.
    # def open_command(self, argv: Sequence[str], *, writes: bool) -> CommandStream: ...


class _LocalStream:
    """A command on this machine with its stdout (or stdin) piped to the caller; stderr in a temporary file."""

    def __init__(self, argv: Sequence[str], writes: bool):
        self.name = Path(argv[0]).name
        self._err = tempfile.TemporaryFile()
        self._proc = subprocess.Popen(list(argv), stdin=subprocess.PIPE if writes else subprocess.DEVNULL,
                                      stdout=subprocess.DEVNULL if writes else subprocess.PIPE, stderr=self._err,
                                      umask=SERVICE_UMASK)

    def read(self, size: int) -> bytes:
        assert self._proc.stdout is not None
        return self._proc.stdout.read1(size)

    def write(self, data: bytes) -> None:
        assert self._proc.stdin is not None
        self._proc.stdin.write(data)

    def finish(self, timeout: float) -> str:
        for pipe in (self._proc.stdin, self._proc.stdout):
            if pipe is not None:
                pipe.close()
        try:
            code = self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.abort()
            raise CommandFailed(f"{self.name} did not end within {timeout:g}s") from None
        self._err.seek(0)
        err = self._err.read().decode(errors="replace")
        self._err.close()
        if code != 0:
            raise CommandFailed(f"{self.name} exited with code {code}: {err.strip()[-2000:]}")
        return err

    def abort(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait()


class LocalHost:
    """This machine. Detached processes get their own session, so they outlive the Pulumi provider that
    started them and are not in the process group the engine kills when a plugin exits."""

    @property
    def os_user(self) -> str:
        return getpass.getuser()

    def run(self, argv: Sequence[str], *, timeout: float = 300) -> str:
        proc = subprocess.run(list(argv), stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout,
                              umask=SERVICE_UMASK)
        if proc.returncode != 0:
            output = (proc.stdout + proc.stderr).strip()[-4000:]
            raise CommandFailed(f"{Path(argv[0]).name} exited with code {proc.returncode}: {output}")
        return proc.stdout

    def spawn(self, argv: Sequence[str], *, log_path: str) -> int:
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                    start_new_session=True, close_fds=True, umask=SERVICE_UMASK,
                                    env={**os.environ, **SERVICE_FILE_MODES})
        return proc.pid

    def open_command(self, argv: Sequence[str], *, writes: bool) -> CommandStream:
        """``argv`` started with its standard output piped to the caller (or, with ``writes``, its standard
        input fed by the caller), umask 077."""
        return _LocalStream(argv, writes)

    def write_file(self, path: str, text: str, *, mode: int = 0o644) -> None:
        """Atomic: a reader sees the old file or the new one, never half of it."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            os.chmod(tmp, mode)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def read_file(self, path: str) -> str | None:
        try:
            return Path(path).read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return None

    def make_dirs(self, path: str) -> None:
        """The directory is the operator's only (its parents are made as the umask says)."""
        Path(path).mkdir(parents=True, exist_ok=True, mode=0o700)

    def remove_tree(self, path: str) -> None:
        """A directory with everything in it, or a file; nothing when it does not exist."""
        target = Path(path)
        if target.is_symlink() or target.is_file():
            target.unlink(missing_ok=True)
        else:
            shutil.rmtree(path, ignore_errors=True)

    def exists(self, path: str) -> bool:
        return Path(path).exists()

    def process_alive(self, pid: int, marker: str) -> bool:
        """True when ``pid`` runs and its command line contains ``marker`` (so a recycled pid is not taken for
        our process), and it is not a zombie."""
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            stat = Path(f"/proc/{pid}/stat").read_text()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            return False
        state = stat.rsplit(")", 1)[-1].split()[0]
        return marker in cmdline and state not in ("Z", "X")

    def processes_under(self, directory: str) -> list[int]:
        """The live processes whose command line names a path under ``directory`` (every replstack service
        is started with its own config file there), this process and its parents excepted."""
        marker = directory.rstrip("/") + "/"
        mine = {os.getpid(), os.getppid()}
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) in mine:
                continue
            if self.process_alive(int(entry.name), marker):
                found.append(int(entry.name))
        return sorted(found)

    def signal(self, pid: int, sig: int) -> None:
        try:
            os.kill(int(pid), sig)
        except ProcessLookupError:
            pass

    @contextlib.contextmanager
    def exclusive(self, lock_path: str) -> Iterator[None]:
        """Holds an exclusive lock on ``lock_path`` (created if missing) for the ``with`` block."""
        Path(lock_path).parent.mkdir(parents=True, exist_ok=True)
        with open(lock_path, "a", encoding="utf-8") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def port_holder(self, address: str, port: int) -> PortHolder | None:
        """None when ``address:port`` can be listened on now; else the process that listens on it, as far as
        this account can see. A port that no socket listens on counts as free even when a probe cannot bind it
        at this instant: what blocks it then is a passing socket (a connection's), not a program that holds the
        port, and giving the service another port for it would only restart the service."""
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            try:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                probe.bind((address, int(port)))
                return None
            except OSError:
                pass
        listeners = [c for c in psutil.net_connections(kind="inet")
                     if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == int(port)]
        for conn in (c for c in listeners if c.pid):
            try:
                proc = psutil.Process(conn.pid)
                return PortHolder(conn.pid, proc.name(), " ".join(proc.cmdline()))
            except psutil.NoSuchProcess:
                continue
        return PortHolder(None, "another process", "") if listeners else None

    def unix_request(self, path: str, data: bytes, *, timeout: float = 3.0) -> bytes:
        """Sends ``data`` to the unix socket ``path`` on this host and returns everything it answers until it
        closes the connection (HAProxy's runtime API answers one command per connection). A service's control
        socket is reached this way, never through a TCP port: the socket's file mode says who may use it, and a
        remote transport forwards the same request over its own channel."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(path)
            sock.sendall(data)
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks)


def os_user_of(host: Host) -> str:
    """The host's OS account (a property of the Host protocol; a method on transports that compute it)."""
    user = host.os_user
    return user() if callable(user) else user


def transport(kind: str) -> Host:
    """The transport of a service whose state names only its kind (``local``)."""
    return host_for({"transport": kind})


def host_for(access: Mapping[str, Any] | None) -> Host:
    """The host a service runs on, from the ``access`` its backend put in the service's inputs: none (stacks
    and services of the local backend) or ``{"transport": "local"}`` is this machine, ``{"transport": "ssh",
    ...}`` a host reached over SSH (see ``ssh.SshHost``). Every provider and bootstrap step gets its host here,
    so none of them assumes where a service runs."""
    kind = (access or {}).get("transport", "local")
    if kind == "local":
        return LocalHost()
    if kind == "ssh":
        from components.orchestrators.ssh import SshAccess, SshHost

        assert access is not None
        return SshHost(SshAccess(address=access["address"], port=int(access.get("port", 22)),
                                 user=access.get("user", "root"), private_key=access.get("privateKey"),
                                 password=access.get("password"), sudo=bool(access.get("sudo")),
                                 host_key=access.get("hostKey"), name=access.get("name"),
                                 supervisor=access.get("supervisor", "auto")))
    if kind == "kube":
        from components.orchestrators.kube_channel import KubeHost

        assert access is not None
        return KubeHost(access)
    raise ValueError(f"no host transport named {kind!r}; available: local, ssh, kube")


SIGTERM, SIGKILL, SIGUSR1 = signal.SIGTERM, signal.SIGKILL, signal.SIGUSR1
