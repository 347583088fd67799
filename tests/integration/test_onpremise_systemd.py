"""The ``onpremise`` backend on hosts that run systemd: three real systemd hosts (``tests/support/systemd_host``:
systemd as PID 1 of its own namespaces, sshd run by it), logged into as an unprivileged account that a real
``sudo`` lets act as root, through the CLI users run. With ``supervisor: auto`` every database and proxy
becomes a unit of its host's systemd: enabled (it starts at boot), restarted by systemd after a crash, stopped
and restarted with ``systemctl`` for a static change (one host at a time, the primary last), HAProxy reloaded in
place (its master stays); destroy leaves no unit, process or file on any host."""

from __future__ import annotations


import pytest

from components.configurator.systemd_unit import unit_name
from components.waiting import wait_until
from tests.integration.test_onpremise import node_address, scalar, with_keys, write_reaches
from tests.support import systemd_host
from tests.support.cli import CliStack, cli_cluster

pytestmark = [
    pytest.mark.timeout(900),
    pytest.mark.skipif(systemd_host.missing() is not None, reason=str(systemd_host.missing())),
]

BASE = "/var/lib/replstack-test"


def systemd_config(hosts) -> dict:
    return {
        "replstack:orchestrator": "onpremise",
        "replstack:onpremise": {"hosts": [
            {"name": h.name, "address": h.address, "port": h.port, "user": systemd_host.LOGIN, "sudo": True,
             "hostKey": h.host_key, "baseDir": BASE} for h in hosts]},
        "replstack:database": {"nodes": 3, "memory": 256},
        "replstack:proxies": [{"kind": "haproxy"}],
    }


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("onpremise-systemd")
    with systemd_host.systemd_hosts(3) as hosts, \
            cli_cluster(tmp, systemd_config(hosts), prepare=with_keys(hosts)) as stack:
        yield stack, hosts


def host_of(hosts, address: str):
    return next(h for h in hosts if h.address == address)


def service_dir(stack: CliStack, service: str) -> str:
    return stack.state(service)["placement"]["dir"]


def unit(stack: CliStack, service: str) -> str:
    return unit_name(service_dir(stack, service)) + ".service"


def units_of(stack: CliStack, hosts) -> dict[str, tuple]:
    """Each service's (host, unit) from the stack's outputs."""
    outputs = stack.outputs()
    found = {n["name"]: (host_of(hosts, n["host"]), unit(stack, n["name"])) for n in outputs["nodes"]}
    for proxy in outputs["proxies"]:
        address = proxy["writeEndpoint"].rsplit(":", 1)[0]
        found[proxy["name"]] = (host_of(hosts, address), unit(stack, proxy["name"]))
    return found


def test_every_service_is_an_enabled_unit_of_its_hosts_systemd(cluster):
    stack, hosts = cluster
    for service, (host, name) in units_of(stack, hosts).items():
        assert host.systemctl("is-active", name).stdout.strip() == "active", (service, host.console_tail())
        assert host.systemctl("is-enabled", name).stdout.strip() == "enabled", service
        assert host.main_pid(name) == int(stack.state(service)["pid"]), f"{service}: state has the unit's MainPID"
        text = host.wrote(f"/etc/systemd/system/{name}").read_text()
        assert f"WorkingDirectory={service_dir(stack, service)}" in text and service_dir(stack, service).startswith(BASE)
        assert "User=" not in text, "sudo to root: the services run as root"
    db1_host, db1_unit = units_of(stack, hosts)["db1"]
    verified = db1_host.run("systemd-analyze", "verify", f"/etc/systemd/system/{db1_unit}", check=False)
    assert verified.returncode == 0, verified.stderr
    outputs = stack.outputs()
    scalar(outputs["writeEndpoint"], outputs, "CREATE DATABASE IF NOT EXISTS app")
    scalar(outputs["writeEndpoint"], outputs, "CREATE TABLE IF NOT EXISTS app.t (m CHAR(32))")
    write_reaches(outputs, "db2", "db3")
    stack.expect_no_changes().ok()


def test_a_crashed_server_is_restarted_by_systemd_and_up_converges(cluster):
    stack, hosts = cluster
    host, name = units_of(stack, hosts)["db2"]
    before = host.main_pid(name)
    host.run("kill", "-9", str(before))
    wait_until(lambda: host.main_pid(name) not in (0, before)
               and host.systemctl("is-active", name).stdout.strip() == "active",
               timeout=60, what="systemd to restart the killed db2")
    outputs = stack.outputs()
    wait_until(lambda: scalar(node_address(outputs, "db2"), outputs, "SELECT 1") == 1, timeout=60,
               what="the restarted db2 to answer")
    stack.up("--refresh").ok()
    stack.expect_no_changes().ok()
    assert int(stack.state("db2")["pid"]) == host.main_pid(name), "state follows the unit's new MainPID"
    write_reaches(outputs, "db2")


