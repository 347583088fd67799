"""Real systemd hosts for tests: ``systemd_hosts(n)`` boots ``n`` machines, each a real ``/lib/systemd/systemd``
running as PID 1 of its own PID and mount namespaces, on an overlay of this machine's root filesystem, reached by
a real OpenSSH ``sshd`` that systemd itself runs, logging in as an unprivileged account that a real ``sudo`` lets
run anything (``NOPASSWD``). They are what a Debian server with systemd is to the ``onpremise`` backend.

Why this shape:
- This machine's PID 1 is not systemd, so a test cannot use this machine's own service manager; a systemd that
  is PID 1 of a PID namespace is a real one (``systemctl``, units, ``MainPID``, restarts, cgroups).
- Everything the host writes goes to the overlay's upper directory, never to this machine's files: a booted
  systemd runs ``systemd-tmpfiles`` (which empties ``/tmp``) when a unit pulls ``sysinit.target``, and the backend
  writes unit files under ``/etc/systemd/system`` and creates accounts. The host's ``/tmp`` and ``/run`` are its
  own tmpfs; ``/sys`` is read-only, as in a container, so nothing there touches this machine's devices.
- Units that change the kernel or the hardware (sysctl, modules, udev, swap, fstab mounts, the clock) are masked
  in the host's own ``/etc/systemd/system``, and it boots into a target that starts only sshd; the machine's
  enabled services (its mariadb, haproxy, ssh) stay off.
- The hosts share this machine's network: each sshd listens on its own loopback address and a port free at run
  time, and the services the backend starts there listen on that address too.

On exit, even when the test failed: PID 1 of each host is killed (the kernel then kills everything in its
namespace), its cgroups are removed, and its directory (upper layer included) is deleted.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import psutil

from components.orchestrators.ssh import SshAccess, close_all
from components.waiting import StopWaiting, wait_until
from tests.support.host_list import HostList, TestHost
from tests.support.sshd import SSH_KEYGEN, _free_port, _loopback_addresses, generate_key

SYSTEMD = "/lib/systemd/systemd"
LOGIN = "rsadmin"
LOGIN_UID = 23456
HOST_TARGET = "replstack-test-host.target"
SSHD_UNIT = "replstack-test-sshd.service"
CGROUP_HIERARCHIES = ("/sys/fs/cgroup/systemd", "/sys/fs/cgroup/unified")

# What a booted host must not run: units that change this machine's kernel, devices, clock or mounts (they are
# shared with it), and generators that turn this machine's fstab and such into units.
MASKED_UNITS = (
    "systemd-sysctl.service", "systemd-modules-load.service", "kmod-static-nodes.service",
    "systemd-udevd.service", "systemd-udev-trigger.service", "systemd-udev-settle.service",
    "systemd-udevd-control.socket", "systemd-udevd-kernel.socket", "systemd-remount-fs.service",
    "systemd-binfmt.service", "proc-sys-fs-binfmt_misc.automount", "systemd-timesyncd.service",
    "systemd-random-seed.service", "systemd-pstore.service", "systemd-hwdb-update.service",
    "systemd-journal-flush.service", "swap.target", "cryptsetup.target", "veritysetup.target",
    "sys-kernel-config.mount", "sys-kernel-debug.mount", "sys-kernel-tracing.mount", "sys-fs-fuse-connections.mount",
    "dev-hugepages.mount", "dev-mqueue.mount", "systemd-firstboot.service", "systemd-machine-id-commit.service",
    "e2scrub_reap.service", "apt-daily.timer", "apt-daily-upgrade.timer", "fstrim.timer", "man-db.timer",
    "e2scrub_all.timer", "dpkg-db-backup.timer", "getty.target", "console-getty.service", "modprobe@.service",
)
MASKED_GENERATORS = ("systemd-fstab-generator", "systemd-gpt-auto-generator", "systemd-getty-generator",
                     "systemd-cryptsetup-generator", "systemd-veritysetup-generator", "systemd-sysv-generator",
                     "systemd-run-generator", "systemd-debug-generator", "systemd-hibernate-resume-generator")

BOOT_SCRIPT = """\
set -e
merged=$1 upper=$2 work=$3
mount -t overlay overlay -o "lowerdir=/,upperdir=$upper,workdir=$work" "$merged"
mount -t proc proc "$merged/proc"
mount --rbind /dev "$merged/dev"
mount --rbind /sys "$merged/sys"
mount -o remount,bind,ro "$merged/sys"
mount -t tmpfs -o mode=0755 tmpfs "$merged/run"
mount -t tmpfs -o mode=1777 tmpfs "$merged/tmp"
exec chroot "$merged" {systemd} --system --unit={target} --log-target=console --log-level=notice
"""


@dataclass
class SystemdHost(TestHost):
    """One booted host: ``name`` (s1, s2, ...), the loopback address its sshd and services use, its sshd port
    and host key, and its directory (``upper`` holds every file the host wrote)."""

    cgroup: str = ""

    @property
    def upper(self) -> Path:
        return self.directory / "upper"

    @property
    def pid1(self) -> int:
        """Its systemd's pid as this machine sees it (the child of ``unshare --fork``)."""
        assert self.process is not None
        children = psutil.Process(self.process.pid).children()
        if not children:
            raise RuntimeError(f"{self.name}: its systemd is not running")
        return children[0].pid

    def access(self, **changes) -> SshAccess:
        """The access as the sudo-capable login account, with the pinned host key."""
        fields = {"address": self.address, "port": self.port, "user": LOGIN, "private_key": self.client_key,
                  "host_key": self.host_key, "name": self.name, "connect_timeout": 5.0, "sudo": True}
        return SshAccess(**{**fields, **changes})

    def run(self, *argv: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
        """Runs a command inside the host (its namespaces and root), as root, from this machine."""
        return subprocess.run(["nsenter", "-t", str(self.pid1), "-m", "-p", "-r", "-w", "--", *argv],
                              capture_output=True, text=True, check=check, timeout=timeout)

    def systemctl(self, *args: str, check: bool = False) -> subprocess.CompletedProcess:
        return self.run("systemctl", "--no-pager", *args, check=check)

    def main_pid(self, unit: str) -> int:
        """The unit's main pid inside the host (0 when it does not run)."""
        return int(self.systemctl("show", "-p", "MainPID", "--value", unit).stdout.strip() or 0)

    def wrote(self, path: str) -> Path:
        """Where a file the host wrote at ``path`` is, seen from this machine (in its upper layer)."""
        return self.upper / path.lstrip("/")

    def boot(self) -> None:
        merged, work = self.directory / "merged", self.directory / "work"
        merged.mkdir(exist_ok=True)
        work.mkdir(exist_ok=True)
        self.cgroup = f"replstack-test-{self.name}-{secrets.token_hex(4)}"
        cgroups = [Path(h) / self.cgroup for h in CGROUP_HIERARCHIES]
        for path in cgroups:
            path.mkdir()

        def enter_cgroups() -> None:
            # systemd takes the cgroup it starts in as its root: its own, not this machine's.
            for path in cgroups:
                (path / "cgroup.procs").write_text(str(os.getpid()))

        script = BOOT_SCRIPT.format(systemd=SYSTEMD, target=HOST_TARGET)
        log = open(self.directory / "console.log", "wb")
        self.process = subprocess.Popen(
            ["unshare", "--pid", "--mount", "--fork", "--propagation", "private", "--", "sh", "-c", script, "boot",
             str(merged), str(self.upper), str(work)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, preexec_fn=enter_cgroups,
            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "container": "replstack-test", "LANG": "C.UTF-8"})
        log.close()

        def sshd_answers() -> bool:
            if self.process.poll() is not None:
                raise StopWaiting(f"host {self.name} stopped booting: {self.console_tail()}")
            import socket

            with socket.create_connection((self.address, self.port), timeout=1) as conn:
                return conn.recv(64).startswith(b"SSH-2.0-")

        wait_until(sshd_answers, timeout=60, what=f"host {self.name} to boot and run sshd on "
                   f"{self.address}:{self.port}", interval=0.05)

    def power_cycle(self) -> None:
        """A power loss and a boot: everything in the host is killed at once (its servers too, as by a power
        cut), then it boots again from its own files, starting what is enabled."""
        self.shut_down()
        self.boot()

    def shut_down(self) -> None:
        """Kills its PID 1 (and so everything in its namespace), then removes its cgroups."""
        if self.process is not None:
            with contextlib.suppress(psutil.NoSuchProcess, RuntimeError):
                os.kill(self.pid1, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(30)
            self.process = None
        for hierarchy in CGROUP_HIERARCHIES:
            _remove_cgroup(Path(hierarchy) / self.cgroup) if self.cgroup else None

    def console_tail(self, lines: int = 8) -> str:
        path = self.directory / "console.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return " | ".join(text.strip().splitlines()[-lines:]) or "(empty console)"


def _remove_cgroup(path: Path) -> None:
    """A cgroup and those under it, deepest first, once their processes are gone."""
    if not path.is_dir():
        return

    def removed() -> bool:
        for directory in sorted((p for p in path.rglob("*") if p.is_dir()), key=lambda p: len(p.parts),
                                reverse=True) + [path]:
            with contextlib.suppress(FileNotFoundError):
                directory.rmdir()
        return not path.exists()

    with contextlib.suppress(TimeoutError):
        wait_until(removed, timeout=15, what=f"cgroup {path} to empty", interval=0.05)


def _prepare_root(host: SystemdHost, client_public: str) -> None:
    """The host's own files, written into its upper layer before it boots: its sshd (config, host key, unit),
    the boot target, the masks, and the login account with its sudo rule."""
    upper = host.upper
    etc = upper / "etc"
    test_dir = etc / "replstack-test"
    test_dir.mkdir(parents=True)
    subprocess.run([SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-C", host.name, "-f",
                    str(test_dir / "ssh_host_ed25519_key")], check=True, capture_output=True, timeout=30)
    host.host_key = " ".join((test_dir / "ssh_host_ed25519_key.pub").read_text().split()[:2])
    (test_dir / "authorized_keys").write_text(client_public + "\n")
    (test_dir / "authorized_keys").chmod(0o644)
    (test_dir / "sshd_config").write_text("\n".join([
        f"ListenAddress {host.address}:{host.port}",
        "HostKey /etc/replstack-test/ssh_host_ed25519_key",
        "AuthorizedKeysFile /etc/replstack-test/authorized_keys",
        f"AllowUsers {LOGIN}",
        "PubkeyAuthentication yes",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "UsePAM no",
        "PermitRootLogin no",
        "AllowTcpForwarding yes",
        "AllowStreamLocalForwarding no",
        "X11Forwarding no",
        "PrintMotd no",
        "MaxSessions 10",
        "SetEnv SHLVL=1",
        "Subsystem sftp internal-sftp",
    ]) + "\n")

    units = etc / "systemd" / "system"
    units.mkdir(parents=True)
    (units / HOST_TARGET).write_text(
        "[Unit]\nDescription=replstack test host\nDefaultDependencies=no\n"
        f"Wants={SSHD_UNIT} multi-user.target\nAllowIsolate=yes\n")
    (units / SSHD_UNIT).write_text(
        "[Unit]\nDescription=sshd of a replstack test host\nDefaultDependencies=no\n\n"
        "[Service]\nExecStart=/usr/sbin/sshd -D -e -f /etc/replstack-test/sshd_config\n"
        "RuntimeDirectory=sshd\nRuntimeDirectoryMode=0755\nKillMode=process\nRestart=on-failure\n")
    # It boots into multi-user.target, as a server does, so that the units the backend enables start at boot;
    # what this machine itself enabled there (its own mariadb, haproxy, ssh, ...) is masked.
    enabled = {p.name for wants in ("/etc/systemd/system/multi-user.target.wants",
                                    "/lib/systemd/system/multi-user.target.wants") if Path(wants).is_dir()
               for p in Path(wants).iterdir() if not p.name.startswith("replstack-")}
    for unit in sorted(set(MASKED_UNITS) | enabled):
        (units / unit).symlink_to("/dev/null")
    generators = etc / "systemd" / "system-generators"
    generators.mkdir(parents=True)
    for generator in MASKED_GENERATORS:
        (generators / generator).symlink_to("/dev/null")

    # The login account: added to copies of this machine's account files, in the host's layer only.
    home = upper / "home" / LOGIN
    home.mkdir(parents=True, mode=0o700)
    os.chown(home, LOGIN_UID, LOGIN_UID)
    for name, line in (("passwd", f"{LOGIN}:x:{LOGIN_UID}:{LOGIN_UID}:replstack test:/home/{LOGIN}:/bin/sh\n"),
                       ("group", f"{LOGIN}:x:{LOGIN_UID}:\n"),
                       ("shadow", f"{LOGIN}:*:20000:0:99999:7:::\n")):
        source = Path("/etc") / name
        target = etc / name
        target.write_text(source.read_text() + line)
        shutil.copymode(source, target)
        st = source.stat()
        os.chown(target, st.st_uid, st.st_gid)
    sudoers = etc / "sudoers.d"
    sudoers.mkdir(mode=0o755)
    (sudoers / "replstack-test").write_text(f"{LOGIN} ALL=(ALL:ALL) NOPASSWD: ALL\n")
    (sudoers / "replstack-test").chmod(0o440)


@dataclass
class SystemdHosts(HostList[SystemdHost]):
    root: Path
    hosts: list[SystemdHost]
    client_key: str = field(repr=False)


def missing() -> str | None:
    """Why this machine cannot boot such hosts, or None."""
    for tool in (SYSTEMD, "/usr/bin/sudo", "/usr/sbin/sshd", "/usr/bin/nsenter", "/usr/bin/unshare"):
        if not Path(tool).exists():
            return f"{tool} is not installed (scripts/setup installs it)"
    if os.geteuid() != 0:
        return "booting a systemd host needs root"
    if not all(Path(h).is_dir() for h in CGROUP_HIERARCHIES):
        # Each host's systemd gets a cgroup of its own in the named "systemd" hierarchy and in the unified one
        # (what this fixture was written and run with); a machine with only cgroup v2 is not handled yet.
        return "the fixture needs the hybrid cgroup layout (/sys/fs/cgroup/systemd and /sys/fs/cgroup/unified)"
    return None


@contextlib.contextmanager
def systemd_hosts(count: int = 3) -> Iterator[SystemdHosts]:
    """``count`` booted hosts (see the module's docstring); everything is gone after the block."""
    root = Path(tempfile.mkdtemp(prefix="replstack-systemd-"))
    hosts = SystemdHosts(root, [], "")
    try:
        client_key, client_public = generate_key(root, "client_ed25519")
        hosts.client_key = client_key
        for index, address in enumerate(_loopback_addresses(count), start=1):
            directory = root / f"s{index}"
            (directory / "upper").mkdir(parents=True)
            host = SystemdHost(f"s{index}", address, _free_port(address), directory, "", client_key)
            _prepare_root(host, client_public)
            hosts.hosts.append(host)
            host.boot()
        yield hosts
    finally:
        close_all()
        for host in hosts.hosts:
            with contextlib.suppress(Exception):
                host.shut_down()
        shutil.rmtree(root, ignore_errors=True)
