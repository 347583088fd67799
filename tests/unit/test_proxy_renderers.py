"""The ProxySQL, MaxScale and MySQL Router renderers, against golden files and against checkers that share no
code with them: proxysql.cnf parsed by a libconfig parser and loaded into a model of ProxySQL's admin tables
(``tests/support/proxysql_admin_model.py``), maxscale.cnf and mysqlrouter.conf parsed as INI and held against the
table of documented parameters (``tests/support/ini_config_checks.py``). None of the three proxies is installed
here, so their own config checks cannot run. ``UPDATE_GOLDEN=1`` rewrites the golden files."""

from __future__ import annotations

import copy

import libconf
import pytest

from components.configurator import maxscale, mysqlrouter, proxysql
from components.configurator.placement import Placement
from components.configurator.proxy_values import Backend
from components.configurator.render import UnsafeValue
from tests.support import ini_config_checks as ini
from tests.support import proxysql_admin_model as model
from tests.unit.test_configurator import check_golden

DIR = "/srv/replstack/demo"
# Golden passwords: never used anywhere, there to show where a password lands (and that it lands nowhere else).
PASSWORDS = {"admin_password": "Golden0Admin0Password", "monitor_password": "Golden0Monitor0Password",
             "app_password": "Golden0App0Password", "service_password": "Golden0Service0Password"}


def nodes(count: int = 3, host: str = "127.0.0.1") -> list[Backend]:
    return [Backend(f"db{i}", host, 23305 + i) for i in range(1, count + 1)]


def proxysql_cnf(count: int = 3, **changes) -> str:
    servers = nodes(count)
    args = {"cluster": "replstack-demo", "name": "proxysql1",
            "placement": Placement("127.0.0.1", {"sql": 23011, "admin": 23012}, f"{DIR}/proxysql1"),
            "primary": servers[0], "replicas": servers[1:], "admin_user": "replstack_admin",
            "admin_password": PASSWORDS["admin_password"], "monitor_user": "replstack_monitor",
            "monitor_password": PASSWORDS["monitor_password"], "app_user": "root",
            "app_password": PASSWORDS["app_password"], "max_lag": 30}
    return proxysql.render_proxysql_cnf(**{**args, **changes})


def maxscale_cnf(count: int = 3, binlog: bool = False, **changes) -> str:
    servers = nodes(count)
    ports = {"write": 23021, "read": 23022, "admin": 23023, **({"binlog": 23024} if binlog else {})}
    args = {"cluster": "replstack-demo", "name": "maxscale1", "placement": Placement("127.0.0.1", ports,
                                                                                     f"{DIR}/maxscale1"),
            "primary": servers[0], "replicas": servers[1:], "monitor_user": "replstack_monitor",
            "monitor_password": PASSWORDS["monitor_password"], "service_user": "replstack_service",
            "service_password": PASSWORDS["service_password"], "max_lag": 30,
            "binlog_server_id": 1000 if binlog else None}
    return maxscale.render_maxscale_cnf(**{**args, **changes})


def mysqlrouter_conf(count: int = 3, **changes) -> str:
    servers = nodes(count)
    args = {"cluster": "replstack-demo", "name": "router1",
            "placement": Placement("127.0.0.1", {"write": 23031, "read": 23032}, f"{DIR}/router1"),
            "primary": servers[0], "replicas": servers[1:]}
    return mysqlrouter.render_mysqlrouter_conf(**{**args, **changes})


def admin_tables(text: str):
    return model.load(libconf.loads(text))


# -- golden files -----------------------------------------------------------------------------------------------
def test_proxysql_cnf_golden():
    check_golden("proxysql.cnf", proxysql_cnf())


def test_maxscale_cnf_golden():
    check_golden("maxscale.cnf", maxscale_cnf(binlog=True))


def test_mysqlrouter_conf_golden():
    check_golden("mysqlrouter.conf", mysqlrouter_conf())


