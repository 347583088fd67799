"""MySQL and Percona Server: what differs from MariaDB (install, GTID auto-position, CHANGE REPLICATION SOURCE from
8.0.23, variable names, semi-sync plugins), rendered by pure functions and checked against golden files and a
per-flavor table of variables. Their servers are not installable here: nothing of this was run against one."""

from __future__ import annotations

import pytest

from components.configurator import flavors
from components.configurator.mariadb import database_settings, render_my_cnf
from components.configurator.placement import Placement
from components.spec import SpecError
from tests.unit.test_configurator import check_golden, spec_of

PLACEMENT = Placement("127.0.0.1", {"mysql": 23306}, "/srv/replstack/demo/db1")


def flavor_cnf(flavor: str, version: flavors.Version, database: dict, primary: bool) -> str:
    db = spec_of({"orchestrator": "kube", "kube": {}, "database": {**database, "flavor": "mariadb"}}).database
    settings = flavors.flavor_settings(database_settings(db, 1 if primary else 2, primary), flavor, version)
    flavors.check_settings(settings, flavor)
    return render_my_cnf(cluster="replstack-demo", node="db1" if primary else "db2", primary=primary,
                         settings=settings, placement=PLACEMENT, run_as_root=False, flavor=flavor)


@pytest.mark.parametrize("text,flavor,version", [
    ("/usr/sbin/mysqld  Ver 8.0.36 for Linux on x86_64 (MySQL Community Server - GPL)", "mysql", (8, 0, 36)),
    ("/usr/sbin/mysqld  Ver 8.0.22-13 for Linux on x86_64 (Percona Server (GPL), Release 13, Revision 6f7822f)",
     "percona", (8, 0, 22)),
    ("/usr/sbin/mysqld  Ver 8.4.3 for Linux on x86_64 (MySQL Community Server - GPL)", "mysql", (8, 4, 3)),
    ("mariadbd  Ver 10.11.19-MariaDB-0+deb12u1 for debian-linux-gnu on x86_64 (Debian 12)", "mariadb", (10, 11, 19)),
])
def test_the_version_line_names_flavor_and_version(text, flavor, version):
    found = flavors.parse_version(text)
    assert (found.flavor, found.version) == (flavor, version)


def test_the_installed_mariadbd_says_its_version():
    import subprocess
    text = subprocess.run(["mariadbd", "--version"], capture_output=True, text=True, check=True).stdout
    assert flavors.parse_version(text).flavor == "mariadb"
    with pytest.raises(flavors.FlavorError):
        flavors.parse_version("not a server")


def test_install_commands():
    assert flavors.install_command("mysql", binary_dir="/opt/mysql/bin", defaults_file="/d/my.cnf",
                                   os_user="replstack") == [
        "/opt/mysql/bin/mysqld", "--defaults-file=/d/my.cnf", "--initialize-insecure"]
    assert flavors.install_command("mariadb", binary_dir="/usr/sbin", defaults_file="/d/my.cnf",
                                   os_user="replstack")[1:3] == ["--defaults-file=/d/my.cnf",
                                                                 "--auth-root-authentication-method=socket"]


def test_replication_sql_golden():
    lines = []
    for flavor, version in (("mariadb", (10, 11, 0)), ("mysql", (8, 0, 22)), ("mysql", (8, 0, 23)),
                            ("percona", (8, 0, 36))):
        for gtid in (True, False):
            statement = flavors.change_source(flavor, version, host="10.0.0.1", port=3306, user="replstack_repl",
                                              password="not-shown", gtid=gtid, log_file="bin.000002", log_pos=4)
            lines.append(f"{flavor} {'.'.join(map(str, version))} gtid={gtid}: {statement.sql} -- "
                         f"{statement.params[:3] + statement.params[4:]}")
        lines.append(f"{flavor} {'.'.join(map(str, version))}: "
                     + "; ".join(flavors.replica_command(flavor, version, a) for a in ("start", "stop", "reset",
                                                                                        "status")))
        lines.append(f"{flavor}: {flavors.replication_grant(flavor, 'x@y')}")
    check_golden("flavors-replication.sql", "\n".join(lines) + "\n")


def test_the_password_is_a_parameter_never_in_the_sql():
    statement = flavors.change_source("mysql", (8, 0, 36), host="h", port=1, user="u", password="s3cret'--")
    assert "s3cret" not in statement.sql and statement.params[3] == "s3cret'--"
    assert statement.sql.startswith("CHANGE REPLICATION SOURCE TO") and "SOURCE_AUTO_POSITION = 1" in statement.sql


