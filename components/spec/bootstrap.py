"""``replstack:bootstrap``: the topology, the accounts, the initial load and sysbench."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal, Mapping

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator

from components import grants as grant_rules
from components.spec.base import RESERVED_ACCOUNTS, Topology, USER_KEYS, _Model, _PATH, _PATH_CHARS, _host, _refuse


class SysbenchSpec(_Model):
    """sysbench tables prepared once through the first proxy's write listener (``sysbench oltp_read_write
    prepare``), in the ``sbtest`` database."""

    tables: int = Field(4, ge=1, le=1024)
    rows: int = Field(10000, ge=1, le=100_000_000, description="rows per table")


def _account_name(user: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,79}", user):
        raise ValueError(f"{user!r} is not a valid user name: letters, digits and '_', at most 80 characters")
    return user


def _account_password(value: SecretStr | None) -> SecretStr | None:
    """Printable ASCII, for the reason ``rootPassword`` says; the value is never repeated."""
    if value is not None and not re.fullmatch(r"[ -~]+", value.get_secret_value()):
        raise ValueError("is empty or has a non-ASCII or control character (the value is not shown); allowed: "
                         "printable ASCII, since replstack's SQL client sends passwords as latin-1")
    return value


def _account_hosts(hosts: list[str]) -> list[str]:
    bad = [h for h in hosts if not re.fullmatch(r"[A-Za-z0-9.:%_-]{1,255}", h)]
    if not hosts or bad:
        raise ValueError(f"{bad or hosts!r}: one or more client hosts (an address, a name, or a pattern with % "
                         "such as 10.0.%); '%' is any host")
    return hosts


class _ClientAccountSpec(_Model):
    """What every client account of the bootstrap has: a name, a password (a secret) and the hosts it logs in
    from; each kind of account sets its default name."""

    name: str = Field(description="account name")
    password: SecretStr | None = Field(None, description="set it as a Pulumi secret; generated when absent")
    hosts: list[str] = Field(default_factory=lambda: ["%"], description="client hosts it may log in from")

    _name = field_validator("name")(_account_name)
    _password = field_validator("password")(_account_password)
    _hosts = field_validator("hosts")(_account_hosts)


class SponsorUserSpec(_ClientAccountSpec):
    """A person's account (replication-manager's sponsor), made on the primary after the service accounts."""

    name: str = Field("replstack_sponsor", description="account name")
    grants: list[str] = Field(default_factory=lambda: [grant_rules.SPONSOR_DEFAULT], description="each "
                              "'<privileges> ON *.*|db.*|db.table'; default: read and monitor everything")

    @field_validator("grants")
    @classmethod
    def _safe_grants(cls, grants: list[str]) -> list[str]:
        for text in grants:
            grant_rules.parse(text)
        return grants


class AppUserSpec(_ClientAccountSpec):
    """The account clients use: privileges on its databases only, never on a replica's read-only data."""

    name: str = Field("replstack_app", description="account name")
    databases: list[str] = Field(min_length=1, description="databases it works in (created when missing)")
    privileges: list[str] = Field(default_factory=lambda: list(grant_rules.APP_DEFAULT),
                                  description="its privileges on each of its databases")

    @field_validator("databases")
    @classmethod
    def _database_names(cls, databases: list[str]) -> list[str]:
        for db in databases:
            if not re.fullmatch(r"[A-Za-z0-9_$]{1,64}", db) or db.lower() in grant_rules.SYSTEM_SCHEMAS:
                raise ValueError(f"{db!r} is not a database of yours: letters, digits, _ and $, not one of "
                                 f"{', '.join(grant_rules.SYSTEM_SCHEMAS)}")
        return databases

    @model_validator(mode="after")
    def _safe_privileges(self) -> AppUserSpec:
        try:
            grant_rules.database_grants(self.databases, self.privileges)
        except ValueError as error:
            _refuse([("bootstrap.appUser.privileges", str(error))])
        return self


class LoadSpec(_Model):
    """One file of ``bootstrap.initialLoad``: ``sql: FILE``, or ``csv: FILE`` with ``table``."""

    sql: str | None = Field(None, description="an SQL file, relative to the project directory")
    csv: str | None = Field(None, description="a CSV file, relative to the project directory")
    table: str | None = Field(None, description="csv: the <database>.<table> its rows go into (it must exist)")
    header: bool = Field(True, description="csv: the first line names the columns")
    mode: Literal["replace", "truncate"] = Field("replace", description="csv: 'replace' (REPLACE each row) or "
                                                 "'truncate' (empty the table first)")

    @model_validator(mode="after")
    def _one_file(self, info: ValidationInfo) -> LoadSpec:
        if (self.sql is None) == (self.csv is None):
            raise ValueError("give exactly one of sql: FILE or csv: FILE")
        if self.csv is not None and (self.table is None or not re.fullmatch(
                r"[A-Za-z0-9_$]{1,64}\.[A-Za-z0-9_$]{1,64}", self.table)):
            raise ValueError(f"csv: table {self.table!r} is not <database>.<table> (letters, digits, _ and $)")
        if self.sql is not None and self.table is not None:
            raise ValueError("table is for csv files; an SQL file names its own tables")
        given = str(self.sql or self.csv)
        path = Path(given)
        if path.is_absolute() or ".." in path.parts or not _PATH.fullmatch(given):
            raise ValueError(f"{given!r}: a path relative to the project directory, without '..' ({_PATH_CHARS})")
        if not (_host(info).project_dir / path).is_file():
            raise ValueError(f"{given!r} is not a file of the project directory")
        return self


