"""The stack model: defaults, aliases, and one clear error per malformed setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from components.spec import CLUSTER_CATALOG, ClusterSpec, HostFacts, SpecError, config_from_pulumi_env, load_spec
from tests.support.bad_configs import BAD_CONFIGS, BadConfig


def test_defaults_are_a_three_node_local_mariadb_cluster():
    spec = load_spec({})
    assert spec.orchestrator == "local"
    assert spec.database.node_names() == ["db1", "db2", "db3"]
    assert spec.primary_name() == "db1"
    assert spec.database.memory == 256 and spec.database.max_connections == 1000
    assert spec.proxies == [] and spec.serialized is False and spec.keep_data is False


def test_proxies_get_names_by_kind():
    spec = load_spec({"proxies": [{"kind": "haproxy"}, {"kind": "haproxy", "name": "edge"}, {"kind": "haproxy"}]})
    assert [p.name for p in spec.proxy_services()] == ["haproxy1", "edge", "haproxy3"]


def test_replication_manager_keys_are_accepted_as_aliases():
    spec = load_spec({"prov-db-memory": "1024", "prov-db-tags": "semisync,pfs", "prov-serialized": "true"})
    assert spec.database.memory == 1024
    assert spec.database.tags == ["semisync", "pfs"]
    assert spec.serialized is True


def test_pulumi_config_values_are_decoded():
    raw = {"replstack:database": '{"nodes": 2}', "replstack:orchestrator": "local", "other:key": "x",
           "replstack:serialized": "true"}
    assert config_from_pulumi_env(raw) == {"database": {"nodes": 2}, "orchestrator": "local", "serialized": True}


def test_root_password_never_prints():
    spec = load_spec({"rootPassword": "s3cret-value"})
    assert "s3cret-value" not in repr(spec) and "s3cret-value" not in str(spec.model_dump())


@pytest.mark.parametrize("case", BAD_CONFIGS, ids=lambda c: c.id)
def test_malformed_setting_names_key_and_allowed_values(case: BadConfig):
    with pytest.raises(SpecError) as failure:
        load_spec(case.config)
    message = str(failure.value)
    for fragment in case.expected:
        assert fragment in message, f"{fragment!r} missing from: {message}"


def test_every_problem_is_reported_at_once():
    with pytest.raises(SpecError) as failure:
        load_spec({"database": {"nodes": 0, "memory": 1}, "orchestrator": "nope"})
    message = str(failure.value)
    assert "database.nodes" in message and "database.memory" in message and "orchestrator" in message
    assert len(message.splitlines()) == 3


def test_at_least_fifteen_malformed_cases():
    assert len(BAD_CONFIGS) >= 15
    assert ClusterSpec.model_fields  # the model exists with fields


# -- what the safety checks accept and refuse (the refusals' messages are in tests/support/bad_configs.py) -------
def refusal(config: dict, host: HostFacts | None = None) -> str:
    with pytest.raises(SpecError) as failure:
        load_spec(config, host=host)
    return str(failure.value)


def host_at(project_dir: Path, memory_mb: int = 1 << 20, os_user: str = "root") -> HostFacts:
    return HostFacts(project_dir=project_dir, memory_mb=memory_mb, os_user=os_user)


def test_settings_take_the_servers_spelling_and_keep_loose():
    settings = load_spec({"database": {"settings": {
        "innodb-flush-method": "O_DIRECT", "loose-server-audit-logging": "ON", "local_infile": "OFF",
        "plugin_load_add": "server_audit", "general_log_file": "logs/general.log", "secure_auth": 1,
    }}}).database.settings
    assert settings == {"innodb_flush_method": "O_DIRECT", "loose_server_audit_logging": "ON", "local_infile": "OFF",
                        "plugin_load_add": "server_audit", "general_log_file": "logs/general.log", "secure_auth": 1}


@pytest.mark.parametrize("name, value", [
    ("skip_grant_tables", 1), ("init_file", "/srv/init.sql"), ("plugin_load_add", "handlersocket"),
    ("plugin-load", "x=/tmp/x.so"), ("general_log_file", "../../general.log"), ("ssl_cert", "~/cert.pem"),
    ("secure_auth", "OFF"), ("skip_name_resolve", 0), ("local_infile", "yes"), ("wsrep_notify_cmd", "/bin/sh"),
    ("secure_file_priv", ""), ("proxy_protocol_networks", "*"),
])
def test_unsafe_settings_need_allow_unsafe_settings(name: str, value):
    message = refusal({"database": {"settings": {name: value}}})
    assert f"replstack:database.settings.{name}: {str(value)!r} is refused" in message
    assert "database.allowUnsafeSettings" in message and len(message.splitlines()) == 1
    allowed = load_spec({"database": {"allowUnsafeSettings": [name], "settings": {name: value}}})
    assert allowed.database.settings == {name.replace("-", "_"): value}


@pytest.mark.parametrize("name", ["bind_address", "port", "socket", "datadir", "server-id", "read_only", "log_bin",
                                  "user", "unix_socket", "loose_pid_file"])
def test_settings_replstack_manages_are_refused_even_when_allowed(name: str):
    message = refusal({"database": {"settings": {name: "x"}}})
    assert f"replstack:database.settings.{name}: 'x' is refused" in message and "leave it to replstack" in message
    assert "allowUnsafeSettings[0]" in refusal({"database": {"allowUnsafeSettings": [name]}})


@pytest.mark.parametrize("value", ["1\n[mysqld]", "1\r", "a\tb", "x\x00", "1\u2028skip_grant_tables", "\x1b[2J"])
def test_setting_values_are_one_printable_line(value: str):
    assert "line break or control character" in refusal({"database": {"settings": {"max_allowed_packet": value}}})


def test_boolean_prefixes_and_abbreviations_are_not_option_names():
    assert "not the 'skip_' prefix" in refusal({"database": {"settings": {"skip_log_bin": 1}}})
    assert "not an option name" in refusal({"database": {"settings": {"skip_grant": 1}}})
    assert "not an option name" in refusal({"database": {"settings": {"maximum_max_connections": 10}}})


def test_every_bad_setting_is_reported_at_once():
    message = refusal({"database": {"settings": {"skip_grant_tables": 1, "bind_address": "0.0.0.0",
                                                 "nonsense_option": 1, "max_connections": "10\n"}}})
    assert len(message.splitlines()) == 4


def test_reserved_and_colliding_account_names():
    assert load_spec({"bootstrap": {"rootUser": "root"}}).bootstrap.root_user == "root"
    assert load_spec({"bootstrap": {"rootUser": "admin"}}).bootstrap.root_user == "admin"
    for key in ("checkUser", "monitoringUser", "replicationUser"):
        assert f"replstack:bootstrap.{key}: 'Root' is reserved" in refusal({"bootstrap": {key: "Root"}})
    assert "'none' is reserved" in refusal({"bootstrap": {"rootUser": "none"}})
    message = refusal({"bootstrap": {"rootUser": "ops", "checkUser": "OPS"}})
    assert message == ("replstack:bootstrap.checkUser: 'OPS' is also bootstrap.rootUser (set, or its default); "
                       "allowed: a name no other account key uses")


def test_the_os_account_running_the_servers_is_reserved_on_the_local_orchestrator(tmp_path):
    host = host_at(tmp_path, os_user="builder")
    message = refusal({"bootstrap": {"checkUser": "builder"}}, host)
    assert "replstack:bootstrap.checkUser: 'builder' is reserved on the local orchestrator" in message
    assert load_spec({"bootstrap": {"rootUser": "builder"}}, host).bootstrap.root_user == "builder"


def test_root_password_is_printable_ascii_and_never_echoed():
    assert load_spec({"rootPassword": "A b-c_d!#%&'\"\\~"}).root_password is not None
    for secret in ("pässword-secret", "tab\tsecret", "line\nsecret"):
        message = refusal({"rootPassword": secret})
        assert "replstack:rootPassword" in message and "printable ASCII" in message
        assert "secret" not in message.replace("secrets", "")
    assert "1234567" not in refusal({"rootPassword": 1234567})


def test_memory_of_every_node_must_fit_in_the_host(tmp_path):
    host = host_at(tmp_path, memory_mb=1000)
    assert load_spec({"database": {"nodes": 3, "memory": 300}}, host).database.memory == 300
    message = refusal({"database": {"nodes": 3, "memory": 400}}, host)
    assert message == ("replstack:database.memory: 400 MB per node x 3 nodes is more than this host's 1000 MB of "
                       "memory; allowed on the local orchestrator: at most 333 MB per node with 3 node(s)")


@pytest.mark.parametrize("base_dir", ["/", "/etc", "/usr/local/replstack", "/proc/self", "/var", "/tmp", "/home",
                                      "../../../../etc", "../../../../../../../../../..", "~/../../etc/x"])
def test_system_directories_are_not_a_base_dir(base_dir: str):
    message = refusal({"local": {"baseDir": base_dir}}, host_at(Path("/srv/a/b/c")))
    assert message.startswith(f"replstack:local.baseDir: {base_dir!r}") and "is a system directory" in message


def test_a_symbolic_link_to_a_system_directory_is_refused(tmp_path):
    (tmp_path / "link").symlink_to("/etc")
    assert "(/etc) is a system directory" in refusal({"local": {"baseDir": "link"}}, host_at(tmp_path))


def test_base_dir_is_new_empty_or_made_of_cluster_directories(tmp_path):
    host = host_at(tmp_path)
    base = tmp_path / "clusters"
    for accepted in ("clusters", "clusters/new/deeper"):
        assert load_spec({"local": {"baseDir": accepted}}, host).local.base_dir == accepted
    base.mkdir()
    (base / "replstack-a").mkdir()                                  # a cluster being placed: nothing yet
    (base / "replstack-b").mkdir()
    (base / "replstack-b" / "ports.json").write_text("{}")          # a running cluster
    kept = base / "replstack-c" / "db1"                             # a destroyed cluster with keepData
    kept.mkdir(parents=True)
    (kept / "my.cnf").write_text("# Generated by replstack for replstack-c/db1 (primary).\n")
    assert load_spec({"local": {"baseDir": str(base)}}, host).local.base_dir == str(base)

    (base / "notes.txt").write_text("mine")
    assert "'notes.txt' in it is not a replstack cluster directory" in refusal({"local": {"baseDir": "clusters"}},
                                                                                  host)
    (base / "notes.txt").unlink()
    (base / "photos").mkdir()
    (base / "photos" / "cat.jpg").write_text("")
    assert "'photos'" in refusal({"local": {"baseDir": "clusters"}}, host)
    assert "not a directory" in refusal({"local": {"baseDir": "clusters/photos/cat.jpg"}}, host)


def executable(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(0o755)
    return path


def test_binaries_are_existing_executables_with_their_names(tmp_path):
    executable(tmp_path / "sbin" / "mariadbd")
    executable(tmp_path / "bin" / "mariadb-install-db")
    haproxy = executable(tmp_path / "haproxy" / "haproxy")
    local = {"mariadbBinDir": str(tmp_path / "sbin"), "clientBinDir": str(tmp_path / "bin"),
             "haproxyBinary": str(haproxy)}
    assert "has no executable mariadb client" in refusal({"local": local, "proxies": [{"kind": "haproxy"}]})
    assert load_spec({"local": local}).local.client_bin_dir == str(tmp_path / "bin"), "no proxy, no client needed"
    executable(tmp_path / "bin" / "mariadb")
    assert load_spec({"local": local, "proxies": [{"kind": "haproxy"}]}).local.haproxy_binary == str(haproxy)

    (tmp_path / "sbin" / "mariadbd").chmod(0o644)
    assert "has no executable mariadbd" in refusal({"local": local})
    assert "has no executable mariadb-install-db" in refusal({"local": {"clientBinDir": str(tmp_path / "sbin")}})
    assert "named haproxy" in refusal({"local": {"haproxyBinary": str(tmp_path / "bin" / "mariadb-install-db")}})
    missing = {"haproxyBinary": str(tmp_path / "none" / "haproxy")}
    assert load_spec({"local": missing}).local.haproxy_binary == missing["haproxyBinary"], "unused without a proxy"
    assert "is not an executable file" in refusal({"local": missing, "proxies": [{"kind": "haproxy"}]})
    for text in ("/usr/sbin\n", "/usr/sbin; rm -rf /", "/usr/s'bin"):
        assert "has characters a path here may not have" in refusal({"local": {"mariadbBinDir": text}})


def test_the_spec_knows_the_local_backends_cluster_layout():
    from components.orchestrators import ports

    assert CLUSTER_CATALOG == ports.CATALOG


# -- local.bindAddress: an address of this host, no wildcard unless allowed -------------------------------------
def host_with(*networks: str) -> HostFacts:
    return HostFacts(project_dir=Path("/srv/replstack"), memory_mb=1 << 20, os_user="root", networks=networks)


@pytest.mark.parametrize("given, stored", [("127.0.0.2", "127.0.0.2"), ("::1", "::1"), ("0:0:0:0:0:0:0:1", "::1"),
                                           ("192.0.2.7", "192.0.2.7"), ("fd00::0:2", "fd00::2")])
def test_bind_address_is_any_address_of_the_host(given, stored):
    local = load_spec({"local": {"bindAddress": given}},
                      host=host_with("127.0.0.0/8", "::1/128", "192.0.2.7/32", "fd00::2/128")).local
    assert (local.bind_address, local.listen_address, local.connect_address) == (stored, stored, stored)


def test_bind_address_the_host_does_not_have_is_refused_with_the_reason():
    host = host_with("127.0.0.0/8", "192.0.2.7/32")
    message = refusal({"local": {"bindAddress": "192.0.2.8"}}, host)
    assert message == ("replstack:local.bindAddress: '192.0.2.8' is not an address of this host, so nothing can "
                       "listen on it; allowed: an address the host has: 127.0.0.0/8, 192.0.2.7")
    assert "not an address of this host" in refusal({"local": {"bindAddress": "::1"}}, host)
    assert "link-local" in refusal({"local": {"bindAddress": "fe80::1"}}, host_with("fe80::1/128"))


@pytest.mark.parametrize("wildcard, reached_at", [("0.0.0.0", "127.0.0.1"), ("::", "::1"), ("0::0", "::1")])
def test_wildcard_bind_needs_allow_wildcard_bind_and_is_reached_on_loopback(wildcard, reached_at):
    host = host_with("127.0.0.0/8", "::1/128")
    message = refusal({"local": {"bindAddress": wildcard}}, host)
    assert message.startswith(f"replstack:local.bindAddress: {wildcard!r} binds every interface")
    assert "local.allowWildcardBind: true" in message and len(message.splitlines()) == 1
    local = load_spec({"local": {"bindAddress": wildcard, "allowWildcardBind": True}}, host=host).local
    assert (local.listen_address, local.connect_address) == (wildcard if wildcard != "0::0" else "::", reached_at)
