"""The SSH transport: the ``Host`` operations on a machine reached over SSH (paramiko), with the same
contract as ``LocalHost`` (see hosts.py), plus a control channel for SQL (``forward_tcp``, ``forward_unix``).

Everything runs as exec requests on pooled connections: ``sh -c`` scripts for files, processes and locks,
and a small Perl helper (``_HELPER``) where the shell has no tool for it (reading /proc, probing a port,
relaying a unix socket). What the target needs: a POSIX ``sh``, coreutils, util-linux (``setsid``,
``flock``), ``perl`` (``perl-base`` is Essential on Debian and Ubuntu), and ``sudo`` when the access asks for
it (commands then run through ``sudo -n``, so a sudo that wants a password fails at once instead of hanging).
``missing_tools()`` lists what a host lacks.

Host keys are checked against the key (or SHA256 fingerprint) pinned in the access, else against a
known_hosts file; an unknown or different key is refused, never accepted and never saved. Connections are
pooled per access and shared between threads (Pulumi calls providers from a thread pool): at most
``MAX_SESSIONS`` exec sessions per connection (OpenSSH allows 10 by default), more connections when those
are busy, a new one when a connection has dropped. Every failure that is not a command's own exit code is
one line naming the host and the step: ``db1-host (root@192.0.2.10:22): connect: connection refused``.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import errno
import io
import logging
import os
import posixpath
import select
import shlex
import socket
import struct
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Callable, Iterator, Sequence

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from components.orchestrators.hosts import SERVICE_FILE_MODES, SERVICE_UMASK, CommandFailed, PortHolder

# OpenSSH's MaxSessions defaults to 10 sessions per connection; stay under it, and open another connection
# (up to MAX_CONNECTIONS per host) when a connection's sessions are all in use.
MAX_SESSIONS = 8
MAX_CONNECTIONS = 4
KEEPALIVE_SECONDS = 15
# How long a helper command (read a file, look at /proc, ...) may take once it has started.
HELPER_TIMEOUT = 60.0
# Extra time given to a run() over its own timeout, which the target enforces, before the connection is
# declared lost.
NETWORK_GRACE = 15.0

# paramiko logs a dropped connection at ERROR level; with no handler configured, Python would print it on the
# provider's stderr. The transport reports what matters in its own errors.
if not logging.getLogger("paramiko").handlers:
    logging.getLogger("paramiko").addHandler(logging.NullHandler())

KEY_TYPES = {"ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521"}


# -- errors -------------------------------------------------------------------------------------------------
class SshError(RuntimeError):
    """A step on an SSH host failed for a reason other than a command's exit code. One line: the host, the
    step, the reason."""


class HostUnreachable(SshError):
    """No SSH server answered: refused, timed out, no route, not an SSH server."""


class AuthenticationFailed(SshError):
    """The server refused the user's key or password."""


class HostKeyRejected(SshError):
    """The server's host key is unknown, or differs from the pinned or known one."""


class SudoDenied(SshError):
    """The access asks for sudo and ``sudo -n`` refused (it wants a password, the user may not, no sudo)."""


class RemoteWriteFailed(SshError):
    """A file could not be written on the host (disk full, permissions, ...); the old file is untouched."""


class ConnectionLost(SshError):
    """The connection dropped while a step ran, or no session could be opened on it."""


class SshTimeout(SshError, TimeoutError):
    """A command or a step did not finish in time."""


# What keeps services running on a host: ``auto`` is its systemd when it runs one and commands run as root
# there, else detached processes.
SUPERVISORS = ("auto", "systemd", "processes")
_SERVICE_MANAGERS: dict[tuple, str] = {}


# -- access -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SshAccess:
    """How to reach one host. ``private_key`` is the key's text (OpenSSH or PEM format, unencrypted);
    ``host_key`` is the host's public key (``ssh-ed25519 AAAA...``, as in a .pub file or a known_hosts line)
    or its SHA256 fingerprint (``SHA256:...``, as ``ssh-keygen -lf`` prints). Without ``host_key`` the key
    must be in ``known_hosts`` (default: the current user's ``~/.ssh/known_hosts``)."""

    address: str
    port: int = 22
    user: str = "root"
    private_key: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    sudo: bool = False
    host_key: str | None = None
    known_hosts: str | None = None
    name: str | None = None
    connect_timeout: float = 10.0
    supervisor: str = "auto"

    def __post_init__(self) -> None:
        if not self.address:
            raise ValueError("ssh access: address is empty")
        if not 0 < int(self.port) < 65536:
            raise ValueError(f"ssh access to {self.address}: port {self.port} is not between 1 and 65535")
        if not self.user:
            raise ValueError(f"ssh access to {self.address}: user is empty")
        if not self.private_key and not self.password:
            raise ValueError(f"{self.label}: give a private key or a password")
        if self.host_key:
            _parse_host_key(self.host_key, self.label)
        if self.supervisor not in SUPERVISORS:
            raise ValueError(f"{self.label}: supervisor {self.supervisor!r} is not one of {', '.join(SUPERVISORS)}")

    @property
    def label(self) -> str:
        login = f"{self.user}@{self.address}:{self.port}"
        return f"{self.name} ({login})" if self.name else f"ssh {login}"

    @property
    def known_hosts_name(self) -> str:
        """The name known_hosts files use for this host: the address, or ``[address]:port`` off port 22."""
        return self.address if int(self.port) == 22 else f"[{self.address}]:{self.port}"


def _parse_host_key(text: str, label: str) -> paramiko.PKey | str:
    """A pinned key as a paramiko key, or a fingerprint as ``SHA256:<base64 without padding>``."""
    text = text.strip()
    if text.startswith("SHA256:"):
        digest = text[len("SHA256:"):].rstrip("=")
        try:
            if len(base64.b64decode(digest + "=" * (-len(digest) % 4))) != 32:
                raise ValueError
        except (binascii.Error, ValueError):
            raise ValueError(f"{label}: host key {text!r} is not a SHA256 fingerprint") from None
        return "SHA256:" + digest
    words = text.split()
    # "ssh-ed25519 AAAA... [comment]" or a known_hosts line "<names> ssh-ed25519 AAAA... [comment]"
    for index, word in enumerate(words[:-1]):
        if word in KEY_TYPES:
            try:
                return paramiko.PKey.from_type_string(word, base64.b64decode(words[index + 1], validate=True))
            except Exception as error:  # noqa: BLE001  (any decoding failure means the same thing)
                raise ValueError(f"{label}: host key is not a valid {word} public key ({error})") from None
    raise ValueError(f"{label}: host key must be an OpenSSH public key ('ssh-ed25519 AAAA...') or a SHA256 "
                     f"fingerprint ('SHA256:...')")