def test_each_password_lands_only_where_its_proxy_reads_it():
    text = proxysql_cnf()
    assert text.count(PASSWORDS["admin_password"]) == text.count(PASSWORDS["monitor_password"]) == 1
    assert text.count(PASSWORDS["app_password"]) == 1
    text = maxscale_cnf(binlog=True)
    assert text.count(PASSWORDS["monitor_password"]) == 1 and text.count(PASSWORDS["service_password"]) == 3
    assert not any(p in mysqlrouter_conf() for p in PASSWORDS.values())


def test_listener_names_and_ports_are_the_placements():
    assert proxysql.listener_names() == ("sql", "admin")
    assert maxscale.listener_names() == ("write", "read", "admin")
    assert maxscale.listener_names(binlog=True) == ("write", "read", "admin", "binlog")
    assert mysqlrouter.listener_names() == ("write", "read")
    db = admin_tables(proxysql_cnf())
    assert model.variable(db, "mysql-interfaces") == "127.0.0.1:23011"
    assert model.variable(db, "admin-mysql_ifaces") == "127.0.0.1:23012"
    config = ini.parse(maxscale_cnf(binlog=True))
    assert config["maxscale"]["admin_port"] == "23023"
    assert {config[s]["port"] for s in config.sections() if config[s].get("type") == "listener"} == \
        {"23021", "23022", "23024"}
    config = ini.parse(mysqlrouter_conf())
    assert (config["routing:rw"]["bind_port"], config["routing:ro"]["bind_port"]) == ("23031", "23032")


# -- ProxySQL: libconfig, the admin tables' constraints, references, routing --------------------------------------
@pytest.mark.parametrize("count", [1, 2, 3, 5])
def test_proxysql_rows_fit_the_documented_admin_tables(count):
    db = admin_tables(proxysql_cnf(count))
    assert model.reference_errors(db) == []
    rows = db.execute("SELECT hostgroup_id, comment, weight, max_replication_lag, status FROM mysql_servers "
                      "ORDER BY hostgroup_id, comment").fetchall()
    readers = [(20, f"db{i}", 1000, 30, "ONLINE") for i in range(2, count + 1)]
    primary_reads = (20, "db1", 1 if count > 1 else 1000, 0, "ONLINE")
    assert rows == [(10, "db1", 1000, 0, "ONLINE")] + sorted(readers + [primary_reads], key=lambda r: r[1])
    assert db.execute("SELECT writer_hostgroup, reader_hostgroup, check_type FROM mysql_replication_hostgroups"
                      ).fetchall() == [(10, 20, "read_only")]
    assert db.execute("SELECT username, default_hostgroup, transaction_persistent, frontend, backend "
                      "FROM mysql_users").fetchall() == [("root", 10, 1, 1, 1)]
    assert model.variable(db, "mysql-monitor_username") == "replstack_monitor"
    assert model.variable(db, "mysql-monitor_password") == PASSWORDS["monitor_password"]
    assert model.variable(db, "admin-admin_credentials") == f"replstack_admin:{PASSWORDS['admin_password']}"
    # A replica whose replication stopped reports a NULL lag, counted past the bound: it is shunned.
    assert int(model.variable(db, "mysql-monitor_slave_lag_when_null")) > 30


@pytest.mark.parametrize("query, hostgroup", [
    ("SELECT * FROM sbtest1 WHERE id = 1", 20),
    ("select c from sbtest1", 20),
    ("SELECT c FROM sbtest1 WHERE id = 1 FOR UPDATE", 10),
    ("select c from sbtest1 for update", 10),
    ("INSERT INTO sbtest1 VALUES (1)", 10),
    ("UPDATE sbtest1 SET c = 'x'", 10),
    ("BEGIN", 10),
])
def test_proxysql_query_rules_send_reads_to_replicas_and_the_rest_to_the_primary(query, hostgroup):
    assert model.routed_hostgroup(admin_tables(proxysql_cnf()), "root", query) == hostgroup


def test_proxysql_listens_on_ipv6_and_on_the_wildcard_it_is_given():
    text = proxysql_cnf(placement=Placement("::1", {"sql": 23011, "admin": 23012}, f"{DIR}/p"),
                        primary=Backend("db1", "::1", 3306), replicas=[Backend("db2", "::1", 3307)])
    db = admin_tables(text)
    assert model.variable(db, "mysql-interfaces") == "[::1]:23011" and model.reference_errors(db) == []
    text = proxysql_cnf(placement=Placement("127.0.0.1", {"sql": 1, "admin": 2}, "/srv/p", {"bind": "0.0.0.0"}))
    assert model.variable(admin_tables(text), "mysql-interfaces") == "0.0.0.0:1"


