"""Real OpenSSH servers as test hosts: ``sshd_hosts(n)`` starts ``n`` sshd daemons (Debian's
openssh-server), each on its own loopback address (127.0.0.x) and a port free at run time, with its own
generated ed25519 host key and its own directory, all accepting root by one generated client key. Optionally
an unprivileged login account too (``login_user=True``), made for the run and removed after it, accepting the
same key and a generated password. On exit, even when the test failed: the daemons and their sessions are
stopped, whatever still runs from the directory or as that account is killed, mounts under it are undone,
the account and the directory are removed.

The hosts share this machine's filesystem and process table: a file written on ``h1`` is visible here, which
lets tests check what the transport did without going through it. Sessions skip the login shell's ~/.bashrc
(see ``_write_config``).

Accesses with ``sudo`` go through this machine's real ``sudo`` (scripts/setup installs it): root may run
anything, the login account has no sudo rule, so ``sudo -n`` refuses it as it refuses any account that would
need a password.
"""

from __future__ import annotations

import contextlib
import random
import secrets
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import psutil

from components.orchestrators.ssh import SshAccess, close_all
from components.waiting import StopWaiting, wait_until
from tests.support.host_list import HostList, TestHost
from tests.support.processes import kill_processes_under

SSHD = "/usr/sbin/sshd"
SSH_KEYGEN = "/usr/bin/ssh-keygen"


def generate_key(directory: Path, name: str) -> tuple[str, str]:
    """A new ed25519 key pair in ``directory``: (private key text, public key line)."""
    path = directory / name
    subprocess.run([SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(path)], check=True,
                   stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
    return path.read_text(), path.with_name(name + ".pub").read_text().strip()


@dataclass
class SshdHost(TestHost):
    """One sshd: ``name`` (h1, h2, ...), where it listens, its host key (``ssh-ed25519 AAAA...``) and its own
    directory (``base`` is free for the test's services; ``sshd.log`` is the daemon's log)."""

    @property
    def base(self) -> Path:
        return self.directory / "base"

    @property
    def config(self) -> Path:
        return self.directory / "sshd_config"

    def access(self, user: str = "root", **changes) -> SshAccess:
        """The access to this host as ``user`` with the client key and the pinned host key; ``changes``
        replace fields (``sudo=True``, ``private_key=...``, ``host_key=None``, ...)."""
        fields = {"address": self.address, "port": self.port, "user": user, "private_key": self.client_key,
                  "host_key": self.host_key, "name": self.name, "connect_timeout": 5.0}
        return SshAccess(**{**fields, **changes})

    def sessions(self) -> list[psutil.Process]:
        """The per-connection processes of this daemon (``sshd: root@notty`` and what runs under them)."""
        try:
            return psutil.Process(self.process.pid).children(recursive=True) if self.process else []
        except psutil.NoSuchProcess:
            return []

    def start(self) -> None:
        self.process = subprocess.Popen([SSHD, "-D", "-f", str(self.config), "-E", str(self.directory / "sshd.log")],
                                        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        process = self.process

        def answers() -> bool:
            if process.poll() is not None:
                raise StopWaiting(f"sshd {self.name} exited with code {process.returncode}: {self.log_tail()}")
            with socket.create_connection((self.address, self.port), timeout=1) as conn:
                return conn.recv(64).startswith(b"SSH-2.0-")

        wait_until(answers, timeout=15, what=f"sshd {self.name} on {self.address}:{self.port}", interval=0.02)

    def stop(self) -> None:
        """Stops the daemon and every session it has open."""
        if self.process is None:
            return
        _kill_and_wait(self.sessions())
        with contextlib.suppress(ProcessLookupError):
            self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        self.process = None

    def log_tail(self, lines: int = 5) -> str:
        path = self.directory / "sshd.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return " | ".join(text.strip().splitlines()[-lines:]) or "(empty log)"


@dataclass
class SshdHosts(HostList[SshdHost]):
    root: Path
    hosts: list[SshdHost]
    client_key: str = field(repr=False)
    client_public_key: str
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    mounts: list[Path] = field(default_factory=list)

    def known_hosts(self, path: Path | None = None) -> Path:
        """A known_hosts file naming every host with its key (``[address]:port key``)."""
        path = path or self.root / "known_hosts"
        path.write_text("".join(f"[{h.address}]:{h.port} {h.host_key}\n" for h in self.hosts))
        return path

    @contextlib.contextmanager
    def small_disk(self, directory: Path, size_kb: int = 64) -> Iterator[Path]:
        """A ``size_kb`` tmpfs mounted on ``directory`` (made if missing) for the block; skips the test where
        mounting is not permitted."""
        import pytest

        directory.mkdir(parents=True, exist_ok=True)
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k,mode=0755", "tmpfs",
                                  str(directory)], capture_output=True, text=True, timeout=30)
        if mounted.returncode != 0:
            pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.strip()}")
        self.mounts.append(directory)
        try:
            yield directory
        finally:
            _unmount(directory)
            self.mounts.remove(directory)


def _kill_and_wait(procs: list[psutil.Process]) -> None:
    """SIGKILL, then wait until each is gone or a zombie (reaping orphans is up to the machine's init, which
    may take its time)."""
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()

    def ended(proc: psutil.Process) -> bool:
        try:
            return proc.status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True

    wait_until(lambda: all(ended(p) for p in procs), timeout=10, what="killed processes to end", interval=0.01)


def _unmount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], capture_output=True, timeout=30)


