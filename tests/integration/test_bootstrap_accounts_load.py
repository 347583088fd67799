"""The bootstrap's accounts and initial load, through the CLI on one 2-node cluster behind HAProxy: the
application account writes through the write endpoint and is refused a write on the replica; the sponsor (its
password a secret the stack sets) logs in and reads; every password is a secret output and none is in clear in
``pulumi stack export``; an SQL file and a CSV file are applied once, a re-run applies nothing, and a changed CSV is
a diff naming the file, then applied."""

from __future__ import annotations

import json
import time

import pymysql
import pytest

from tests.support.cli import CliStack, cli_cluster
from tests.support.cluster import cluster_config

pytestmark = pytest.mark.timeout(900)
SPONSOR_PASSWORD = "Sp0nsor-given-by-the-stack"
SCHEMA = """
CREATE TABLE IF NOT EXISTS shop.customers (id INT PRIMARY KEY, name VARCHAR(64) NOT NULL, city VARCHAR(64));
CREATE TABLE IF NOT EXISTS shop.orders (id INT AUTO_INCREMENT PRIMARY KEY, customer INT NOT NULL);
-- applied twice it would fail: the key is taken
INSERT INTO shop.orders (id, customer) VALUES (1, 1);
"""
CUSTOMERS = "id,name,city\n1,Ada,London\n2,Grace,\\N\n3,\"Lin, Jr.\",Paris\n"


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> CliStack:
    tmp = tmp_path_factory.mktemp("boot")
    config = cluster_config(tmp / "data", nodes=2, bootstrap={
        "sponsorUser": {"name": "sponsor"},
        "appUser": {"name": "shop_app", "databases": ["shop"]},
        "initialLoad": [{"sql": "data/schema.sql"}, {"csv": "data/customers.csv", "table": "shop.customers"}],
    })

    def prepare(created: CliStack) -> None:
        data = created.project.root / "data"
        data.mkdir()
        (data / "schema.sql").write_text(SCHEMA)
        (data / "customers.csv").write_text(CUSTOMERS)
        created.run("config", "set", "--secret", "--path", "replstack:bootstrap.sponsorUser.password",
                    stdin=SPONSOR_PASSWORD).ok()

    with cli_cluster(tmp, config, prepare=prepare) as created:
        yield created


def login(address: str, user: str, password: str) -> pymysql.connections.Connection:
    host, port = address.rsplit(":", 1)
    return pymysql.connect(host=host, port=int(port), user=user, password=password, autocommit=True,
                           connect_timeout=5)


def one(conn, sql: str, args=None):
    with conn.cursor() as cursor:
        cursor.execute(sql, args)
        return cursor.fetchall()


def replica_address(stack: CliStack) -> str:
    node = next(n for n in stack.outputs()["nodes"] if n["role"] == "replica")
    return f"{node['host']}:{node['port']}"


def test_app_user_writes_through_the_write_endpoint_and_is_refused_on_a_replica(stack):
    out = stack.outputs()
    assert out["appUser"] == "shop_app"
    with login(out["writeEndpoint"], "shop_app", out["appPassword"]) as conn:
        one(conn, "INSERT INTO shop.orders (customer) VALUES (2)")
        written = one(conn, "SELECT MAX(id) FROM shop.orders")[0][0]
        with pytest.raises(pymysql.err.OperationalError) as refused:
            one(conn, "SELECT * FROM mysql.user")
        assert refused.value.args[0] in (1142, 1044)
    with login(replica_address(stack), "shop_app", out["appPassword"]) as conn:
        deadline = time.time() + 30
        while one(conn, "SELECT COUNT(*) FROM shop.orders WHERE id = %s", (written,))[0][0] == 0:
            assert time.time() < deadline, "the write did not replicate"
            time.sleep(0.5)
        with pytest.raises(pymysql.err.OperationalError) as refused:
            one(conn, "INSERT INTO shop.orders (customer) VALUES (3)")
        assert refused.value.args[0] == 1290  # --read-only