# The model is what stands in for ProxySQL here: it must refuse what ProxySQL's tables would.
def _set(path: list, value):
    def change(config):
        target = config
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        return config
    return change


@pytest.mark.parametrize("change, complaint", [
    (_set(["mysql_replication_hostgroups", 0, "reader_hostgroup"], 10), "CHECK constraint"),
    (_set(["mysql_servers", 0, "hostgroup"], -1), "CHECK constraint"),
    (_set(["mysql_servers", 1, "port"], 70000), "CHECK constraint"),
    (_set(["mysql_servers", 1, "status"], "UP"), "CHECK constraint"),
    (_set(["mysql_servers", 1, "port"], "23307"), "integer column"),
    (_set(["mysql_servers", 1, "address"], None), "not a scalar"),
    (_set(["mysql_servers", 2], {"address": "127.0.0.1", "port": 23307, "hostgroup": 20}), "UNIQUE constraint"),
    (_set(["mysql_users", 0, "frontend"], 2), "CHECK constraint"),
    (_set(["mysql_users", 0, "default_hostgrup"], 10), "no column"),
    (_set(["mysql_query_rules", 1, "apply"], 3), "CHECK constraint"),
    (_set(["mysql_query_rules", 1, "rule_id"], 1), "UNIQUE constraint"),
    (_set(["mysql_replication_hostgroups", 0, "check_type"], "readonly"), "CHECK constraint"),
    (_set(["scheduler"], ()), "outside the modelled admin tables"),
])
def test_the_admin_table_model_refuses_rows_proxysql_would(change, complaint):
    config = libconf.loads(proxysql_cnf())
    model.load(copy.deepcopy(config))
    mutable = _mutable(config)
    with pytest.raises(model.ModelError, match=complaint):
        model.load(change(mutable))


def test_the_admin_table_model_finds_dangling_hostgroups_and_shared_ports():
    config = _mutable(libconf.loads(proxysql_cnf()))
    config["mysql_query_rules"][1]["destination_hostgroup"] = 30
    config["mysql_users"][0]["default_hostgroup"] = 11
    config["mysql_replication_hostgroups"][0]["reader_hostgroup"] = 21
    config["mysql_variables"]["interfaces"] = "127.0.0.1:23012"
    config["mysql_users"].append({"username": "replstack_admin", "password": "x", "default_hostgroup": 10})
    text = "\n".join(model.reference_errors(model.load(config)))
    for expected in ("hostgroup 21 has no server", "defaults to hostgroup 11", "query rule 2 routes to hostgroup 30",
                     "admin account replstack_admin is also a MySQL user", "both listen on port 23012"):
        assert expected in text


def _mutable(value):
    """libconf's tuples and AttrDicts as lists and dicts, so a test can change a row."""
    if isinstance(value, dict):
        return {k: _mutable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_mutable(v) for v in value]
    return value


# -- MaxScale: INI against the documented parameters, references ------------------------------------------------
@pytest.mark.parametrize("count, binlog", [(1, False), (3, False), (3, True), (5, True)])
def test_maxscale_cnf_uses_only_documented_parameters_and_resolves(count, binlog):
    text = maxscale_cnf(count, binlog=binlog)
    assert ini.maxscale_problems(text, servers=[f"db{i}" for i in range(1, count + 1)]) == []
    config = ini.parse(text)
    routers = {config[s]["router"]: s for s in config.sections() if config[s].get("type") == "service"}
    assert set(routers) == {"readwritesplit", "readconnroute"} | ({"binlogrouter"} if binlog else set())
    assert config[routers["readconnroute"]]["router_options"] == "slave"
    monitor = next(s for s in config.sections() if config[s].get("type") == "monitor")
    assert config[monitor]["module"] == "mariadbmon"
    assert (config[monitor]["auto_failover"], config[monitor]["auto_rejoin"]) == ("false", "false")
    assert config["maxscale"]["admin_host"] == "127.0.0.1"