def test_semisync_plugins_by_version():
    assert flavors.semisync_settings("mariadb", (10, 11, 0)) == {"rpl_semi_sync_master_enabled": "1",
                                                                 "rpl_semi_sync_slave_enabled": "1"}
    assert "semisync_source.so" in flavors.semisync_settings("mysql", (8, 0, 26))["plugin_load_add"]
    assert "semisync_master.so" in flavors.semisync_settings("percona", (8, 0, 25))["plugin_load_add"]


def test_mysql_my_cnf_golden():
    check_golden("mysql-8.0.36.my.cnf", flavor_cnf("mysql", (8, 0, 36), {"tags": ["semisync", "slow",
                                                                                  "noquerycache"]}, True))


def test_percona_my_cnf_golden():
    check_golden("percona-8.0.25-replica.my.cnf", flavor_cnf("percona", (8, 0, 25), {
        "tags": ["semisync", "threadpool", "userstats", "compressbinlog", "optimistic"]}, False))


def test_every_variable_rendered_is_in_the_flavor_table():
    for flavor in ("mysql", "percona"):
        settings = flavors.flavor_settings(database_settings(spec_of({}).database, 1, True), flavor, (8, 0, 36))
        assert flavors.unknown_variables(settings, flavor) == []
        assert "gtid_domain_id" not in settings and settings["gtid_mode"] == "ON"
        assert settings["binlog_expire_logs_seconds"] == str(5 * 86400)
        assert "log_replica_updates" in settings and "log_slave_updates" not in settings
    old = flavors.flavor_settings({"log_slave_updates": "1", "slave_parallel_threads": "4"}, "mysql", (8, 0, 20))
    assert old == {"log_slave_updates": "1", "slave_parallel_workers": "4",
                   "plugin_load_add": "auth_socket=auth_socket.so", "mysqlx": "OFF"}


def test_later_releases_get_their_own_names():
    """MySQL 8.0.30 sized redo as one capacity, 8.3 dropped the parallel applier's type, 9.0 the redo file
    size: the version the binary says picks the names."""
    settings = {"innodb_log_file_size": "512M", "slave_parallel_mode": "optimistic"}
    assert flavors.flavor_settings(settings, "mysql", (8, 0, 28))["innodb_log_file_size"] == "512M"
    assert flavors.flavor_settings(settings, "mysql", (8, 0, 36))["innodb_redo_log_capacity"] == "1024M"
    newer = flavors.flavor_settings(settings, "mysql", (9, 7, 4))
    assert "replica_parallel_type" not in newer and "innodb_log_file_size" not in newer
    assert flavors.unknown_variables({"default_authentication_plugin": "x"}, "mysql", (8, 0, 36)) == []
    assert flavors.unknown_variables({"default_authentication_plugin": "x"}, "mysql", (9, 7, 4)) == [
        "default_authentication_plugin"]
    assert flavors.unknown_variables({"sql_mode": "ORACLE"}, "mysql") == ["sql_mode=ORACLE"]


def test_the_table_refuses_what_the_flavor_lacks():
    assert flavors.unknown_variables({"thread_handling": "pool-of-threads"}, "mysql") == ["thread_handling"]
    assert flavors.unknown_variables({"thread_handling": "pool-of-threads"}, "percona") == []
    assert flavors.unknown_variables({"optimizer_switch": "rowid_filter=off,mrr=off"}, "mysql") == [
        "optimizer_switch=rowid_filter=off"]
    with pytest.raises(flavors.FlavorError, match="mysql does not take aria_log_file_size"):
        flavors.check_settings({"aria_log_file_size": "1"}, "mysql")


def test_the_spec_refuses_tags_the_flavor_does_not_take():
    with pytest.raises(SpecError, match="tag 'sqlerror' sets plugin_load_add=sql_errlog, which mysql 8.0.36"):
        spec_of({"orchestrator": "kube", "kube": {}, "database": {"flavor": "mysql", "tags": ["sqlerror"]}})
    with pytest.raises(SpecError, match="older than replstack supports"):
        spec_of({"orchestrator": "kube", "kube": {}, "database": {"flavor": "mysql", "version": "5.7.44"}})


def test_the_local_backend_says_what_mysql_needs():
    with pytest.raises(SpecError) as error:
        spec_of({"database": {"flavor": "mysql"}})
    assert "database.binaryDir" in str(error.value) and "runs the mysqld of database.binaryDir" in str(error.value)
    with pytest.raises(SpecError) as error:
        spec_of({"database": {"flavor": "percona", "binaryDir": "/usr/sbin"}})
    if "is mariadb" in str(error.value):  # this host's mysqld is MariaDB's compatibility link
        assert "/usr/sbin/mysqld is mariadb 10." in str(error.value) and "not percona" in str(error.value)