def _load_private_key(access: SshAccess) -> paramiko.PKey:
    data = access.private_key.encode()
    try:
        try:
            loaded = serialization.load_ssh_private_key(data, password=None)
        except ValueError:
            loaded = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise AuthenticationFailed(f"{access.label}: private key: it is encrypted; give it unencrypted (as a "
                                   f"secret)") from None
    except Exception as error:  # noqa: BLE001  (whatever the parser says, the key cannot be used)
        raise AuthenticationFailed(f"{access.label}: private key: not a readable private key "
                                   f"({type(error).__name__})") from None
    kinds = ((ed25519.Ed25519PrivateKey, paramiko.Ed25519Key), (ec.EllipticCurvePrivateKey, paramiko.ECDSAKey),
             (rsa.RSAPrivateKey, paramiko.RSAKey))
    for crypto_class, key_class in kinds:
        if isinstance(loaded, crypto_class):
            return key_class.from_private_key(io.StringIO(access.private_key))
    raise AuthenticationFailed(f"{access.label}: private key: {type(loaded).__name__} keys are not supported")


def _describe(key: paramiko.PKey) -> str:
    return f"{key.get_name()} {key.fingerprint}"


class _RejectUnknownKeys(paramiko.RejectPolicy):
    """paramiko calls this when the host's key is not among the client's keys (the pinned key or the
    known_hosts entries). A key whose fingerprint is pinned is accepted for this connection only; any other
    is refused with the reason. Nothing is ever written to a known_hosts file."""

    def __init__(self, access: SshAccess, pin: paramiko.PKey | str | None, known_hosts: str):
        self.access, self.pin, self.known_hosts = access, pin, known_hosts

    def missing_host_key(self, client, hostname, key) -> None:
        label = self.access.label
        if isinstance(self.pin, str):
            if key.fingerprint == self.pin:
                return
            raise HostKeyRejected(f"{label}: host key: the server presented {_describe(key)}, not the pinned "
                                  f"{self.pin}: the host key changed or this is another machine")
        if self.pin is not None:
            raise HostKeyRejected(f"{label}: host key: the server presented {_describe(key)}, not the pinned "
                                  f"{_describe(self.pin)}: the host key changed or this is another machine")
        raise HostKeyRejected(f"{label}: host key: {_describe(key)} is unknown: no host key is pinned and "
                              f"{self.known_hosts} has none for {hostname}; check it out of band, then pin it")


def _connect(access: SshAccess) -> paramiko.SSHClient:
    """A new authenticated connection, or one of the errors above naming the host and the step."""
    label = access.label
    pin = _parse_host_key(access.host_key, label) if access.host_key else None
    pkey = _load_private_key(access) if access.private_key else None
    known_hosts = access.known_hosts or os.path.expanduser("~/.ssh/known_hosts")
    client = paramiko.SSHClient()
    if isinstance(pin, paramiko.PKey):
        client.get_host_keys().add(access.known_hosts_name, pin.get_name(), pin)
    elif pin is None and os.path.exists(known_hosts):
        try:
            client.load_system_host_keys(known_hosts)
        except (OSError, paramiko.SSHException) as error:
            raise HostKeyRejected(f"{label}: host key: cannot read {known_hosts}: {error}") from None
    client.set_missing_host_key_policy(_RejectUnknownKeys(access, pin, known_hosts))
    timeout = access.connect_timeout
    try:
        client.connect(access.address, int(access.port), username=access.user, pkey=pkey,
                       password=access.password, timeout=timeout, banner_timeout=timeout, auth_timeout=timeout,
                       channel_timeout=timeout, look_for_keys=False, allow_agent=False)
    except SshError:
        client.close()
        raise
    except paramiko.BadHostKeyException as error:
        client.close()
        expected = _describe(error.expected_key)
        where = f"not the pinned {expected}" if pin is not None else f"but {known_hosts} holds {expected}"
        raise HostKeyRejected(f"{label}: host key: the server presented {_describe(error.key)}, {where}: the host "
                              f"key changed or this is another machine") from None
    except paramiko.BadAuthenticationType as error:
        client.close()
        raise AuthenticationFailed(f"{label}: authenticate: the server accepts only "
                                   f"{', '.join(error.allowed_types)} for {access.user}") from None
    except paramiko.AuthenticationException:
        client.close()
        what = f"private key {_describe(pkey)}" if pkey else "password"
        if pkey and access.password:
            what += " or password"
        raise AuthenticationFailed(f"{label}: authenticate: the server refused user {access.user!r} with the "
                                   f"{what}") from None
    except paramiko.ssh_exception.NoValidConnectionsError as error:
        client.close()
        failures = list(error.errors.values())
        if all(isinstance(e, ConnectionRefusedError) for e in failures):
            reason = "connection refused (no SSH server listens there)"
        elif any(isinstance(e, (socket.timeout, TimeoutError)) for e in failures):
            reason = f"no answer within {timeout:g}s"
        else:
            reason = "; ".join(sorted({e.strerror or str(e) for e in failures}))
        raise HostUnreachable(f"{label}: connect: {reason}") from None
    except (socket.timeout, TimeoutError):
        client.close()
        raise HostUnreachable(f"{label}: connect: no answer within {timeout:g}s") from None
    except socket.gaierror as error:
        client.close()
        raise HostUnreachable(f"{label}: connect: cannot resolve {access.address} ({error.strerror})") from None
    except OSError as error:
        client.close()
        raise HostUnreachable(f"{label}: connect: {error.strerror or error}") from None
    except paramiko.SSHException as error:
        client.close()
        # paramiko reports a handshake that did not finish in time either as a banner it could not read or,
        # when its negotiation wait ends first, as a session that does not exist.
        if "banner" in str(error).lower() or "no existing session" in str(error).lower():
            raise HostUnreachable(f"{label}: connect: no SSH handshake within {timeout:g}s (is an SSH server "
                                  f"listening there?)") from None
        raise HostUnreachable(f"{label}: connect: SSH negotiation failed: {_one_line(str(error))}") from None
    except EOFError:
        client.close()
        raise HostUnreachable(f"{label}: connect: the server closed the connection during the handshake") from None
    transport = client.get_transport()
    transport.set_keepalive(KEEPALIVE_SECONDS)
    # Small request/answer packets: without this, Nagle's algorithm and delayed acknowledgements add tens of
    # milliseconds to each session opened.
    with contextlib.suppress(OSError):
        transport.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if access.sudo:
        try:
            _check_sudo(access, transport)
        except BaseException:
            client.close()
            raise
    return client