def test_after_a_power_cut_a_host_starts_its_units_at_boot_and_up_converges(cluster):
    stack, hosts = cluster
    host, name = units_of(stack, hosts)["db2"]
    host.power_cycle()
    # The boot is back once sshd answers; multi-user.target (which the units are wanted by) may still be starting.
    wait_until(lambda: host.systemctl("is-active", "multi-user.target").stdout.strip() == "active", timeout=60,
               what="the host to reach multi-user.target after its boot")
    wait_until(lambda: host.systemctl("is-active", name).stdout.strip() == "active", timeout=60,
               what="db2's unit to start at boot")
    outputs = stack.outputs()
    wait_until(lambda: scalar(node_address(outputs, "db2"), outputs, "SELECT 1") == 1, timeout=120,
               what="db2 to answer after its crash recovery")
    stack.up("--refresh").ok()
    stack.expect_no_changes().ok()
    assert int(stack.state("db2")["pid"]) == host.main_pid(name)
    write_reaches(outputs, "db2")


def test_a_static_change_restarts_the_units_one_at_a_time_primary_last(cluster):
    stack, hosts = cluster
    units = units_of(stack, hosts)
    nodes = ("db1", "db2", "db3")
    before = {n: units[n][0].main_pid(units[n][1]) for n in nodes}
    stack.config_set("replstack:database.settings.innodb_log_buffer_size", "32M")
    assert "restart: innodb_log_buffer_size cannot change on a running server" in stack.preview_diff().ok().output
    stack.up().ok()

    def started(node: str) -> int:
        host, name = units[node]
        return int(host.systemctl("show", "-p", "ExecMainStartTimestampMonotonic", "--value", name).stdout)

    # Each host has its own monotonic clock origin only in name: they share this machine's kernel clock.
    assert all(units[n][0].main_pid(units[n][1]) not in (0, before[n]) for n in nodes)
    assert started("db1") > max(started("db2"), started("db3")), "the primary restarts last"
    stack.expect_no_changes().ok()


def test_haproxy_reloads_in_place_under_systemd(cluster):
    stack, hosts = cluster
    host, name = units_of(stack, hosts)["haproxy1"]
    master = host.main_pid(name)
    workers = set(host.run("pgrep", "-P", str(master)).stdout.split())
    stack.config_set("replstack:bootstrap.maxReplicaLag", 45)
    preview = stack.preview_diff().ok().output
    assert "haproxy1" in preview
    stack.up().ok()
    assert host.main_pid(name) == master, "a reload keeps the master"
    assert set(host.run("pgrep", "-P", str(master)).stdout.split()) - workers, "new workers run the new config"
    outputs = stack.outputs()
    assert scalar(outputs["writeEndpoint"], outputs, "SELECT @@port") == outputs["nodes"][0]["port"]
    stack.expect_no_changes().ok()


def test_switching_the_supervisor_restarts_each_service_under_the_new_one(cluster):
    stack, hosts = cluster
    units = units_of(stack, hosts)
    stack.config_set("replstack:onpremise.supervisor", "processes")
    preview = stack.preview_diff().ok().output
    assert "restart: its supervisor (auto to processes) cannot change on a running server" in preview
    assert "HAProxy moves from supervisor auto to processes" in preview
    stack.up().ok()
    for service, (host, name) in units.items():
        assert not host.wrote(f"/etc/systemd/system/{name}").exists(), f"{service}: its unit is removed"
        assert host.main_pid(name) == 0
        pid = int(stack.state(service)["pid"])
        assert host.run("kill", "-0", str(pid), check=False).returncode == 0, f"{service} runs detached"
    stack.expect_no_changes().ok()
    outputs = stack.outputs()
    write_reaches(outputs, "db3")

    stack.config_set("replstack:onpremise.supervisor", "auto")
    stack.up().ok()
    for service, (host, name) in units.items():
        assert host.main_pid(name) == int(stack.state(service)["pid"]), f"{service} is a unit again"
    stack.expect_no_changes().ok()


def test_destroy_leaves_no_unit_process_or_file_on_any_host(cluster):
    stack, hosts = cluster
    prefix = unit(stack, "db1").removesuffix("db1.service")
    stack.run("destroy", "--yes").ok()
    for host in hosts:
        listed = host.systemctl("list-units", "--all", "--plain", "--no-legend", f"{prefix}*").stdout
        assert listed.strip() == "", f"{host.name}: {listed}"
        units = host.wrote("/etc/systemd/system")
        assert not list(units.glob(f"{prefix}*")), host.name
        assert not list(units.glob(f"multi-user.target.wants/{prefix}*")), host.name
        leftovers = host.run("ps", "-eo", "args=").stdout
        assert "mariadbd" not in leftovers and "haproxy" not in leftovers, f"{host.name}: {leftovers}"
        assert host.run("ls", "-A", BASE, check=False).stdout.strip() == "", f"{host.name}: {BASE} is empty"


def test_auto_uses_systemd_only_where_commands_run_as_root_and_systemd_refused_elsewhere_is_one_line():
    from components.orchestrators.ssh import SshError, SshHost

    with systemd_host.systemd_hosts(1) as booted:
        host = booted[0]
        assert SshHost(host.access()).service_manager() == "systemd", "sudo to root on a systemd host"
        assert SshHost(host.access(sudo=False)).service_manager() == "processes", "no root: detached processes"
        assert SshHost(host.access(supervisor="processes")).service_manager() == "processes"
        with pytest.raises(SshError) as refused:
            SshHost(host.access(sudo=False, supervisor="systemd")).service_manager()
        message = str(refused.value)
        assert "\n" not in message and host.name in message and "not root (set sudo)" in message, message
