"""Cluster users created on the primary once replication runs (so every replica gets them through the binary
log): the monitoring user, and the account the proxies' health checks log in with: a generated password (a
secret; the proxies read it from a 0600 option file), ``SLAVE MONITOR`` only (to read a replica's replication
state), and only from the addresses the proxies connect from. Then what the proxy kinds of the stack need
(components.proxies.kinds): their own accounts (``accounts``: user, generated password, grants; from the same
addresses) and the objects they use (``schema``: idempotent statements, e.g. a ShardProxy's shard databases).

The check account never goes without a password: a password-less one lets anyone who reaches a server (any
local user, any client of the proxy's write port) log in, and its own session can ``SET PASSWORD``, which
replicates everywhere and fails every health check."""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, ReadResult, Resource, UpdateResult

from components.dynamic import NO_ACTION, PlannedProvider, differs, known_or, names, resource_options
from components.dialect import Dialect
from components.sql import Endpoint, connect, execute, query, quiet_session, quote_account

MONITORING_GRANTS = "PROCESS, BINLOG MONITOR, SLAVE MONITOR, SHOW DATABASES"
CHECK_GRANTS = "SLAVE MONITOR"


class DatabaseUsersProvider(PlannedProvider):
    compared = ("primary", "rootUser", "rootPassword", "monitoringUser", "monitoringPassword", "checkUser",
                "checkPassword", "checkHosts", "accounts", "schema")

    def plan(self, olds: dict[str, Any], news: dict[str, Any]) -> str:
        hosts = names(known_or(news.get("checkHosts"), []))
        kind_users = [a.get("user") for a in known_or(news.get("accounts"), []) or [] if isinstance(a, dict)]
        proxy_words = (f"; the proxies' accounts {names(kind_users)}" if kind_users else "") + (
            f"; {len(news['schema'])} schema statement(s) the proxies need" if news.get("schema") else "")
        if not olds:
            return (f"create: the monitoring account {news['monitoringUser']} and the health-check account "
                    f"{news['checkUser']} (from {hosts}, with a generated password){proxy_words} on the primary; "
                    "replication copies them to every node")
        changed = self.changes(olds, news)
        words = []
        if "accounts" in changed or "schema" in changed:
            words.append(f"the proxies' accounts and schema{proxy_words or ': none'}")
        if "monitoringUser" in changed or "monitoringPassword" in changed:
            words.append(f"re-key the monitoring account {news['monitoringUser']}")
        if "checkUser" in changed or "checkHosts" in changed:
            words.append(f"health-check account {news['checkUser']} limited to {hosts}")
        if "checkPassword" in changed:
            words.append(f"re-key the health-check account {news['checkUser']}"
                         + ("" if olds.get("checkPassword") else " (it gets a password)"))
        if "primary" in changed and differs((olds.get("primary") or {}).get("name"),
                                            (known_or(news.get("primary"), {}) or {}).get("name")):
            words.append("create the accounts on the new primary")
        if not words and changed:
            words.append("check the accounts again with the new root account")
        return "; ".join(words) or NO_ACTION

    def create(self, props: dict[str, Any]) -> CreateResult:
        self._apply(props, previous=None)
        return CreateResult(id_=f"users-{props['primary']['name']}", outs=props)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        self._apply(news, previous=olds)
        return UpdateResult(outs=news)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        return ReadResult(id_=id_, outs=props)

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        """The users go with the servers."""

    @staticmethod
    def _apply(props: dict[str, Any], previous: dict[str, Any] | None) -> None:
        primary = props["primary"]
        # Over the primary's unix socket as the OS account that runs it; replicated, with password hashes only.
        endpoint = Endpoint.admin_of_node(primary, props["rootUser"], props["rootPassword"])
        monitor = quote_account(props["monitoringUser"], "%")
        dialect = Dialect.of(props)
        identified, secret = dialect.identified(props["monitoringPassword"])
        with connect(endpoint) as conn:
            quiet_session(conn, binlog=True)
            execute(conn, f"CREATE USER IF NOT EXISTS {monitor} {identified}", secret)
            if previous and previous.get("monitoringPassword") != props["monitoringPassword"]:
                execute(conn, f"ALTER USER {monitor} {identified}", secret)
            execute(conn, f"GRANT {dialect.privileges(MONITORING_GRANTS)} ON *.* TO {monitor}")
            wanted = {quote_account(props["checkUser"], host) for host in props["checkHosts"]}
            rows = query(conn, "SELECT User AS user, Host AS host FROM mysql.user WHERE User = %s",
                         (props["checkUser"],))
            existing = {quote_account(r["user"], r["host"]) for r in rows}
            for account in sorted(existing - wanted):
                execute(conn, f"DROP USER {account}")
            for account in sorted(wanted):
                # Every time: the password-less account of an earlier version gets one, a re-keyed one is reset.
                dialect.set_password(conn, account, props["checkPassword"])
                execute(conn, f"GRANT {dialect.privileges(CHECK_GRANTS)} ON *.* TO {account}")
            for statement in props.get("schema") or []:
                execute(conn, statement.replace("%", "%%"))
            _apply_accounts(conn, props.get("accounts") or [], props["checkHosts"],
                            (previous or {}).get("accounts") or [], dialect)


def _apply_accounts(conn: Any, accounts: list[dict[str, Any]], hosts: list[str],
                    previous: list[dict[str, Any]], dialect: Dialect) -> None:
    """Each proxy kind's account from each proxy address, with its password (hash only) and its grants; an
    account a previous run made and no proxy needs any more is dropped."""
    wanted_users = {a["user"] for a in accounts}
    for old in previous:
        if old.get("user") not in wanted_users:
            for row in query(conn, "SELECT User AS user, Host AS host FROM mysql.user WHERE User = %s",
                             (old["user"],)):
                execute(conn, f"DROP USER {quote_account(row['user'], row['host'])}")
    for entry in accounts:
        wanted = {quote_account(entry["user"], host) for host in hosts}
        rows = query(conn, "SELECT User AS user, Host AS host FROM mysql.user WHERE User = %s", (entry["user"],))
        for account in sorted({quote_account(r["user"], r["host"]) for r in rows} - wanted):
            execute(conn, f"DROP USER {account}")
        for account in sorted(wanted):
            dialect.set_password(conn, account, entry["password"])
            for grant in entry["grants"]:
                # '%' of a pattern, no argument
                execute(conn, f"GRANT {dialect.grant(grant)} TO {account}".replace("%", "%%"))


class DatabaseUsers(Resource, module="replstack/bootstrap", name="DatabaseUsers"):
    """The cluster's service accounts, created on the primary."""

    def __init__(self, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions | None = None):
        super().__init__(DatabaseUsersProvider(), name, props,
                         resource_options(opts, secret_outputs=["rootPassword", "monitoringPassword",
                                                                "checkPassword", "accounts"]))