@pytest.mark.parametrize("edit, complaint", [
    (lambda t: t.replace("auto_rejoin=false", "auto_rejoin=false\nauto_failback=true"), "unknown parameter"),
    (lambda t: t.replace("max_replication_lag=30s", "max_slave_replication_lag=30s", 1), "unknown parameter"),
    (lambda t: t.replace("router_options=slave", "router_options=replica"), "router_options"),
    (lambda t: t.replace("router=readconnroute", "router=readconroute"), "not a documented module"),
    (lambda t: t.replace("monitor_interval=1s", "monitor_interval=fast"), "duration"),
    (lambda t: t.replace("servers=db1,db2,db3", "servers=db1,db2,db4", 1), "'db4', which is not a server"),
    (lambda t: t.replace("service=replica-service", "service=reader-service"), "not a service section"),
    (lambda t: t.replace("cluster=replication-monitor", "cluster=monitor"), "not a monitor section"),
    (lambda t: t.replace("port=23022", "port=23021"), "both listen on port 23021"),
    (lambda t: t.replace("admin_port=23023", "admin_port=23024"), "both listen on port 23024"),
    (lambda t: t.replace("[binlog-listener]\ntype=listener\nservice=binlog-service", "[binlog-listener]\n"
                         "type=listener\nservice=split-service"), "[binlog-service] has no listener"),
    (lambda t: t + "\n[db3]\ntype=server\naddress=127.0.0.1\nport=1\n", "already exists"),
])
def test_the_maxscale_checker_refuses_what_the_documentation_does_not_allow(edit, complaint):
    text = maxscale_cnf(binlog=True)
    try:
        problems = ini.maxscale_problems(edit(text))
    except Exception as error:  # configparser's own refusals (a repeated section)
        problems = [str(error)]
    assert any(complaint in p for p in problems), problems


# -- MySQL Router -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("count", [1, 2, 3])
def test_mysqlrouter_conf_uses_only_documented_options_and_routes_to_the_nodes(count):
    servers = nodes(count)
    text = mysqlrouter_conf(count)
    assert ini.mysqlrouter_problems(text, destinations=[f"{b.host}:{b.port}" for b in servers]) == []
    config = ini.parse(text)
    assert config["routing:rw"]["destinations"] == "127.0.0.1:23306"
    assert config["routing:rw"]["routing_strategy"] == "first-available"
    readers = servers[1:] or servers[:1]
    assert config["routing:ro"]["destinations"] == ",".join(f"{b.host}:{b.port}" for b in readers)
    assert config["routing:ro"]["routing_strategy"] == "round-robin"
    assert config["DEFAULT"]["unknown_config_option"] == "error"


def test_mysqlrouter_conf_connects_to_ipv6_in_brackets():
    text = mysqlrouter_conf(placement=Placement("::1", {"write": 1, "read": 2}, "/srv/r"),
                            primary=Backend("db1", "::1", 3306), replicas=[Backend("db2", "::1", 3307)])
    assert ini.mysqlrouter_problems(text, destinations=["[::1]:3306", "[::1]:3307"]) == []
    assert "bind_address=::1" in text and "destinations=[::1]:3307" in text


@pytest.mark.parametrize("edit, complaint", [
    (lambda t: t.replace("protocol=classic", "protocol=classic\nbind_adress=127.0.0.1", 1), "unknown option"),
    (lambda t: t.replace("routing_strategy=round-robin", "routing_strategy=random"), "not one of"),
    (lambda t: t.replace("[logger]", "[loggers]"), "not a documented section"),
    (lambda t: t.replace("bind_port=23032", "bind_port=23031"), "both listen on port 23031"),
    (lambda t: t.replace("destinations=127.0.0.1:23306", "destinations=127.0.0.1:23399"), "not a node"),
    (lambda t: t.replace("destinations=127.0.0.1:23306", "destinations={origin}:3306"), "brace"),
    (lambda t: t.replace("bind_port=23032", "bind_port=0"), "not a TCP port"),
])
def test_the_router_checker_refuses_what_the_documentation_does_not_allow(edit, complaint):
    destinations = [f"{b.host}:{b.port}" for b in nodes()]
    problems = ini.mysqlrouter_problems(edit(mysqlrouter_conf()), destinations=destinations)
    assert any(complaint in p for p in problems), problems