def _check_sudo(access: SshAccess, transport: paramiko.Transport) -> None:
    """Once per connection: ``sudo -n true`` must pass, so that a sudo asking for a password is reported
    as such at connect time."""
    channel = transport.open_session(timeout=access.connect_timeout)
    try:
        channel.exec_command("sudo -n true")
        channel.shutdown_write()
        out, err = _collect(channel, time.monotonic() + HELPER_TIMEOUT, access.label, "sudo check")
        code = channel.recv_exit_status()
    finally:
        channel.close()
    if code == 0:
        return
    reason = _one_line((err or out).decode(errors="replace")) or f"exit code {code}"
    if code == 127:
        reason = f"sudo is not installed ({reason})"
    raise SudoDenied(f"{access.label}: sudo: sudo -n refused for {access.user!r}: {reason}")


# -- the pool -----------------------------------------------------------------------------------------------
class _Connection:
    def __init__(self, client: paramiko.SSHClient):
        self.client = client
        self.sessions = 0

    @property
    def transport(self) -> paramiko.Transport | None:
        return self.client.get_transport()

    def usable(self) -> bool:
        transport = self.transport
        return transport is not None and transport.is_active()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.close()


class _Endpoint:
    """The pooled connections to one access."""

    def __init__(self, access: SshAccess):
        self.access = access
        self._cond = threading.Condition()
        self._connections: list[_Connection] = []

    def acquire(self, *, session: bool, timeout: float) -> _Connection:
        """A live connection with a free session slot (taken) when ``session``; connects when needed."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                alive = []
                for conn in self._connections:
                    (alive.append(conn) if conn.usable() else conn.close())
                self._connections = alive
                for conn in alive:
                    if not session or conn.sessions < MAX_SESSIONS:
                        conn.sessions += int(session)
                        return conn
                if len(alive) < MAX_CONNECTIONS:
                    # Connects while holding the lock: the other threads of this host wait for it anyway.
                    conn = _Connection(_connect(self.access))
                    conn.sessions += int(session)
                    self._connections.append(conn)
                    return conn
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise SshTimeout(f"{self.access.label}: session: all {MAX_CONNECTIONS * MAX_SESSIONS} sessions "
                                     f"stayed busy for {timeout:g}s")
                self._cond.wait(remaining)

    def release(self, conn: _Connection) -> None:
        with self._cond:
            conn.sessions -= 1
            self._cond.notify()

    def drop(self, conn: _Connection) -> None:
        with self._cond:
            conn.close()
            if conn in self._connections:
                self._connections.remove(conn)
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            for conn in self._connections:
                conn.close()
            self._connections = []
            self._cond.notify_all()

    def connection_count(self) -> int:
        with self._cond:
            return sum(1 for conn in self._connections if conn.usable())


_ENDPOINTS: dict[SshAccess, _Endpoint] = {}
_ENDPOINTS_LOCK = threading.Lock()


def _endpoint(access: SshAccess) -> _Endpoint:
    with _ENDPOINTS_LOCK:
        endpoint = _ENDPOINTS.get(access)
        if endpoint is None:
            endpoint = _ENDPOINTS[access] = _Endpoint(access)
        return endpoint


def close_all() -> None:
    """Closes every pooled connection (the next operation reconnects)."""
    with _ENDPOINTS_LOCK:
        endpoints = list(_ENDPOINTS.values())
    for endpoint in endpoints:
        endpoint.close()


# -- reading a channel --------------------------------------------------------------------------------------
def _one_line(text: str) -> str:
    return " | ".join(line.strip() for line in text.strip().splitlines() if line.strip())


def _collect(channel: paramiko.Channel, deadline: float | None, label: str, step: str) -> tuple[bytes, bytes]:
    """Everything the command writes to stdout and stderr, until it closes them. Reads both at once so that
    neither fills the channel's window."""
    out, err = [], []
    while True:
        while channel.recv_ready():
            out.append(channel.recv(65536))
        while channel.recv_stderr_ready():
            err.append(channel.recv_stderr(65536))
        if (channel.eof_received or channel.closed) and not channel.recv_ready() \
                and not channel.recv_stderr_ready():
            return b"".join(out), b"".join(err)
        wait = 1.0
        if deadline is not None:
            wait = min(wait, deadline - time.monotonic())
            if wait <= 0:
                raise SshTimeout(f"{label}: {step}: no answer from the host in time (connection lost?)")
        select.select([channel], [], [], wait)