class BootstrapSpec(_Model):
    """How the replication topology and its users are set up after the databases start."""

    topology: Topology = Field("master-slave", description="who replicates from whom (README: Topologies)")
    multi_master_writable: Literal["one", "both"] = Field(
        "one", alias="multiMasterWritable", description="multi-master: 'one' (the preferred primary takes writes, "
        "the other is read-only) or 'both' (both take writes; the write endpoint still prefers the primary)")
    semi_sync: bool = Field(False, alias="semiSync")

    replication_user: str = Field("replstack_repl", alias="replicationUser")
    monitoring_user: str = Field("replstack_monitor", alias="monitoringUser")
    check_user: str = Field("replstack_check", alias="checkUser", description="account the proxies' health "
                            "checks log in with (a generated password, SLAVE MONITOR only)")
    max_replica_lag: int = Field(30, alias="maxReplicaLag", ge=0, le=86400, description="seconds a replica may "
                                 "lag and stay in the proxies' read pool")
    root_user: str = Field("root", alias="rootUser")
    proxy_sync_timeout: int = Field(60, alias="proxySyncTimeout", ge=1, le=3600, description="seconds")
    replication_timeout: int = Field(60, alias="replicationTimeout", ge=1, le=3600, description="seconds")
    sysbench: SysbenchSpec | None = Field(None, description="prepare sysbench tables through the first proxy's "
                                          "write listener after proxy sync; off when absent")
    sponsor_user: SponsorUserSpec | None = Field(None, alias="sponsorUser", description="a person's account; "
                                                 "none when absent")
    app_user: AppUserSpec | None = Field(None, alias="appUser", description="the clients' account; none when "
                                         "absent")
    initial_load: list[LoadSpec] = Field(default_factory=list, alias="initialLoad", description="SQL and CSV "
                                         "files applied once through the write endpoint")

    _valid_user = field_validator("replication_user", "monitoring_user", "check_user", "root_user")(_account_name)

    @model_validator(mode="after")
    def _distinct_accounts(self) -> BootstrapSpec:
        """Every account key names its own account, none of the server's own."""
        problems = []
        for field, key in USER_KEYS.items():
            user = getattr(self, field)
            reason = RESERVED_ACCOUNTS.get(user.lower())
            if reason and not (field == "root_user" and user == "root"):
                allowed = "another name" + (" ('root' is allowed here)" if field == "root_user" else "")
                problems.append((f"bootstrap.{key}", f"{user!r} is reserved: {reason}; allowed: {allowed}"))
        # Keys left at their default first, so that a clash is reported on the key the stack sets.
        order = sorted(USER_KEYS, key=lambda field: field in self.model_fields_set)
        users = {USER_KEYS[field]: getattr(self, field) for field in order}
        for key, account in (("sponsorUser.name", self.sponsor_user), ("appUser.name", self.app_user)):
            if account is not None:
                reason = RESERVED_ACCOUNTS.get(account.name.lower())
                if reason:
                    problems.append((f"bootstrap.{key}", f"{account.name!r} is reserved: {reason}; allowed: "
                                     "another name"))
                users[key] = account.name
        problems += account_collisions(users)
        paths = [item.sql or item.csv for item in self.initial_load]
        for twice in sorted({p for p in paths if paths.count(p) > 1}):
            problems.append(("bootstrap.initialLoad", f"{twice!r} is listed twice; list each file once"))
        _refuse(problems)
        return self


# -- accounts ---------------------------------------------------------------------------------------------------
def account_collisions(users: Mapping[str, str]) -> list[tuple[str, str]]:
    """(key, problem) for every account key whose name another key already took (names compared ignoring case,
    so that no two keys differ only by case)."""
    problems = []
    seen: dict[str, str] = {}
    for key, user in users.items():
        other = seen.setdefault(user.lower(), key)
        if other != key:
            problems.append((f"bootstrap.{key}", f"{user!r} is also bootstrap.{other} (set, or its default); "
                             "allowed: a name no other account key uses"))
    return problems
