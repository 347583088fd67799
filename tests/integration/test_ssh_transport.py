"""The SSH transport (components/orchestrators/ssh.py) against real OpenSSH daemons on loopback addresses
(tests/support/sshd.py): every ``Host`` operation with LocalHost's contract, the SQL forwards to a real
mariadbd, the connection pool, and the failures that must be one line naming the host.

The test hosts share this machine's filesystem and process table, so what the transport did is checked here
directly (stat, psutil, LocalHost), not through the transport itself."""

from __future__ import annotations

import concurrent.futures
import contextlib
import fcntl
import os
import pickle
import shutil
import signal
import socket
import stat
import threading
from pathlib import Path

import psutil
import pymysql
import pytest

from components.orchestrators.hosts import CommandFailed, LocalHost
from components.orchestrators.ssh import (
    AuthenticationFailed,
    ConnectionLost,
    HostKeyRejected,
    HostUnreachable,
    RemoteWriteFailed,
    SshAccess,
    SshHost,
    SshTimeout,
    SudoDenied,
)
from components.waiting import wait_until
from tests.support.attacker import python_as_nobody
from tests.support.sshd import SshdHosts, generate_key, sshd_hosts

pytestmark = [
    pytest.mark.timeout(300),
    pytest.mark.skipif(os.geteuid() != 0, reason="real sshd daemons and a login account need root"),
]


@pytest.fixture(scope="module")
def hosts() -> SshdHosts:
    with sshd_hosts(3, login_user=True) as started:
        yield started


@pytest.fixture
def root_host(hosts) -> SshHost:
    return SshHost(hosts[0].access())


def one_line_naming(error: BaseException, host) -> str:
    message = str(error)
    assert "\n" not in message, message
    assert f"{host.address}:{host.port}" in message and host.name in message, message
    return message