# -- the Perl helper for what sh has no tool for ------------------------------------------------------------
# Commands: `alive PID` and `under` (the marker on stdin, so that no process's command line carries it but
# the ones we look for) print pids; `port ADDRESS PORT` prints "free" or "held<TAB>pid<TAB>name<TAB>cmdline";
# `relay PATH` connects to a unix socket and copies stdin to it and its answer to stdout until it closes.
_HELPER = r"""
use strict; use warnings;
use Socket qw(AF_INET AF_INET6 SOCK_STREAM SOL_SOCKET SO_REUSEADDR inet_aton inet_pton pack_sockaddr_in
              pack_sockaddr_in6);
use IO::Select; use IO::Socket::UNIX;
$SIG{PIPE} = 'IGNORE';
binmode STDIN; binmode STDOUT;
sub slurp { open(my $fh, '<:raw', $_[0]) or return undef; local $/; my $d = <$fh>; defined $d ? $d : '' }
sub marker { local $/; my $m = <STDIN>; defined $m ? $m : '' }
sub alive {
    my ($pid, $marker) = @_;
    my $cmdline = slurp("/proc/$pid/cmdline"); return 0 unless defined $cmdline;
    my $stat = slurp("/proc/$pid/stat"); return 0 unless defined $stat;
    $cmdline =~ tr/\0/ /;
    my ($state) = substr($stat, rindex($stat, ')') + 1) =~ /^\s*(\S)/;
    return index($cmdline, $marker) >= 0 && defined $state && $state ne 'Z' && $state ne 'X';
}
sub pids { opendir(my $d, '/proc') or die "/proc: $!\n"; sort { $a <=> $b } grep { /^\d+$/ } readdir $d }
sub put {
    my ($fh, $buf) = @_;
    while (length $buf) { my $n = syswrite($fh, $buf); return 0 unless $n; substr($buf, 0, $n, '') }
    return 1;
}
my $cmd = shift @ARGV;
if ($cmd eq 'alive') { print alive($ARGV[0], marker()) ? "yes\n" : "no\n"; exit 0 }
if ($cmd eq 'under') {
    my $marker = marker();
    for my $pid (pids()) { next if $pid == $$ || $pid == getppid(); print "$pid\n" if alive($pid, $marker) }
    exit 0;
}
if ($cmd eq 'port') {
    my ($addr, $port) = @ARGV;
    my $v6 = index($addr, ':') >= 0;
    my $packed = $v6 ? inet_pton(AF_INET6, $addr) : inet_aton($addr);
    if (defined $packed && socket(my $s, $v6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0)) {
        setsockopt($s, SOL_SOCKET, SO_REUSEADDR, 1);
        if (bind($s, $v6 ? pack_sockaddr_in6($port, $packed) : pack_sockaddr_in($port, $packed))) {
            print "free\n"; exit 0;
        }
    }
    my %inodes;
    for my $table ('/proc/net/tcp', '/proc/net/tcp6') {
        open(my $fh, '<', $table) or next;
        <$fh>;
        while (my $line = <$fh>) {
            my @f = split ' ', $line;
            next unless @f > 9 && $f[3] eq '0A' && $f[1] =~ /:([0-9A-Fa-f]+)$/ && hex($1) == $port;
            $inodes{$f[9]} = 1;
        }
    }
    for my $pid (pids()) {
        opendir(my $fds, "/proc/$pid/fd") or next;
        for my $fd (readdir $fds) {
            my $link = readlink("/proc/$pid/fd/$fd");
            next unless defined $link && $link =~ /^socket:\[(\d+)\]$/ && $inodes{$1};
            my $name = slurp("/proc/$pid/comm"); $name = '' unless defined $name; $name =~ s/\s+$//;
            my $cmdline = slurp("/proc/$pid/cmdline"); $cmdline = '' unless defined $cmdline;
            $cmdline =~ s/\0+$//; $cmdline =~ tr/\0\t\n/   /;
            print "held\t$pid\t$name\t$cmdline\n"; exit 0;
        }
    }
    print "held\t\tanother process\t\n"; exit 0;
}
if ($cmd eq 'relay') {
    my $sock = IO::Socket::UNIX->new(Type => SOCK_STREAM, Peer => $ARGV[0]);
    unless ($sock) { printf STDERR "%d\t%s\n", $! + 0, "$!"; exit 3 }
    my $select = IO::Select->new(\*STDIN, $sock);
    while ($select->count) {
        for my $h ($select->can_read) {
            my $n = sysread($h, my $buf, 65536);
            if (fileno($h) == fileno($sock)) {
                exit 0 unless $n;
                put(\*STDOUT, $buf) or exit 0;
            } elsif ($n) {
                put($sock, $buf) or exit 0;
            } else {
                $select->remove(\*STDIN); shutdown($sock, 1);
            }
        }
    }
    exit 0;
}
die "unknown helper command $cmd\n";
"""
_RUN_HELPER = 'p=$1; shift; exec perl -e "$p" -- "$@"'

_UMASK = f"umask {SERVICE_UMASK:03o}"
_SPAWN = "\n".join([
    "log=$1; shift",
    _UMASK,
    *(f"export {name}={shlex.quote(value)}" for name, value in SERVICE_FILE_MODES.items()),
    'case $1 in',
    '  */*) [ -f "$1" ] && [ -x "$1" ] || { echo "$1: no such executable" >&2; exit 127; } ;;',
    '  *) command -v "$1" >/dev/null 2>&1 || { echo "$1: command not found" >&2; exit 127; } ;;',
    'esac',
    # fd 3 keeps the channel's stdout for the pid; the program gets the log, and nothing of the session.
    'exec 3>&1',
    'exec </dev/null >>"$log" 2>&1',
    # Not a process group leader (no job control here), so setsid(1) makes the new session in this very
    # process and execs the program: $! is the program's pid.
    'setsid "$@" 3>&- &',
    'echo $! >&3',
])
_WRITE = "\n".join([
    'path=$1 dir=$2 name=$3 size=$4 mode=$5',
    _UMASK,
    'mkdir -p -- "$dir" || exit 1',
    'tmp=$(mktemp -- "$dir/.$name.XXXXXX") || exit 1',
    'if ! cat >"$tmp"; then rm -f -- "$tmp"; exit 1; fi',
    'got=$(wc -c <"$tmp")',
    'if [ "$got" -ne "$size" ]; then',
    '  rm -f -- "$tmp"; echo "received $got of $size bytes: the connection was cut" >&2; exit 1',
    'fi',
    'chmod "$mode" "$tmp" && mv -f -- "$tmp" "$path" || { rm -f -- "$tmp"; exit 1; }',
])
_READ = '[ -e "$1" ] || exit 66; exec cat -- "$1"'
_LOCK = "\n".join([
    _UMASK,
    'mkdir -p -- "$2" || exit 1',
    # flock holds the lock until `cat` ends, which is when the client closes the channel (or the
    # connection drops): a lock is never left behind by a lost client.
    """exec flock -x -o "$1" sh -c 'echo locked; exec cat >/dev/null'""",
])
_SIGNAL = "\n".join([
    'kill -"$1" "$2" 2>/dev/null && exit 0',
    '[ -e /proc/"$2" ] || exit 0',
    'exec kill -"$1" "$2"',
])
_TOOLS = ("sh", "perl", "flock", "setsid", "timeout", "mktemp", "sudo")


