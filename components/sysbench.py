"""The optional sysbench step (``bootstrap.sysbench``): ``sysbench oltp_read_write prepare`` through the first
proxy's write listener (the primary's address without a proxy), after the proxy-sync step, into the ``sbtest``
database. Prepared once: a re-run (or an ``up`` with the tables there) finds ``tables`` sbtest tables holding
their rows and does nothing; tables half there (an interrupted prepare) or another size asked are prepared
again.

sysbench reads its options, the password among them, from a 0600 option file (``--config-file``), never from its
command line."""

from __future__ import annotations

import os
import subprocess
import tempfile
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, ReadResult, Resource, UpdateResult

from components.dynamic import NO_ACTION, PlannedProvider, known_or, resource_options
from components.sql import Endpoint, connect, execute, query

DATABASE = "sbtest"


class SysbenchFailed(RuntimeError):
    pass


def _existing(conn: Any, tables: int) -> dict[int, int]:
    """Rows of each sbtest<n> table there is, n = 1..tables (an estimate for InnoDB is not enough: counted)."""
    names = {r["t"] for r in query(conn, "SELECT table_name AS t FROM information_schema.tables WHERE "
                                   "table_schema = %s", (DATABASE,))}
    out = {}
    for n in range(1, tables + 1):
        if f"sbtest{n}" in names:
            out[n] = int(query(conn, f"SELECT COUNT(*) AS c FROM `{DATABASE}`.`sbtest{n}`")[0]["c"])
    return out


def prepare(target: dict[str, Any], user: str, password: str, tables: int, rows: int,
            sysbench: str = "sysbench") -> str:
    """Prepares what is missing; returns what it did, in words."""
    endpoint = Endpoint(host=target["host"], port=int(target["port"]), user=user, password=password)
    with connect(endpoint, timeout=10) as conn:
        execute(conn, f"CREATE DATABASE IF NOT EXISTS `{DATABASE}`")
        existing = _existing(conn, tables)
        if len(existing) == tables and all(count == rows for count in existing.values()):
            return "already prepared"
        # Half there (an interrupted prepare, another size asked): sysbench creates every table itself.
        for n in existing:
            execute(conn, f"DROP TABLE `{DATABASE}`.`sbtest{n}`")
    with tempfile.TemporaryDirectory(prefix="replstack-sysbench-") as work:
        options = os.path.join(work, "options")
        fd = os.open(options, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(f"mysql-host={target['host']}\nmysql-port={int(target['port'])}\nmysql-user={user}\n"
                      f"mysql-password={password}\nmysql-db={DATABASE}\ndb-driver=mysql\n")
        argv = [sysbench, f"--config-file={options}", "oltp_read_write", f"--tables={tables}",
                f"--table-size={rows}", "prepare"]
        run = subprocess.run(argv, capture_output=True, text=True, timeout=3600, cwd=work)
        if run.returncode != 0:
            tail = " | ".join((run.stdout + run.stderr).strip().splitlines()[-4:])
            raise SysbenchFailed(f"sysbench prepare through {target.get('via')} failed: {tail}")
    return f"prepared {tables} table(s) of {rows} rows"


class SysbenchProvider(PlannedProvider):
    compared = ("target", "tables", "rows")

    def plan(self, olds: dict[str, Any], news: dict[str, Any]) -> str:
        via = known_or(news.get("target"), {}).get("via", "the first proxy")
        what = f"{news.get('tables')} sbtest table(s) of {news.get('rows')} rows through {via}"
        if not olds:
            return f"create: sysbench oltp_read_write prepare: {what}"
        changed = self.changes(olds, news)
        if "tables" in changed or "rows" in changed:
            return f"update: prepare what is missing of {what}"
        return NO_ACTION

    def create(self, props: dict[str, Any]) -> CreateResult:
        outs = self._run(props)
        return CreateResult(id_="sysbench", outs=outs)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        if (olds.get("tables"), olds.get("rows")) == (news["tables"], news["rows"]):
            return UpdateResult(outs={**news, "result": olds.get("result")})  # the endpoint moved: nothing to do
        return UpdateResult(outs=self._run(news))

    @staticmethod
    def _run(props: dict[str, Any]) -> dict[str, Any]:
        result = prepare(props["target"], props["user"], props["password"], int(props["tables"]), int(props["rows"]))
        return {**props, "result": result}

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        return ReadResult(id_=id_, outs=props)

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        """The tables go with the servers."""


class Sysbench(Resource, module="replstack/bootstrap", name="Sysbench"):
    """sysbench tables prepared once through the first proxy."""

    def __init__(self, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions | None = None):
        super().__init__(SysbenchProvider(), name, {**props, "result": None},
                         resource_options(opts, secret_outputs=["password"]))