def free_port(address: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((address, 0))
        return probe.getsockname()[1]


# -- run, spawn, processes ----------------------------------------------------------------------------------
def test_run_returns_stdout_and_fails_with_the_exit_code_and_output(hosts, root_host):
    tricky = ["it's", 'a "quoted" $HOME', "semi;colon && echo no", "new\nline", "*"]
    assert root_host.run(["printf", "%s|", *tricky]) == "|".join(tricky) + "|"
    assert root_host.run(["sh", "-c", "umask"]).strip() == "0077"
    assert root_host.run(["id", "-un"]).strip() == "root"

    with pytest.raises(CommandFailed) as failed:
        root_host.run(["sh", "-c", "echo to-out; echo to-err >&2; exit 3"])
    message = str(failed.value)
    assert "sh exited with code 3" in message and "to-out" in message and "to-err" in message
    assert hosts[0].name in message
    with pytest.raises(CommandFailed, match="code 127"):
        root_host.run(["/nonexistent/program"])
    assert pickle.loads(pickle.dumps(root_host)).run(["echo", "pickled"]) == "pickled\n"


def test_a_command_that_runs_too_long_is_killed_on_the_host(hosts, root_host):
    with pytest.raises(SshTimeout) as timed_out:
        root_host.run(["sleep", "31.7"], timeout=1)
    assert "running sleep: timed out after 1s" in one_line_naming(timed_out.value, hosts[0])
    wait_until(lambda: not [p for p in psutil.process_iter(["cmdline"]) if p.info["cmdline"] == ["sleep", "31.7"]],
               timeout=10, what="the timed-out sleep to be gone")


def test_spawn_starts_a_detached_process_that_outlives_the_connection(hosts, root_host):
    base = hosts[0].base / "spawn"
    root_host.make_dirs(str(base))
    sleeper = base / "sleeper"
    shutil.copy("/bin/sleep", sleeper)
    log = base / "sleeper.log"

    pid = root_host.spawn([str(sleeper), "300"], log_path=str(log))
    try:
        wait_until(lambda: root_host.process_alive(pid, str(sleeper)), timeout=10, what="the sleeper to run")
        proc = psutil.Process(pid)
        assert proc.cmdline() == [str(sleeper), "300"], "the pid is the program's own"
        assert os.getsid(pid) == pid, "it leads its own session"
        assert proc.ppid() not in {p.pid for p in hosts[0].sessions()}
        assert not root_host.process_alive(pid, "another-marker")

        root_host.close()
        wait_until(lambda: not hosts[0].sessions(), timeout=10, what="the SSH sessions to end")
        again = SshHost(hosts[0].access())
        assert again.process_alive(pid, str(sleeper)), "it survives the connection that started it"
        assert again.processes_under(str(base)) == [pid] == LocalHost().processes_under(str(base))
        assert again.processes_under(str(base) + "/") == [pid]

        again.signal(pid, signal.SIGTERM)
        wait_until(lambda: not again.process_alive(pid, str(sleeper)), timeout=10, what="the sleeper to stop")
        again.signal(pid, signal.SIGTERM)  # gone: not an error
        assert again.processes_under(str(base)) == []
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def test_spawn_gives_the_service_umask_environment_and_appended_log(hosts, root_host):
    base = hosts[0].base / "spawn-env"
    root_host.make_dirs(str(base))
    log = base / "service.log"
    log.write_text("before\n")
    script = f'umask > {base}/facts; echo "$UMASK $UMASK_DIR" >> {base}/facts; echo to-out; echo to-err >&2'
    pid = root_host.spawn(["/bin/sh", "-c", script], log_path=str(log))
    assert pid > 0
    wait_until(lambda: "to-out" in log.read_text() and "to-err" in log.read_text(), timeout=10,
               what="the service's output in its log")
    assert log.read_text().startswith("before\n"), "the log is appended to"
    assert (base / "facts").read_text().split() == ["0077", "0600", "0700"]

    with pytest.raises(CommandFailed, match="no such executable"):
        root_host.spawn([str(base / "missing")], log_path=str(log))
    with pytest.raises(CommandFailed, match="command not found"):
        root_host.spawn(["no-such-command-here"], log_path=str(log))
    with pytest.raises(CommandFailed) as no_log:
        root_host.spawn(["/bin/true"], log_path=str(base / "missing-dir" / "x.log"))
    assert "missing-dir" in one_line_naming(no_log.value, hosts[0])


# -- files --------------------------------------------------------------------------------------------------
def test_files_are_written_atomically_with_their_mode_and_read_back(hosts, root_host):
    base = hosts[0].base / "files"
    config = base / "deep" / "er" / "my.cnf"
    root_host.write_file(str(config), "[mariadbd]\nport = 3306 # é\n", mode=0o600)
    assert config.read_text() == "[mariadbd]\nport = 3306 # é\n"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert stat.S_IMODE(config.parent.stat().st_mode) == 0o700, "parents follow the umask (077)"

    root_host.write_file(str(config), "second\n", mode=0o640)
    assert config.read_text() == "second\n" and stat.S_IMODE(config.stat().st_mode) == 0o640
    root_host.write_file(str(base / "empty"), "")
    assert (base / "empty").read_text() == ""
    assert sorted(p.name for p in config.parent.iterdir()) == ["my.cnf"], "no temporary file is left"

    assert root_host.read_file(str(config)) == "second\n"
    (base / "crlf").write_bytes(b"a\r\nb\rc\n")
    assert root_host.read_file(str(base / "crlf")) == LocalHost().read_file(str(base / "crlf")) == "a\nb\nc\n"
    assert root_host.read_file(str(base / "missing")) is None
    with pytest.raises(Exception, match="Is a directory"):
        root_host.read_file(str(base))

    leaf = base / "dirs" / "a" / "b"
    root_host.make_dirs(str(leaf))
    root_host.make_dirs(str(leaf))  # already there: fine
    assert stat.S_IMODE(leaf.stat().st_mode) == 0o700 and stat.S_IMODE(leaf.parent.stat().st_mode) == 0o700

    assert root_host.exists(str(config)) and root_host.exists(str(leaf))
    assert not root_host.exists(str(base / "missing"))
    root_host.remove_tree(str(base / "dirs"))
    root_host.remove_tree(str(base / "empty"))
    root_host.remove_tree(str(base / "never-was"))
    assert not (base / "dirs").exists() and not (base / "empty").exists()


def test_a_write_on_a_full_disk_fails_in_one_line_and_keeps_the_old_file(hosts, root_host):
    with hosts.small_disk(hosts[0].base / "small", size_kb=64) as small:
        target = small / "my.cnf"
        root_host.write_file(str(target), "old\n")
        with pytest.raises(RemoteWriteFailed) as full:
            root_host.write_file(str(target), "x" * 300_000)
        message = one_line_naming(full.value, hosts[0])
        assert f"writing {target}" in message and "No space left on device" in message
        assert target.read_text() == "old\n"
        assert [p.name for p in small.iterdir()] == ["my.cnf"], "the temporary file is removed"


def test_an_unprivileged_write_fails_naming_the_file(hosts):
    login = SshHost(hosts[0].access(hosts.user))
    with pytest.raises(RemoteWriteFailed) as denied:
        login.write_file(str(hosts[0].base / "not-mine"), "x")
    assert "Permission denied" in one_line_naming(denied.value, hosts[0])


# -- locks --------------------------------------------------------------------------------------------------
def lock_waiters(lock: Path) -> int:
    return sum(1 for p in psutil.process_iter(["name", "cmdline"])
               if p.info["name"] == "flock" and str(lock) in (p.info["cmdline"] or []))


def test_a_lock_excludes_a_second_holder_on_another_connection(hosts, root_host):
    lock = hosts[0].base / "locks" / "restart.lock"
    other = SshHost(hosts[0].access(known_hosts=str(hosts.known_hosts()), host_key=None))
    acquired = threading.Event()

    def second() -> None:
        with other.exclusive(str(lock)):
            acquired.set()

    with root_host.exclusive(str(lock)):
        assert lock.exists()
        waiter = threading.Thread(target=second)
        waiter.start()
        wait_until(lambda: lock_waiters(lock) == 2, timeout=10, what="the second holder to wait on the host")
        assert not acquired.is_set()
    assert acquired.wait(10), "the second holder gets the lock once the first has left"
    waiter.join(10)
    assert other.connections() == 1 and root_host.connections() >= 1
    wait_until(lambda: lock_waiters(lock) == 0, timeout=10, what="no flock left on the host")


def test_a_lock_is_released_when_its_connection_drops(hosts):
    lock = hosts[1].base / "locks" / "drop.lock"
    holder = SshHost(hosts[1].access())
    other = SshHost(hosts[1].access(known_hosts=str(hosts.known_hosts()), host_key=None))
    with pytest.raises(ConnectionLost, match="the lock was lost"):
        with holder.exclusive(str(lock)):
            holder.close()  # as if the provider's connection dropped
            with other.exclusive(str(lock)):
                pass


# -- unix sockets and ports ---------------------------------------------------------------------------------
@contextlib.contextmanager
def haproxy_with_runtime_api(host: SshHost, directory: Path):
    host.make_dirs(str(directory))
    socket_path = directory / "admin.sock"
    config = directory / "haproxy.cfg"
    host.write_file(str(config), "\n".join([
        "global", f"  stats socket {socket_path} mode 600 level admin", "defaults", "  mode tcp",
        "  timeout connect 1s", "  timeout client 5s", "  timeout server 5s",
        "listen probe", f"  bind 127.0.0.1:{free_port()}", "  server s1 127.0.0.1:1", ""]))
    pid_file = directory / "haproxy.pid"
    host.run(["/usr/sbin/haproxy", "-D", "-f", str(config), "-p", str(pid_file)], timeout=30)
    pid = int(wait_until(lambda: host.read_file(str(pid_file)), timeout=10, what="haproxy's pid").split()[0])
    try:
        yield socket_path
    finally:
        host.signal(pid, signal.SIGKILL)
        wait_until(lambda: not host.process_alive(pid, str(config)), timeout=10, what="haproxy to stop")


def test_unix_request_reaches_a_real_unix_socket_on_the_host(hosts, root_host):
    with haproxy_with_runtime_api(root_host, hosts[0].base / "haproxy") as runtime_socket:
        answer = root_host.unix_request(str(runtime_socket), b"show info\n")
        assert b"Name: HAProxy" in answer
        login = SshHost(hosts[0].access(hosts.user))
        with pytest.raises(PermissionError) as denied:
            login.unix_request(str(runtime_socket), b"show info\n")
        assert str(runtime_socket) in one_line_naming(denied.value, hosts[0])

    with pytest.raises(ConnectionRefusedError) as stale:  # killed: its socket file stays, nobody listens
        root_host.unix_request(str(runtime_socket), b"show info\n")
    one_line_naming(stale.value, hosts[0])
    with pytest.raises(FileNotFoundError) as missing:
        root_host.unix_request(str(runtime_socket.parent / "missing.sock"), b"show info\n")
    assert "missing.sock" in one_line_naming(missing.value, hosts[0])


def test_unix_request_times_out_on_a_silent_server(hosts, root_host):
    path = hosts[0].base / "silent.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(str(path))
        server.listen(1)
        with pytest.raises(SshTimeout) as silent:
            root_host.unix_request(str(path), b"hello\n", timeout=0.5)
        assert "no complete answer within 0.5s" in one_line_naming(silent.value, hosts[0])


def test_port_holder_sees_what_listens_on_the_host(hosts, root_host):
    sshd = hosts[0]
    holder = root_host.port_holder(sshd.address, sshd.port)
    assert holder is not None and holder.pid == sshd.process.pid and holder.name == "sshd"
    assert holder == LocalHost().port_holder(sshd.address, sshd.port)
    assert root_host.port_holder(sshd.address, free_port(sshd.address)) is None
    login_view = SshHost(sshd.access(hosts.user)).port_holder(sshd.address, sshd.port)
    assert login_view is not None and login_view.pid is None, "another account's listener is seen, not named"


# -- SQL forwards to a real mariadbd ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def mariadb(hosts):
    """A mariadbd on h1, installed and started through the transport: root by unix_socket (as root), the
    login account by unix_socket, and a password account for TCP."""
    host = SshHost(hosts[0].access())
    home = hosts[0].base / "mariadb"
    run_dir, config = home / "run", home / "my.cnf"
    socket_path = run_dir / "mariadbd.sock"
    port = free_port()
    for directory in (home, home / "data", run_dir):
        host.make_dirs(str(directory))
    host.write_file(str(config), "\n".join([
        "[mariadbd]", "user = root", f"datadir = {home / 'data'}", f"socket = {socket_path}", f"port = {port}",
        "bind_address = 127.0.0.1", f"pid_file = {home / 'mariadbd.pid'}", f"log_error = {home / 'error.log'}",
        "innodb_buffer_pool_size = 32M", "innodb_log_file_size = 8M", "skip_name_resolve", ""]), mode=0o600)
    host.run(["/usr/bin/mariadb-install-db", f"--defaults-file={config}", "--auth-root-authentication-method=socket",
              "--auth-root-socket-user=root", "--skip-test-db"], timeout=120)
    host.run(["chmod", "755", str(home), str(run_dir)])  # the login account reaches the socket
    pid = host.spawn(["/usr/sbin/mariadbd", f"--defaults-file={config}"], log_path=str(home / "mariadbd.out"))
    try:
        wait_until(lambda: host.run(["mariadb", f"--socket={socket_path}", "-e", "SELECT 1"], timeout=10),
                   timeout=60, what="mariadbd to answer on its socket")
        setup = home / "setup.sql"
        host.write_file(str(setup), f"CREATE USER 'forwarded'@'%' IDENTIFIED BY 'Fw-{port}-pass';\n"
                                    f"CREATE USER '{hosts.user}'@'localhost' IDENTIFIED VIA unix_socket;\n",
                        mode=0o600)
        host.run(["sh", "-c", 'mariadb --socket="$1" < "$2"', "sh", str(socket_path), str(setup)])
        yield {"host": host, "port": port, "socket": socket_path, "password": f"Fw-{port}-pass"}
    finally:
        host.signal(pid, signal.SIGTERM)
        wait_until(lambda: not host.process_alive(pid, str(config)), timeout=60, what="mariadbd to stop")


def forward_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("ssh-forward-")]


