"""How a backend reaches the host a service runs on: a small transport interface (run a command, start a
detached process, read and write files, signal a process), one implementation per way of reaching a host.
The service lifecycles in ``lifecycle/`` are written once against it; ``local`` runs them here, ``onpremise``
will run them over SSH."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import ContextManager, Iterator, Protocol, Sequence


class CommandFailed(RuntimeError):
    """A command on a service host failed; the message carries its output."""


class Host(Protocol):
    """The operations a service lifecycle needs from the host it runs on."""

    def run(self, argv: Sequence[str], *, timeout: float = 300) -> str: ...

    def spawn(self, argv: Sequence[str], *, log_path: str) -> int: ...

    def write_file(self, path: str, text: str, *, mode: int = 0o644) -> None: ...

    def read_file(self, path: str) -> str | None: ...

    def make_dirs(self, path: str) -> None: ...

    def remove_tree(self, path: str) -> None: ...

    def exists(self, path: str) -> bool: ...

    def process_alive(self, pid: int, marker: str) -> bool: ...

    def signal(self, pid: int, sig: int) -> None: ...

    def exclusive(self, lock_path: str) -> ContextManager[None]: ...


class LocalHost:
    """This machine. Detached processes get their own session, so they outlive the Pulumi provider that
    started them and are not in the process group the engine kills when a plugin exits."""

    def run(self, argv: Sequence[str], *, timeout: float = 300) -> str:
        proc = subprocess.run(list(argv), stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            output = (proc.stdout + proc.stderr).strip()[-4000:]
            raise CommandFailed(f"{Path(argv[0]).name} exited with code {proc.returncode}: {output}")
        return proc.stdout

    def spawn(self, argv: Sequence[str], *, log_path: str) -> int:
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                    start_new_session=True, close_fds=True)
        return proc.pid

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
        Path(path).mkdir(parents=True, exist_ok=True)

    def remove_tree(self, path: str) -> None:
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


SIGTERM, SIGKILL, SIGUSR1 = signal.SIGTERM, signal.SIGKILL, signal.SIGUSR1
