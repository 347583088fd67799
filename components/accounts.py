"""The accounts a stack asks for, made on the primary after the service accounts (so every replica gets them
through the binary log): ``bootstrap.sponsorUser``, a person's account (replication-manager's sponsor: reads and
monitors everything by default, more only as the stack's ``grants`` say), and ``bootstrap.appUser``, the
account clients use, with privileges on its named databases only (created when missing).

Neither can write on a replica: their grants are checked by ``components.grants`` (no ``SUPER``, no
``READ_ONLY ADMIN``, no ``ALL`` or writes on ``*.*``). Passwords are Pulumi secrets, given by the stack or
generated; statements carry only their hashes, in a session kept out of the general and slow logs. Grants are
exactly what the stack says: each apply revokes what an account had and grants the list again, and an account
the stack no longer asks for is dropped."""

from __future__ import annotations

from typing import Any

import pulumi
import pymysql
from pulumi.dynamic import CreateResult, ReadResult, Resource, UpdateResult

from components.dynamic import NO_ACTION, PlannedProvider, differs, known_or, names, resource_options
from components.dialect import Dialect
from components.sql import Endpoint, connect, execute, query, quiet_session, quote_account


def describe(account: dict[str, Any]) -> str:
    hosts = names(list(known_or(account.get("hosts"), []) or []))
    grants = "; ".join(known_or(account.get("grants"), []) or []) or "no privileges"
    return f"{account.get('role')} account {account.get('user')} from {hosts} ({grants})"


class ClientAccountsProvider(PlannedProvider):
    compared = ("primary", "accounts")

    def plan(self, olds: dict[str, Any], news: dict[str, Any]) -> str:
        wanted = [a for a in known_or(news.get("accounts"), []) or [] if isinstance(a, dict)]
        if not olds:
            return "create: " + "; ".join(describe(a) for a in wanted) + " on the primary"
        before = {a.get("user"): a for a in olds.get("accounts") or []}
        words = []
        for account in wanted:
            old = before.pop(account.get("user"), None)
            if old is None:
                words.append("create: " + describe(account))
                continue
            if differs(old.get("password"), account.get("password")):
                words.append(f"re-key the {account.get('role')} account {account.get('user')}")
            if differs(old.get("grants"), account.get("grants")) or differs(old.get("hosts"), account.get("hosts")) \
                    or differs(old.get("databases"), account.get("databases")):
                words.append("grant exactly: " + describe(account))
        words += [f"drop the {a.get('role')} account {user}" for user, a in before.items()]
        if not words and self.changes(olds, news):
            words.append("check the accounts again on the primary")
        return "; ".join(words) or NO_ACTION

    def create(self, props: dict[str, Any]) -> CreateResult:
        _apply(props, previous=[])
        return CreateResult(id_="accounts", outs=props)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        _apply(news, previous=olds.get("accounts") or [])
        return UpdateResult(outs=news)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        return ReadResult(id_=id_, outs=props)

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        """The stack no longer asks for them: dropped (a primary that is already gone took them with it)."""
        try:
            with connect(_endpoint(props)) as conn:
                quiet_session(conn, binlog=True)
                for account in props.get("accounts") or []:
                    _drop(conn, account["user"])
        except pymysql.err.OperationalError as error:
            if error.args and error.args[0] in (2002, 2003, 2013):  # cannot connect: the server is gone
                return
            raise


def _endpoint(props: dict[str, Any]) -> Endpoint:
    return Endpoint.admin_of_node(props["primary"], props["rootUser"], props["rootPassword"])


def _drop(conn: Any, user: str, keep: set[str] | None = None) -> None:
    for row in query(conn, "SELECT User AS user, Host AS host FROM mysql.user WHERE User = %s", (user,)):
        account = quote_account(row["user"], row["host"])
        if keep is None or account not in keep:
            execute(conn, f"DROP USER {account}")


def _apply(props: dict[str, Any], previous: list[dict[str, Any]]) -> None:
    accounts = props.get("accounts") or []
    wanted_users = {a["user"] for a in accounts}
    dialect = Dialect.of(props)
    with connect(_endpoint(props)) as conn:
        quiet_session(conn, binlog=True)
        for old in previous:
            if old.get("user") not in wanted_users:
                _drop(conn, old["user"])
        for entry in accounts:
            for database in entry.get("databases") or []:
                execute(conn, f"CREATE DATABASE IF NOT EXISTS `{database}`")
            wanted = {quote_account(entry["user"], host) for host in entry["hosts"]}
            _drop(conn, entry["user"], keep=wanted)
            for account in sorted(wanted):
                dialect.set_password(conn, account, entry["password"])
                execute(conn, f"REVOKE ALL PRIVILEGES, GRANT OPTION FROM {account}")
                for grant in entry["grants"]:
                    execute(conn, f"GRANT {dialect.grant(grant)} TO {account}")


class ClientAccounts(Resource, module="replstack/bootstrap", name="ClientAccounts"):
    """The sponsor and application accounts the stack asks for, created on the primary."""

    def __init__(self, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions | None = None):
        super().__init__(ClientAccountsProvider(), name, props,
                         resource_options(opts, secret_outputs=["rootPassword", "accounts"], legacy=False))