def sql_user(**connect) -> str:
    with pymysql.connect(connect_timeout=5, **connect) as conn, conn.cursor() as cur:
        cur.execute("SELECT CURRENT_USER()")
        return cur.fetchone()[0]


def test_forward_tcp_carries_sql_to_the_hosts_port(hosts, mariadb):
    host = mariadb["host"]
    with host.forward_tcp("127.0.0.1", mariadb["port"], max_connections=4) as (address, port):
        assert address == "127.0.0.1"
        credentials = {"host": address, "port": port, "user": "forwarded", "password": mariadb["password"]}
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            assert set(pool.map(lambda _: sql_user(**credentials), range(8))) == {"forwarded@%"}
        assert len(forward_threads()) <= 1 + 4
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((address, port), timeout=2).close()
    wait_until(lambda: not forward_threads(), timeout=10, what="the forward's threads to end")


def test_forward_tcp_reports_a_port_nothing_listens_on(hosts, root_host):
    with root_host.forward_tcp("127.0.0.1", free_port()) as forward:
        with pytest.raises(pymysql.err.OperationalError):
            pymysql.connect(host=forward.host, port=forward.port, user="x", connect_timeout=3)
        wait_until(lambda: bool(forward.errors), timeout=5, what="the forward to report the refusal")
    assert "the host refused" in one_line_naming(Exception(forward.errors[0]), hosts[0])