def _loopback_addresses(count: int) -> list[str]:
    """``count`` addresses of 127.0.0.0/8 that nothing listens on now (127.0.0.1 and the .0/.255 ends
    excepted), picked at random so that parallel runs rarely meet; a clash would only cost a retry."""
    busy = {c.laddr.ip for c in psutil.net_connections(kind="inet4") if c.laddr}
    candidates = [f"127.0.0.{x}" for x in range(2, 255) if f"127.0.0.{x}" not in busy]
    return random.sample(candidates, count)


def _free_port(address: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((address, 0))
        return probe.getsockname()[1]


def _write_config(host: SshdHost, root: Path, users: list[str], passwords: bool) -> None:
    lines = [
        f"ListenAddress {host.address}:{host.port}",
        f"HostKey {host.directory / 'ssh_host_ed25519_key'}",
        f"PidFile {host.directory / 'sshd.pid'}",
        f"AuthorizedKeysFile {root / 'authorized_keys'}",
        f"AllowUsers {' '.join(users)}",
        "PubkeyAuthentication yes",
        f"PasswordAuthentication {'yes' if passwords else 'no'}",
        "PermitEmptyPasswords no",
        "KbdInteractiveAuthentication no",
        "UsePAM no",
        "StrictModes no",
        "PermitRootLogin prohibit-password",
        "AllowTcpForwarding yes",
        "AllowStreamLocalForwarding no",
        "X11Forwarding no",
        "PrintMotd no",
        "MaxSessions 10",
        "LogLevel VERBOSE",
        "Subsystem sftp internal-sftp",
    ]
    # bash sources ~/.bashrc for commands sshd runs when it is a top-level shell: SHLVL=1 makes it a nested
    # one, so the sessions do not pay for this machine's root .bashrc (a pyenv set-up, ~0.1 s a command, that
    # a server's root account would not have).
    lines.append("SetEnv SHLVL=1")
    host.config.write_text("\n".join(lines) + "\n")


def _make_user(root: Path) -> tuple[str, str]:
    """A login account for this run: no home of its own beyond the run's directory, a random password."""
    name = f"rs-ssh-{secrets.token_hex(3)}"
    home = root / "home" / name
    home.parent.mkdir(mode=0o755)
    subprocess.run(["useradd", "--home-dir", str(home), "--no-create-home", "--shell", "/bin/sh",
                    "--user-group", "--password", "*", name], check=True, capture_output=True, timeout=60)
    home.mkdir(mode=0o700)
    shutil.chown(home, name, name)
    password = secrets.token_urlsafe(18)
    subprocess.run(["chpasswd"], input=f"{name}:{password}\n", text=True, check=True, capture_output=True,
                   timeout=60)
    return name, password


def _remove_user(name: str) -> None:
    try:
        uid = int(subprocess.run(["id", "-u", name], capture_output=True, text=True, timeout=30).stdout)
    except ValueError:
        return
    _kill_and_wait([p for p in psutil.process_iter(["uids"]) if p.info["uids"] and p.info["uids"].real == uid])
    subprocess.run(["userdel", name], capture_output=True, timeout=60)


@contextlib.contextmanager
def sshd_hosts(count: int = 3, *, login_user: bool = False) -> Iterator[SshdHosts]:
    """``count`` running sshd hosts (see the module's docstring); everything is gone after the block."""
    root = Path(tempfile.mkdtemp(prefix="replstack-sshd-"))
    cluster: SshdHosts | None = None
    user = None
    try:
        # The login account reads the authorized keys as itself: the directory is traversable by all.
        root.chmod(0o755)
        client_key, client_public = generate_key(root, "client_ed25519")
        (root / "authorized_keys").write_text(client_public + "\n")
        (root / "authorized_keys").chmod(0o644)
        if shutil.which("sudo") is None:
            raise RuntimeError("sudo is not installed: run scripts/setup, which installs it")
        users = ["root"]
        password = None
        if login_user:
            user, password = _make_user(root)
            users.append(user)
        cluster = SshdHosts(root, [], client_key, client_public, user, password)
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation directory
        for index, address in enumerate(_loopback_addresses(count), start=1):
            directory = root / f"h{index}"
            directory.mkdir(mode=0o755)
            (directory / "base").mkdir(mode=0o755)
            subprocess.run([SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-C", f"h{index}", "-f",
                            str(directory / "ssh_host_ed25519_key")], check=True, capture_output=True, timeout=30)
            host_key = " ".join((directory / "ssh_host_ed25519_key.pub").read_text().split()[:2])
            host = SshdHost(f"h{index}", address, 0, directory, host_key, client_key)
            cluster.hosts.append(host)
            for attempt in range(5):
                host.port = _free_port(address)
                _write_config(host, root, users, passwords=login_user)
                try:
                    host.start()
                    break
                except (StopWaiting, TimeoutError):
                    host.stop()
                    if attempt == 4 or "Address already in use" not in host.log_tail(20):
                        raise
        yield cluster
    finally:
        close_all()  # the pooled connections of this process: their sessions end before the daemons stop
        if cluster is not None:
            for host in cluster.hosts:
                with contextlib.suppress(Exception):
                    host.stop()
            for mount in list(cluster.mounts):
                _unmount(mount)
        kill_processes_under(root)
        if user:
            _remove_user(user)
        for mounted in _mounts_under(root):
            _unmount(mounted)
        shutil.rmtree(root, ignore_errors=True)


def _mounts_under(root: Path) -> list[Path]:
    prefix = str(root) + "/"
    with open("/proc/self/mounts", encoding="utf-8") as mounts:
        points = [Path(line.split()[1]) for line in mounts if line.split()[1].startswith(prefix)]
    return sorted(points, key=lambda p: len(p.parts), reverse=True)