# -- refusals: nothing a caller passes can add a line, a section, an account or a listener -------------------------
@pytest.mark.parametrize("changes", [
    {"name": "proxysql1\nmysql_users = ()"},
    {"cluster": "demo\";\nadmin_variables = {"},
    {"admin_user": "admin\nmysql_ifaces"},
    {"admin_password": "pass;radmin:radmin"},
    {"admin_password": "pass\"; mysql_ifaces = \"0.0.0.0:6032"},
    {"monitor_password": "pass\nmonitor_username = \"root\""},
    {"app_password": "pa ss"},
    {"app_password": "back\\slash"},
    {"app_user": "replstack_admin"},
    {"primary": Backend("db1\n[x]", "127.0.0.1", 23306)},
    {"primary": Backend("db1", "127.0.0.1\"; port = 1", 23306)},
    {"replicas": [Backend("db2", "db2.example", 23307)]},
    {"replicas": [Backend("db1", "127.0.0.1", 23307)]},
    {"placement": Placement("127.0.0.1", {"sql": 23011}, f"{DIR}/proxysql1")},
    {"placement": Placement("127.0.0.1", {"sql": 23011, "admin": 23011}, f"{DIR}/proxysql1")},
    {"placement": Placement("127.0.0.1", {"sql": 23011, "admin": 23012}, f"{DIR}/p\"roxysql1")},
    {"writer_hostgroup": 20},
    {"max_lag": 0},
])
def test_proxysql_renderer_refuses_values_that_change_the_file(changes):
    with pytest.raises(UnsafeValue) as refused:
        proxysql_cnf(**changes)
    for key in ("admin_password", "monitor_password", "app_password"):
        if key in changes:
            assert changes[key] not in str(refused.value), "a refusal must not print the password"


@pytest.mark.parametrize("changes", [
    {"name": "maxscale1\n[evil]"},
    {"monitor_user": "monitor\nmodule=galeramon"},
    {"monitor_password": "pass\n[maxscale]\nadmin_host=0.0.0.0"},
    {"service_password": "pass#comment"},
    {"service_password": "$HOME"},
    {"service_user": "svc user"},
    {"primary": Backend("db1]\n[maxscale", "127.0.0.1", 23306)},
    {"primary": Backend("replication-monitor", "127.0.0.1", 23306)},
    {"replicas": [Backend("db 2", "127.0.0.1", 23307)]},
    {"placement": Placement("127.0.0.1\nadmin_port=1", {"write": 1, "read": 2, "admin": 3}, "/srv/m")},
    {"placement": Placement("127.0.0.1", {"write": 1, "read": 2, "admin": 3, "binlog": 4}, "/srv/m")},
    {"binlog_server_id": "1000\nselect_master=false"},
])
def test_maxscale_renderer_refuses_values_that_change_the_file(changes):
    with pytest.raises(UnsafeValue) as refused:
        maxscale_cnf(**changes)
    for key in ("monitor_password", "service_password"):
        if key in changes:
            assert changes[key] not in str(refused.value), "a refusal must not print the password"


@pytest.mark.parametrize("changes", [
    {"name": "router1\n[routing:evil]"},
    {"cluster": "{origin}"},
    {"primary": Backend("db1", "127.0.0.1,10.0.0.1", 3306)},
    {"replicas": [Backend("db2\n[routing:x]", "127.0.0.1", 3307)]},
    {"placement": Placement("127.0.0.1", {"write": 1, "read": 2}, "/srv/{logging_folder}")},
    {"placement": Placement("127.0.0.1", {"write": 1, "read": 70000}, "/srv/r")},
    {"placement": Placement("127.0.0.1", {"write": 1, "read": 2}, "/srv/r", {"bind": "0.0.0.0\nx=1"})},
    {"log_level": "INFO\n[routing:x]"},
])
def test_mysqlrouter_renderer_refuses_values_that_change_the_file(changes):
    with pytest.raises(UnsafeValue):
        mysqlrouter_conf(**changes)