# -- the transport ------------------------------------------------------------------------------------------
class SshHost:
    """The ``Host`` operations on the machine ``access`` reaches. Cheap to create: connections are pooled per
    access, shared by every ``SshHost`` of that access, and made on first use. Picklable (the access
    only)."""

    def __init__(self, access: SshAccess):
        self.access = access

    def __reduce__(self):
        return (SshHost, (self.access,))

    def __repr__(self) -> str:
        return f"SshHost({self.access.label})"

    @property
    def label(self) -> str:
        return self.access.label

    # -- plumbing --------------------------------------------------------------------------------------
    def _command(self, script: str, args: Sequence[str] = ()) -> str:
        words = ["sh", "-c", script, "sh", *[str(a) for a in args]]
        if self.access.sudo:
            words = ["sudo", "-n", "--", *words]
        return shlex.join(words)

    @contextlib.contextmanager
    def _session(self, step: str) -> Iterator[paramiko.Channel]:
        """An exec session on a pooled connection; a dropped connection is replaced once, before anything
        ran on it."""
        endpoint = _endpoint(self.access)
        for attempt in (1, 2):
            conn = endpoint.acquire(session=True, timeout=self.access.connect_timeout + HELPER_TIMEOUT)
            try:
                channel = conn.transport.open_session(timeout=self.access.connect_timeout)
                break
            except (paramiko.SSHException, EOFError, OSError, AttributeError) as error:
                endpoint.release(conn)
                refused = isinstance(error, paramiko.ChannelException) and conn.usable()
                if not refused:
                    endpoint.drop(conn)
                if attempt == 2 or refused:
                    raise ConnectionLost(f"{self.label}: {step}: cannot open a session: "
                                         f"{_one_line(str(error)) or type(error).__name__}") from None
        try:
            yield channel
        finally:
            channel.close()
            endpoint.release(conn)

    def _exec(self, step: str, script: str, args: Sequence[str] = (), *, stdin: bytes = b"",
              timeout: float | None = HELPER_TIMEOUT) -> tuple[int, bytes, bytes]:
        """Runs ``script`` with ``args`` (through sudo when asked), feeding ``stdin``; returns the exit code,
        stdout and stderr. Raises ``SudoDenied`` when sudo refused, ``SshTimeout``/``ConnectionLost``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._session(step) as channel:
            try:
                channel.exec_command(self._command(script, args))
            except (paramiko.SSHException, EOFError, OSError) as error:
                raise ConnectionLost(f"{self.label}: {step}: {_one_line(str(error)) or type(error).__name__}") \
                    from None
            try:
                if stdin:
                    channel.sendall(stdin)
                channel.shutdown_write()
            except (OSError, paramiko.SSHException):
                pass  # the command ended without reading everything; its exit code and output say why
            out, err = _collect(channel, deadline, self.label, step)
            if not channel.status_event.wait(None if deadline is None else max(deadline - time.monotonic(), 5)):
                raise SshTimeout(f"{self.label}: {step}: the command did not report its exit status")
            code = channel.recv_exit_status()
        if code == -1:
            raise ConnectionLost(f"{self.label}: {step}: the connection dropped before the command ended")
        self._check_sudo_refusal(step, code, err)
        return code, out, err

    def _check_sudo_refusal(self, step: str, code: int, err: bytes) -> None:
        if not self.access.sudo or code not in (1, 127):
            return
        text = err.decode(errors="replace").strip()
        if code == 127 and "sudo" in text and "not found" in text:
            raise SudoDenied(f"{self.label}: {step}: sudo is not installed ({_one_line(text)})")
        if text.startswith("sudo:") and any(m in text for m in ("password is required", "not allowed",
                                                                 "sudoers", "may not run")):
            raise SudoDenied(f"{self.label}: {step}: sudo refused: {_one_line(text)}")

    def _helper(self, step: str, args: Sequence[str], stdin: bytes = b"") -> str:
        code, out, err = self._exec(step, _RUN_HELPER, [_HELPER, *args], stdin=stdin)
        if code != 0:
            raise SshError(f"{self.label}: {step}: {_one_line(err.decode(errors='replace')) or f'exit code {code}'}")
        return out.decode(errors="replace")

    def _simple(self, step: str, script: str, args: Sequence[str], error=SshError) -> None:
        code, out, err = self._exec(step, script, args)
        if code != 0:
            reason = _one_line((err or out).decode(errors="replace")) or f"exit code {code}"
            raise error(f"{self.label}: {step}: {reason}")

    # -- the Host protocol -----------------------------------------------------------------------------
    def run(self, argv: Sequence[str], *, timeout: float = 300) -> str:
        """Runs ``argv`` (umask 077, no stdin) and returns its stdout; raises ``CommandFailed`` with its
        output on a non-zero exit, ``SshTimeout`` when it runs longer than ``timeout`` (the target kills it)."""
        argv = [str(a) for a in argv]
        name = posixpath.basename(argv[0])
        # Not exec'd: the shell outlives a command killed by a signal and reports 128+n (paramiko drops
        # the "exit-signal" a killed session would send, which would look like a lost connection).
        script = f'{_UMASK}; t=$1; shift; timeout -s KILL "$t" "$@"'
        started = time.monotonic()
        code, out, err = self._exec(f"running {name}", script, [f"{timeout:.3f}", *argv],
                                    timeout=timeout + NETWORK_GRACE)
        if code == 137 and time.monotonic() - started >= timeout:
            raise SshTimeout(f"{self.label}: running {name}: timed out after {timeout:g}s; the host killed it")
        if code != 0:
            output = (out + err).decode(errors="replace").strip()[-4000:]
            raise CommandFailed(f"{self.label}: {name} exited with code {code}: {output}")
        return out.decode(errors="replace")

    def spawn(self, argv: Sequence[str], *, log_path: str) -> int:
        """Starts ``argv`` detached in its own session (it survives this connection), stdin from /dev/null,
        stdout and stderr appended to ``log_path``, umask 077 and the service file modes in its
        environment; returns its pid."""
        argv = [str(a) for a in argv]
        step = f"starting {posixpath.basename(argv[0])}"
        code, out, err = self._exec(step, _SPAWN, [log_path, *argv])
        if code != 0 or not out.strip().isdigit():
            reason = _one_line(err.decode(errors="replace")) or f"exit code {code}"
            raise CommandFailed(f"{self.label}: {step}: {reason}")
        return int(out.strip())

    def write_file(self, path: str, text: str, *, mode: int = 0o644) -> None:
        """Atomic: the content goes to a temporary file beside ``path``, checked for its size, given its
        mode, then renamed over ``path``; a failed write (disk full) leaves the old file and no temporary."""
        data = text.encode("utf-8")
        directory, name = posixpath.split(path)
        directory = directory or "."
        if not directory.startswith("/"):
            directory = "./" + directory
        code, out, err = self._exec(f"writing {path}", _WRITE,
                                    [path, directory, name, str(len(data)), f"{mode:o}"], stdin=data)
        if code != 0:
            reason = _one_line((err or out).decode(errors="replace")) or f"exit code {code}"
            raise RemoteWriteFailed(f"{self.label}: writing {path}: {reason}")

    def read_file(self, path: str) -> str | None:
        """The file's text (newlines translated as Python's text mode does), or None when it is missing."""
        code, out, err = self._exec(f"reading {path}", _READ, [path])
        if code == 66:
            return None
        if code != 0:
            reason = _one_line(err.decode(errors="replace")) or f"exit code {code}"
            raise SshError(f"{self.label}: reading {path}: {reason}")
        return out.decode("utf-8", errors="replace").replace("\r\n", "\n").replace("\r", "\n")

    def make_dirs(self, path: str) -> None:
        """The directory and its parents; the leaf (when made) is 0700, the parents as the umask (077)."""
        self._simple(f"making {path}", f'{_UMASK}; exec mkdir -p -m 700 -- "$1"', [path])

    def remove_tree(self, path: str) -> None:
        """Removes ``path`` (a directory with everything in it, or a file); errors are ignored."""
        self._exec(f"removing {path}", 'rm -rf -- "$1"; exit 0', [path])

    def exists(self, path: str) -> bool:
        code, _, err = self._exec(f"looking for {path}", '[ -e "$1" ]', [path])
        if code not in (0, 1):
            raise SshError(f"{self.label}: looking for {path}: {_one_line(err.decode(errors='replace'))}")
        return code == 0

    def process_alive(self, pid: int, marker: str) -> bool:
        """True when ``pid`` runs on the host, is not a zombie, and its command line contains ``marker``."""
        return self._helper(f"looking at process {int(pid)}", ["alive", str(int(pid))],
                            stdin=marker.encode()).strip() == "yes"

    def processes_under(self, directory: str) -> list[int]:
        """The live processes of the host whose command line names a path under ``directory``."""
        marker = directory.rstrip("/") + "/"
        out = self._helper(f"listing processes under {directory}", ["under"], stdin=marker.encode())
        return sorted(int(word) for word in out.split())

    def signal(self, pid: int, sig: int) -> None:
        """Sends ``sig`` to ``pid``; a process that is already gone is not an error."""
        self._simple(f"signalling process {int(pid)}", _SIGNAL, [str(int(sig)), str(int(pid))])

    @contextlib.contextmanager
    def exclusive(self, lock_path: str) -> Iterator[None]:
        """Holds an exclusive lock on ``lock_path`` on the host (created if missing) for the ``with`` block:
        a ``flock`` running on the host for as long as this session stays open. Blocks until the lock is
        free. The lock ends with the session, so a client that dies or loses its connection never leaves it
        behind; losing it inside the block is reported when the block ends."""
        step = f"locking {lock_path}"
        with self._session(step) as channel:
            try:
                channel.exec_command(self._command(_LOCK, [lock_path, posixpath.dirname(lock_path) or "."]))
            except (paramiko.SSHException, EOFError, OSError) as error:
                raise ConnectionLost(f"{self.label}: {step}: {_one_line(str(error))}") from None
            answer = b""
            while not answer.endswith(b"\n"):
                chunk = channel.recv(64)
                if not chunk:
                    err = b""
                    while channel.recv_stderr_ready():
                        err += channel.recv_stderr(65536)
                    code = channel.recv_exit_status()
                    self._check_sudo_refusal(step, code, err)
                    reason = _one_line(err.decode(errors="replace")) or f"exit code {code}"
                    raise SshError(f"{self.label}: {step}: {reason}")
                answer += chunk
            try:
                yield
            finally:
                lost = channel.closed or channel.exit_status_ready()
                with contextlib.suppress(Exception):
                    channel.shutdown_write()
                # flock ends when `cat` sees the end of its input: wait for it, so that the lock is free
                # when the block is left.
                channel.status_event.wait(HELPER_TIMEOUT)
            if lost:
                raise ConnectionLost(f"{self.label}: {step}: the lock was lost before the block ended "
                                     f"(the connection dropped)")

    def unix_request(self, path: str, data: bytes, *, timeout: float = 3.0) -> bytes:
        """Sends ``data`` to the unix socket ``path`` on the host (through a relay the host runs, as the
        account commands run as) and returns everything it answers until it closes the connection.
        A socket that cannot be reached raises the ``OSError`` the host gave (``FileNotFoundError``,
        ``PermissionError``, ``ConnectionRefusedError``); no answer within ``timeout`` raises ``SshTimeout``."""
        step = f"unix socket {path}"
        with self._session(step) as channel:
            try:
                channel.exec_command(self._command(_RUN_HELPER, [_HELPER, "relay", path]))
            except (paramiko.SSHException, EOFError, OSError) as error:
                raise ConnectionLost(f"{self.label}: {step}: {_one_line(str(error))}") from None
            with contextlib.suppress(OSError, paramiko.SSHException):
                channel.sendall(data)  # a relay that could not connect has ended already: its status says why
            chunks, errors = [], []
            while True:
                readable, _, _ = select.select([channel], [], [], timeout)
                if not readable:
                    raise SshTimeout(f"{self.label}: {step}: no complete answer within {timeout:g}s")
                while channel.recv_stderr_ready():
                    errors.append(channel.recv_stderr(65536))
                if channel.recv_ready():
                    chunks.append(channel.recv(65536))
                elif channel.eof_received or channel.closed:
                    break
            code = channel.recv_exit_status()
            while channel.recv_stderr_ready():
                errors.append(channel.recv_stderr(65536))
        err = b"".join(errors).decode(errors="replace").strip()
        self._check_sudo_refusal(step, code, b"".join(errors))
        if code == -1:
            raise ConnectionLost(f"{self.label}: {step}: the connection dropped before the answer ended")
        if code == 3:
            number, _, message = err.partition("\t")
            raise OSError(int(number) if number.isdigit() else errno.EIO, f"{self.label}: {step}: {message}")
        if code != 0:
            raise SshError(f"{self.label}: {step}: {_one_line(err) or f'relay exit code {code}'}")
        return b"".join(chunks)

    def open_command(self, argv: Sequence[str], *, writes: bool) -> "SshCommandStream":
        """``argv`` started on the host with its output to read (or, with ``writes``, its input to write) in
        chunks; ``finish`` waits for its end and raises ``CommandFailed`` with its errors, ``abort`` kills it."""
        return SshCommandStream(self, argv, writes)

    def port_holder(self, address: str, port: int) -> PortHolder | None:
        """None when ``address:port`` can be bound on the host now; else the process that listens on that
        port there, as far as the account commands run as can see."""
        out = self._helper(f"probing port {address}:{int(port)}", ["port", address, str(int(port))]).rstrip("\n")
        if out == "free":
            return None
        _, pid, name, cmdline = (out.split("\t", 3) + ["", "", "", ""])[:4]
        return PortHolder(int(pid) if pid.isdigit() else None, name or "another process", cmdline)

    # -- more than the protocol ------------------------------------------------------------------------
    @property
    def os_user(self) -> str:
        """The account commands and services run as on the host: the login user, or root with sudo."""
        return "root" if self.access.sudo else self.access.user

    def service_manager(self) -> str:
        """``systemd`` when services run as units of the host's systemd, ``processes`` when they run detached:
        the access's ``supervisor``, with ``auto`` resolved by looking at the host once per process (systemd
        runs as its init, and commands run as root, who may write units). ``systemd`` on a host that cannot is
        an error naming the host and why."""
        key = (self.access.address, self.access.port, self.access.user, self.access.sudo, self.access.supervisor)
        if key not in _SERVICE_MANAGERS:
            if self.access.supervisor == "processes":
                _SERVICE_MANAGERS[key] = "processes"
            else:
                probe = ('[ -d /run/systemd/system ] || { echo "systemd is not its init (no /run/systemd/system)"; '
                         'exit 0; }; command -v systemctl >/dev/null || { echo "systemctl is missing"; exit 0; }; '
                         '[ "$(id -u)" = 0 ] || { echo "commands run as $(id -un), not root (set sudo)"; exit 0; }; '
                         'echo systemd')
                code, out, err = self._exec("looking for systemd", probe)
                answer = out.decode(errors="replace").strip()
                if answer == "systemd":
                    _SERVICE_MANAGERS[key] = "systemd"
                elif self.access.supervisor == "systemd":
                    raise SshError(f"{self.label}: supervisor systemd: {answer or _one_line(err.decode())}")
                else:
                    _SERVICE_MANAGERS[key] = "processes"
        return _SERVICE_MANAGERS[key]

    def missing_tools(self) -> list[str]:
        """What the host lacks of the tools this transport uses (``sudo`` only when the access uses it)."""
        tools = [t for t in _TOOLS if t != "sudo" or self.access.sudo]
        probe = 'for t in "$@"; do command -v "$t" >/dev/null 2>&1 || echo "$t"; done; ' \
                'command -v perl >/dev/null 2>&1 && { perl -MIO::Select -MIO::Socket::UNIX -e1 2>/dev/null || ' \
                'echo "perl modules IO::Select, IO::Socket::UNIX"; }; exit 0'
        words = shlex.join(["sh", "-c", probe, "sh", *tools])  # not through sudo: it may be what is missing
        with self._session("checking tools") as channel:
            channel.exec_command(words)
            channel.shutdown_write()
            out, _ = _collect(channel, time.monotonic() + HELPER_TIMEOUT, self.label, "checking tools")
        return [line for line in out.decode(errors="replace").splitlines() if line]

    def connections(self) -> int:
        """How many pooled connections to this host are open (for tests and benchmarks)."""
        return _endpoint(self.access).connection_count()

    def close(self) -> None:
        """Closes the pooled connections of this access; the next operation reconnects."""
        _endpoint(self.access).close()

    @contextlib.contextmanager
    def forward_tcp(self, remote_host: str, remote_port: int, *,
                    max_connections: int = 8) -> Iterator[ForwardAddress]:
        """A local ``(127.0.0.1, port)`` forwarded over this host's connection to ``remote_host:remote_port``
        as the host sees it (``direct-tcpip``), for the ``with`` block."""
        what = f"forward to {remote_host}:{int(remote_port)}"
        endpoint = _endpoint(self.access)

        def open_channel(origin: tuple[str, int]) -> tuple[paramiko.Channel, Callable[[], None]]:
            for attempt in (1, 2):
                conn = endpoint.acquire(session=False, timeout=self.access.connect_timeout + HELPER_TIMEOUT)
                try:
                    channel = conn.transport.open_channel("direct-tcpip", (remote_host, int(remote_port)), origin,
                                                          timeout=self.access.connect_timeout)
                    return channel, lambda: None
                except paramiko.ChannelException as error:
                    raise SshError(f"{self.label}: {what}: the host refused: {error.text}") from None
                except (paramiko.SSHException, EOFError, OSError, AttributeError) as error:
                    endpoint.drop(conn)
                    if attempt == 2:
                        raise ConnectionLost(f"{self.label}: {what}: {_one_line(str(error))}") from None
            raise AssertionError("unreachable")

        with _Forwarder(f"{self.label}: {what}", open_channel, max_connections) as address:
            yield address

    @contextlib.contextmanager
    def forward_unix(self, socket_path: str, *, max_connections: int = 8) -> Iterator[ForwardAddress]:
        """A local ``(127.0.0.1, port)`` forwarded to the unix socket ``socket_path`` on the host, for the
        ``with`` block. Each connection runs a relay on the host as the account commands run as (the login
        user, or root with sudo), so the socket's peer is that account: MariaDB's ``unix_socket``
        authentication maps it to the database account of the same name."""
        what = f"forward to unix socket {socket_path}"

        def open_channel(origin: tuple[str, int]) -> tuple[paramiko.Channel, Callable[[], None]]:
            session = self._session(what)
            channel = session.__enter__()
            try:
                channel.exec_command(self._command(_RUN_HELPER, [_HELPER, "relay", socket_path]))
            except BaseException:
                session.__exit__(*sys.exc_info())
                raise
            return channel, lambda: session.__exit__(None, None, None)

        with _Forwarder(f"{self.label}: {what}", open_channel, max_connections) as address:
            yield address


# -- port forwarding ----------------------------------------------------------------------------------------
class ForwardAddress(tuple):
    """``(host, port)`` of a forward's local end, with the one-line errors of the connections it could not
    forward (``errors``)."""

    def __new__(cls, host: str, port: int):
        forward = super().__new__(cls, (host, port))
        forward.errors = []
        return forward

    @property
    def host(self) -> str:
        return self[0]

    @property
    def port(self) -> int:
        return self[1]


def _proc_net_address(host: str, port: int) -> str:
    """An IPv4 address as /proc/net/tcp writes it."""
    return f"{struct.unpack('=I', socket.inet_aton(host))[0]:08X}:{port:04X}"


def _peer_uid(client: socket.socket) -> int | None:
    """The uid owning the other end of a loopback TCP connection, from /proc/net/tcp."""
    try:
        theirs = _proc_net_address(*client.getpeername())
        ours = _proc_net_address(*client.getsockname())
        with open("/proc/net/tcp", encoding="ascii") as table:
            for line in table:
                fields = line.split()
                if len(fields) > 7 and fields[1] == theirs and fields[2] == ours:
                    return int(fields[7])
    except (OSError, ValueError):
        return None
    return None


class _Forwarder:
    """A loopback listener whose connections are each carried by a channel ``open_channel`` makes: one
    accepting thread and at most ``max_connections`` copying threads (more connections wait in the listen
    queue). Only connections made by this process's own account are forwarded (a loopback port is open to
    every account of the machine, and the far end may authenticate by who the relay runs as). On exit the
    listener is closed, every connection and channel is closed, and the threads are joined."""

    def __init__(self, what: str, open_channel, max_connections: int):
        self.what = what
        self.open_channel = open_channel
        self.max_connections = max_connections
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(max_connections)
        self.listener.setblocking(False)
        self.address = ForwardAddress("127.0.0.1", self.listener.getsockname()[1])
        self.wake_read, self.wake_write = socket.socketpair()
        self.closing = threading.Event()
        self.cond = threading.Condition()
        self.active: dict[threading.Thread, tuple[socket.socket, paramiko.Channel | None]] = {}
        self.acceptor = threading.Thread(target=self._accept, name=f"ssh-forward-{self.address.port}", daemon=True)

    def __enter__(self) -> ForwardAddress:
        self.acceptor.start()
        return self.address

    def __exit__(self, *exc) -> None:
        with self.cond:
            self.closing.set()
            self.cond.notify_all()
        with contextlib.suppress(OSError):
            self.wake_write.send(b"x")
        self.acceptor.join(5)
        for sock in (self.listener, self.wake_read, self.wake_write):
            with contextlib.suppress(OSError):
                sock.close()
        with self.cond:
            active = dict(self.active)
        for client, channel in active.values():
            with contextlib.suppress(OSError):
                client.shutdown(socket.SHUT_RDWR)
            if channel is not None:
                channel.close()
        for thread in active:
            thread.join(5)

    def _accept(self) -> None:
        me = os.getuid()
        while True:
            with self.cond:
                while len(self.active) >= self.max_connections and not self.closing.is_set():
                    self.cond.wait()
            if self.closing.is_set():
                return
            readable, _, _ = select.select([self.listener, self.wake_read], [], [])
            if self.closing.is_set():
                return
            try:
                client, _ = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                return
            client.setblocking(True)
            if _peer_uid(client) != me:
                self.address.errors.append(f"{self.what}: refused a connection from another account")
                client.close()
                continue
            thread = threading.Thread(target=self._serve, args=(client,), daemon=True,
                                      name=f"ssh-forward-{self.address.port}-conn")
            with self.cond:
                self.active[thread] = (client, None)
            thread.start()

    def _serve(self, client: socket.socket) -> None:
        me = threading.current_thread()
        try:
            try:
                channel, release = self.open_channel(client.getpeername())
            except Exception as error:  # noqa: BLE001  (reported on the forward; the client sees a close)
                self.address.errors.append(_one_line(str(error)))
                return
            try:
                with self.cond:
                    self.active[me] = (client, channel)
                err = _pump(client, channel, self.closing) if not self.closing.is_set() else b""
                if channel.eof_received and not self.closing.is_set():
                    channel.status_event.wait(5)  # an exec'd relay's exit status follows its end of output
                    while channel.recv_stderr_ready():
                        err += channel.recv_stderr(65536)
                if channel.exit_status_ready() and channel.recv_exit_status() not in (0, -1):
                    text = err.decode(errors="replace").strip()
                    message = text.partition("\t")[2] if text[:1].isdigit() else text
                    self.address.errors.append(f"{self.what}: {_one_line(message) or 'the relay failed'}")
            finally:
                channel.close()
                release()
        finally:
            client.close()
            with self.cond:
                self.active.pop(me, None)
                self.cond.notify_all()


def _pump(client: socket.socket, channel: paramiko.Channel, closing: threading.Event) -> bytes:
    """Copies both ways until both sides have closed (each side's end is passed on as a half-close) or the
    channel closes; returns what the far end wrote to stderr."""
    errors = []
    client_open = channel_open = True
    try:
        while (client_open or channel_open) and not closing.is_set():
            watched = ([client] if client_open else []) + ([channel] if channel_open else [])
            readable, _, _ = select.select(watched, [], [], 0.5)
            if client in readable:
                data = client.recv(65536)
                if data:
                    channel.sendall(data)
                else:
                    client_open = False
                    channel.shutdown_write()
            if channel_open:
                while channel.recv_stderr_ready():
                    errors.append(channel.recv_stderr(65536))
                if channel.recv_ready():
                    client.sendall(channel.recv(65536))
                elif channel.eof_received or channel.closed:
                    channel_open = False
                    with contextlib.suppress(OSError):
                        client.shutdown(socket.SHUT_WR)
            if channel.closed and not channel.recv_ready():
                break
    except (OSError, EOFError, paramiko.SSHException):
        pass
    while channel.recv_stderr_ready():
        errors.append(channel.recv_stderr(65536))
    return b"".join(errors)


class SshCommandStream:
    """A command on the host whose output is read (or input written) in chunks, on one exec session of the
    pooled connection: what ``SshHost.open_command`` gives (a backup streamed from one host to another)."""

    def __init__(self, host: SshHost, argv: Sequence[str], writes: bool):
        self.name = PurePosixPath(argv[0]).name
        self._context = host._session(f"streaming {self.name}")
        self._channel = self._context.__enter__()
        self._writes = writes
        self._label = getattr(host, "label", "host")
        self._channel.exec_command(host._command('umask 077; exec "$@"', [str(a) for a in argv]))
        self._err: list[bytes] = []
        self._closed = False

    def _close(self) -> None:
        if not self._closed:
            self._closed = True
            self._context.__exit__(None, None, None)

    def read(self, size: int) -> bytes:
        while self._channel.recv_stderr_ready():
            self._err.append(self._channel.recv_stderr(65536))
        return self._channel.recv(size)

    def write(self, data: bytes) -> None:
        self._channel.sendall(data)

    def finish(self, timeout: float) -> str:
        try:
            if self._writes:
                self._channel.shutdown_write()
            deadline = time.monotonic() + timeout
            while not self._channel.exit_status_ready():
                while self._channel.recv_ready():
                    self._channel.recv(65536)
                while self._channel.recv_stderr_ready():
                    self._err.append(self._channel.recv_stderr(65536))
                if time.monotonic() > deadline:
                    raise CommandFailed(f"{self._label}: {self.name} did not end within {timeout:g}s")
                time.sleep(0.05)
            while self._channel.recv_stderr_ready():
                self._err.append(self._channel.recv_stderr(65536))
            code = self._channel.recv_exit_status()
        finally:
            self._close()
        err = b"".join(self._err).decode(errors="replace")
        if code != 0:
            raise CommandFailed(f"{self._label}: {self.name} exited with code {code}: {err.strip()[-2000:]}")
        return err

    def abort(self) -> None:
        try:
            self._channel.close()
        finally:
            self._close()