def test_forward_unix_authenticates_as_the_account_commands_run_as(hosts, mariadb):
    with mariadb["host"].forward_unix(str(mariadb["socket"])) as (address, port):
        assert sql_user(host=address, port=port, user="root") == "root@localhost"

    login = SshHost(hosts[0].access(hosts.user))
    with login.forward_unix(str(mariadb["socket"])) as (address, port):
        assert sql_user(host=address, port=port, user=hosts.user) == f"{hosts.user}@localhost"
        with pytest.raises(pymysql.err.OperationalError, match="Access denied"):
            sql_user(host=address, port=port, user="root")  # the peer is the login account, not root
    wait_until(lambda: not forward_threads(), timeout=10, what="the forward's threads to end")


def test_forward_unix_reports_a_missing_socket(hosts, root_host):
    missing = hosts[0].base / "no-such.sock"
    with root_host.forward_unix(str(missing)) as forward:
        with pytest.raises(pymysql.err.OperationalError):
            pymysql.connect(host=forward.host, port=forward.port, user="root", connect_timeout=3)
        wait_until(lambda: bool(forward.errors), timeout=5, what="the forward to report the missing socket")
    assert "No such file or directory" in one_line_naming(Exception(forward.errors[0]), hosts[0])


PEEK = """
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
try:
    print(len(s.recv(1024)))
except OSError as error:
    print("error", error)
"""