def test_sponsor_logs_in_with_the_password_the_stack_set(stack):
    out = stack.outputs()
    assert out["sponsorUser"] == "sponsor" and out["sponsorPassword"] == SPONSOR_PASSWORD
    with login(out["writeEndpoint"], "sponsor", SPONSOR_PASSWORD) as conn:
        assert one(conn, "SELECT COUNT(*) FROM shop.customers")[0][0] == 3
        with pytest.raises(pymysql.err.OperationalError) as refused:  # the default grants only read
            one(conn, "INSERT INTO shop.orders (customer) VALUES (1)")
        assert refused.value.args[0] == 1142


def test_passwords_are_secret_outputs_never_in_clear_in_the_export(stack):
    out = stack.outputs()
    secrets = [out[k] for k in ("rootPassword", "monitoringPassword", "appPassword", "sponsorPassword")]
    assert out["monitoringUser"] == "replstack_monitor" and all(secrets)
    plain = json.loads(stack.run("stack", "output", "--json").ok().stdout)
    assert all(plain[k] == "[secret]" for k in ("monitoringPassword", "appPassword", "sponsorPassword"))
    exported = stack.run("stack", "export").ok().stdout
    config_text = (stack.project.root / f"Pulumi.{stack.name}.yaml").read_text()
    assert "secure:" in config_text
    for secret in secrets:
        assert secret not in exported
        assert secret not in config_text
    with login(replica_address(stack), "replstack_monitor", out["monitoringPassword"]) as conn:
        assert one(conn, "SELECT 1")[0][0] == 1


def test_initial_load_applied_once(stack):
    out = stack.outputs()
    with stack.connect(out["writeEndpoint"]) as conn:
        assert one(conn, "SELECT id, name, city FROM shop.customers ORDER BY id") == (
            (1, "Ada", "London"), (2, "Grace", None), (3, "Lin, Jr.", "Paris"))
        assert {r[0] for r in one(conn, "SELECT path FROM replstack_load.applied")} == {
            "data/schema.sql", "data/customers.csv"}
    applied = stack.state("initial-load")["applied"]
    assert set(applied) == {"data/schema.sql", "data/customers.csv"}
    # Applied again, schema.sql would fail on its INSERT: a re-run applies nothing.
    stack.expect_no_changes().ok()
    stack.up().ok()


def test_a_changed_file_is_a_visible_diff_then_applied(stack):
    path = stack.project.root / "data" / "customers.csv"
    path.write_text(CUSTOMERS.replace("London", "Cambridge") + "4,Edsger,Austin\n")
    preview = stack.preview_diff().ok()
    assert "apply data/customers.csv into shop.customers again: it changed" in preview.output
    assert "data/schema.sql" not in preview.output.split("plannedAction")[-1].split("\n")[0]
    stack.up().ok()
    with stack.connect(stack.outputs()["writeEndpoint"]) as conn:
        assert one(conn, "SELECT name, city FROM shop.customers WHERE id IN (1, 4) ORDER BY id") == (
            ("Ada", "Cambridge"), ("Edsger", "Austin"))
        assert one(conn, "SELECT COUNT(*) FROM shop.orders WHERE id = 1")[0][0] == 1
    stack.expect_no_changes().ok()


def test_an_account_the_stack_no_longer_asks_for_is_dropped(stack):
    config = stack.config()
    bootstrap = dict(config["replstack:bootstrap"])
    del bootstrap["sponsorUser"]
    stack.write_config({**config, "replstack:bootstrap": bootstrap})
    preview = stack.preview_diff().ok()
    assert "drop the sponsor account sponsor" in preview.output
    stack.up().ok()
    out = stack.outputs()
    assert "sponsorPassword" not in out
    with pytest.raises(pymysql.err.OperationalError) as refused:
        login(out["writeEndpoint"], "sponsor", SPONSOR_PASSWORD)
    assert refused.value.args[0] == 1045
    with login(out["writeEndpoint"], "shop_app", out["appPassword"]) as conn:
        assert one(conn, "SELECT COUNT(*) FROM shop.customers")[0][0] == 4
