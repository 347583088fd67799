"""The sponsor and application accounts' settings and grants, and what the previews of the accounts and the
initial load say (the real accounts and load: tests/integration/test_bootstrap_accounts_load.py)."""

from __future__ import annotations

import pytest

from components import grants
from components.accounts import ClientAccountsProvider
from components.initial_load import InitialLoadProvider, pending
from components.spec import SpecError, load_spec


@pytest.mark.parametrize("text, sql", [
    ("SELECT, PROCESS ON *.*", "SELECT, PROCESS ON *.*"),
    ("all privileges on shop.*", "ALL PRIVILEGES ON `shop`.*"),
    ("select,  insert ON shop.orders", "SELECT, INSERT ON `shop`.`orders`"),
])
def test_grants_are_parsed_and_quoted(text, sql):
    assert grants.parse(text).sql() == sql


@pytest.mark.parametrize("text, reason", [
    ("SUPER ON *.*", "writes on a read-only replica"),
    ("READ_ONLY ADMIN ON *.*", "writes on a read-only replica"),
    ("ALL ON *.*", "on *.* only reading and monitoring"),
    ("INSERT ON *.*", "writes the mysql schema"),
    ("SELECT ON mysql.*", "the server's own schema"),
    ("PROCESS ON shop.*", "not a privilege of a database"),
    ("SELECT ON *.* WITH GRANT OPTION", "no WITH GRANT OPTION"),
    ("SELECT ON `shop`.*", "no quotes"),
    ("GRANT OPTION ON shop.*", "hands privileges on"),
])
def test_unsafe_or_malformed_grants_are_refused(text, reason):
    with pytest.raises(ValueError, match=reason.replace("*", r"\*").replace(".", r"\.")):
        grants.parse(text)


def test_accounts_default_and_safe():
    spec = load_spec({"bootstrap": {"sponsorUser": {}, "appUser": {"databases": ["shop", "shop_log"]}}})
    sponsor, app = spec.bootstrap.sponsor_user, spec.bootstrap.app_user
    assert (sponsor.name, sponsor.hosts, sponsor.password) == ("replstack_sponsor", ["%"], None)
    made = [g.sql() for g in grants.database_grants(app.databases, app.privileges)]
    assert [m.split(" ON ")[1] for m in made] == ["`shop`.*", "`shop_log`.*"]
    assert not any(p in m for m in made for p in ("SUPER", "READ_ONLY", "GRANT OPTION"))


@pytest.mark.parametrize("bootstrap, fragment", [
    ({"appUser": {}}, "bootstrap.appUser.databases: required key is missing"),
    ({"appUser": {"databases": ["shop"], "privileges": ["SUPER"]}}, "bootstrap.appUser.privileges"),
    ({"appUser": {"databases": ["shop"], "name": "root"}}, "bootstrap.appUser.name: 'root' is reserved"),
    ({"sponsorUser": {"name": "shop_app"}, "appUser": {"databases": ["s"], "name": "shop_app"}}, "also bootstrap"),
    ({"sponsorUser": {"hosts": ["evil'host"]}}, "bootstrap.sponsorUser.hosts"),
    ({"sponsorUser": {"password": "caf\u00e9-s3cret"}}, "(the value is not shown)"),
])
def test_bad_account_settings_name_the_key(bootstrap, fragment):
    with pytest.raises(SpecError) as failure:
        load_spec({"bootstrap": bootstrap})
    assert fragment in str(failure.value)
    assert "s3cret" not in str(failure.value)


def test_initial_load_entries_are_checked(tmp_path, monkeypatch):
    from components.spec import HostFacts

    (tmp_path / "a.sql").write_text("SELECT 1;")
    (tmp_path / "b.csv").write_text("id\n1\n")
    host = HostFacts(project_dir=tmp_path, memory_mb=64 * 1024, os_user="nobody")
    spec = load_spec({"bootstrap": {"initialLoad": [{"sql": "a.sql"}, {"csv": "b.csv", "table": "d.t"}]}}, host)
    assert [item.mode for item in spec.bootstrap.initial_load] == ["replace", "replace"]
    for item, fragment in [({"sql": "a.sql", "csv": "b.csv"}, "exactly one"), ({"csv": "b.csv"}, "is not <database>"),
                           ({"sql": "../a.sql"}, "without '..'"), ({"sql": "/etc/passwd"}, "relative"),
                           ({"sql": "nope.sql"}, "is not a file"), ({"sql": "a.sql", "table": "d.t"}, "for csv")]:
        with pytest.raises(SpecError, match="bootstrap.initialLoad") as failure:
            load_spec({"bootstrap": {"initialLoad": [item]}}, host)
        assert fragment in str(failure.value)
    with pytest.raises(SpecError, match="listed twice"):
        load_spec({"bootstrap": {"initialLoad": [{"sql": "a.sql"}, {"sql": "a.sql"}]}}, host)


FILES = [{"path": "data/schema.sql", "kind": "sql", "sha256": "a" * 64},
         {"path": "data/c.csv", "kind": "csv", "sha256": "b" * 64, "table": "shop.c", "header": True,
          "mode": "replace"}]
TARGET = {"via": "haproxy1", "host": "127.0.0.1", "port": 3306}


def test_initial_load_preview_names_the_changed_file():
    provider = InitialLoadProvider()
    assert provider.plan({}, {"files": FILES, "target": TARGET}).startswith(
        "create: apply data/schema.sql, data/c.csv into shop.c through haproxy1")
    changed = [FILES[0], {**FILES[1], "sha256": "c" * 64}]
    plan = provider.plan({"files": FILES, "target": TARGET}, {"files": changed, "target": TARGET})
    assert plan == "update: apply data/c.csv into shop.c again: it changed (sha256 bbbbbbbbbbbb -> cccccccccccc)"
    assert provider.plan({"files": FILES, "target": TARGET}, {"files": FILES, "target": TARGET}) == "none"
    assert provider.diff("x", {"files": FILES, "target": TARGET}, {"files": changed, "target": TARGET}).changes
    assert "forget data/c.csv" in provider.plan({"files": FILES, "target": TARGET},
                                                {"files": FILES[:1], "target": TARGET})
    assert pending(changed, {"data/schema.sql": "a" * 64, "data/c.csv": "b" * 64}) == [changed[1]]


def test_accounts_preview_says_what_changes():
    provider = ClientAccountsProvider()
    app = {"role": "app", "user": "shop_app", "password": "p1", "hosts": ["%"], "grants": ["SELECT ON `shop`.*"],
           "databases": ["shop"]}
    sponsor = {"role": "sponsor", "user": "sponsor", "password": "p2", "hosts": ["%"], "grants": ["SELECT ON *.*"],
               "databases": []}
    olds = {"primary": {"name": "db1"}, "accounts": [app, sponsor]}
    assert provider.plan({}, olds).startswith("create: app account shop_app from % (SELECT ON `shop`.*)")
    assert provider.plan(olds, olds) == "none"
    rekeyed = {**olds, "accounts": [{**app, "password": "p3"}]}
    plan = provider.plan(olds, rekeyed)
    assert "re-key the app account shop_app" in plan and "drop the sponsor account sponsor" in plan
    assert "p3" not in plan and "p1" not in plan