def test_a_forward_serves_only_this_account(hosts, mariadb):
    with mariadb["host"].forward_unix(str(mariadb["socket"])) as forward:
        peek = python_as_nobody(PEEK, str(forward.port))
        assert peek.returncode == 0 and peek.stdout.split()[0] in ("0", "error"), peek
        assert any("another account" in e for e in forward.errors)
        assert sql_user(host=forward.host, port=forward.port, user="root") == "root@localhost"


# -- the pool -----------------------------------------------------------------------------------------------
def test_the_pool_grows_for_busy_sessions_and_reconnects_after_a_drop(hosts):
    host = SshHost(hosts[2].access())
    gate = hosts[2].base / "gate.lock"
    gate.touch()
    with open(gate) as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with concurrent.futures.ThreadPoolExecutor(12) as pool:
            waits = [pool.submit(host.run, ["flock", "-s", str(gate), "echo", "through"]) for _ in range(12)]
            wait_until(lambda: lock_waiters(gate) == 12, timeout=30, what="12 commands waiting on the host")
            assert host.connections() == 2, "8 sessions per connection, then another connection"
            fcntl.flock(held, fcntl.LOCK_UN)
            assert [w.result(timeout=30) for w in waits] == ["through\n"] * 12

    for proc in hosts[2].sessions():
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    wait_until(lambda: not hosts[2].sessions(), timeout=10, what="the sessions to be killed")
    assert host.run(["echo", "again"]) == "again\n", "a dropped connection is replaced"
    assert host.connections() == 1


# -- failures: one line naming the host and the step --------------------------------------------------------
def test_a_wrong_key_or_password_is_refused(hosts, tmp_path):
    stranger, _ = generate_key(tmp_path, "stranger")
    with pytest.raises(AuthenticationFailed) as refused:
        SshHost(hosts[0].access(private_key=stranger)).run(["true"])
    assert "authenticate: the server refused user 'root' with the private key ssh-ed25519 SHA256:" in \
        one_line_naming(refused.value, hosts[0])

    with_password = hosts[0].access(hosts.user, private_key=None, password=hosts.password)
    assert SshHost(with_password).run(["id", "-un"]).strip() == hosts.user
    with pytest.raises(AuthenticationFailed) as wrong:
        SshHost(hosts[0].access(hosts.user, private_key=None, password="not-" + hosts.password)).run(["true"])
    assert "with the password" in one_line_naming(wrong.value, hosts[0])


def test_an_unknown_host_key_is_refused(hosts, tmp_path):
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    with pytest.raises(HostKeyRejected) as unknown:
        SshHost(hosts[0].access(host_key=None, known_hosts=str(empty))).run(["true"])
    message = one_line_naming(unknown.value, hosts[0])
    assert "host key: ssh-ed25519 SHA256:" in message and "is unknown" in message and str(empty) in message
    assert empty.read_text() == "", "nothing is added to known_hosts"

    known = hosts.known_hosts(tmp_path / "all_known")
    assert SshHost(hosts[0].access(host_key=None, known_hosts=str(known))).run(["echo", "ok"]) == "ok\n"


def test_a_changed_host_key_is_refused(hosts, tmp_path):
    first, second = hosts[0], hosts[1]
    with pytest.raises(HostKeyRejected) as pinned:
        SshHost(first.access(host_key=second.host_key)).run(["true"])
    assert "not the pinned ssh-ed25519 SHA256:" in one_line_naming(pinned.value, first)

    fingerprint = SshHost(second.access()).run(["ssh-keygen", "-lf", str(second.directory /
                                                                         "ssh_host_ed25519_key.pub")]).split()[1]
    with pytest.raises(HostKeyRejected) as by_fingerprint:
        SshHost(first.access(host_key=fingerprint)).run(["true"])
    assert f"not the pinned {fingerprint}" in one_line_naming(by_fingerprint.value, first)
    assert SshHost(second.access(host_key=fingerprint)).run(["echo", "ok"]) == "ok\n"

    swapped = tmp_path / "known_hosts"
    swapped.write_text(f"[{first.address}]:{first.port} {second.host_key}\n")
    with pytest.raises(HostKeyRejected) as changed:
        SshHost(first.access(host_key=None, known_hosts=str(swapped))).run(["true"])
    assert f"but {swapped} holds ssh-ed25519" in one_line_naming(changed.value, first)


def test_an_unreachable_host_is_one_line(hosts):
    closed = hosts[0].access(port=free_port(hosts[0].address))
    with pytest.raises(HostUnreachable) as refused:
        SshHost(closed).run(["true"])
    assert "connect: connection refused" in str(refused.value) and "\n" not in str(refused.value)
    assert f"{closed.address}:{closed.port}" in str(refused.value)

    with socket.socket() as silent:  # accepts connections (the kernel's backlog) and never says a word
        silent.bind((hosts[0].address, 0))
        silent.listen(4)
        mute = hosts[0].access(port=silent.getsockname()[1], connect_timeout=1)
        with pytest.raises(HostUnreachable) as no_banner:
            SshHost(mute).run(["true"])
    assert "connect: no SSH handshake within 1s" in str(no_banner.value) and "\n" not in str(no_banner.value)


def test_sudo_runs_commands_as_root_and_a_refusal_is_one_line(hosts):
    as_root = SshHost(hosts[1].access(sudo=True))
    assert as_root.run(["id", "-un"]).strip() == "root"
    assert as_root.os_user == "root"
    assert as_root.missing_tools() == []

    denied = SshHost(hosts[1].access(hosts.user, sudo=True))
    with pytest.raises(SudoDenied) as refused:
        denied.run(["id", "-un"])
    assert "sudo -n refused" in one_line_naming(refused.value, hosts[1])
    assert "password is required" in str(refused.value)
    login = SshHost(hosts[1].access(hosts.user))
    assert login.os_user == hosts.user == login.run(["id", "-un"]).strip()


def test_an_access_is_checked_when_made():
    with pytest.raises(ValueError, match="give a private key or a password"):
        SshAccess("127.0.0.1", 22, "root")
    with pytest.raises(ValueError, match="OpenSSH public key"):
        SshAccess("127.0.0.1", 22, "root", password="x", host_key="not a key")
    with pytest.raises(ValueError, match="SHA256 fingerprint"):
        SshAccess("127.0.0.1", 22, "root", password="x", host_key="SHA256:tooshort")
    assert "secret" not in repr(SshAccess("127.0.0.1", 22, "root", password="secret"))


def test_a_host_without_systemd_runs_detached_processes_and_refuses_supervisor_systemd_in_one_line(hosts):
    from components.orchestrators.ssh import SshError

    assert SshHost(hosts[0].access()).service_manager() == "processes", "auto on a host whose init is not systemd"
    with pytest.raises(SshError) as refused:
        SshHost(hosts[0].access(supervisor="systemd")).service_manager()
    assert "supervisor systemd: systemd is not its init" in one_line_naming(refused.value, hosts[0])
