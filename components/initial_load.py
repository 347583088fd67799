"""``bootstrap.initialLoad``: SQL files and CSV files (into named tables) applied once through the write
endpoint, in the order the stack lists them, after proxy sync and the accounts.

Once: each file is recorded by its path and sha256, in the resource's state (so a changed file is a diff the
preview shows, naming the file) and on the cluster in ``replstack_load.applied`` (so an ``up`` that stopped half
way, or a state rebuilt, applies only what is not there yet). A changed file is applied again as a whole; a file
the stack no longer lists is forgotten, its data stays.

- SQL: the file is sent as it is, statements separated by ``;`` and run by the server one after the other
  (client commands such as ``DELIMITER`` or ``SOURCE`` are not SQL and fail). A failing statement fails the
  ``up`` naming the file; the file is not recorded, so the next ``up`` sends it again: statements that can run
  twice (``CREATE TABLE IF NOT EXISTS``, ...) make that harmless.
- CSV: rows sent as batched parameterised ``INSERT``s (``LOAD DATA LOCAL INFILE`` is off on a hardened server
  and lets a server read client files), in one transaction with its record: all of it or nothing. ``mode``
  ``replace`` writes each row with ``REPLACE`` (a row with the same key is replaced, so a changed file updates its
  rows), ``truncate`` empties the table first. ``\\N`` is NULL, as ``LOAD DATA`` has it.

The files are read at apply time from the project directory and must still have the checksum the preview saw."""

from __future__ import annotations

import csv
import hashlib
import io
from pathlib import Path
from typing import Any

import pulumi
import pymysql
from pulumi.dynamic import CreateResult, ReadResult, Resource, UpdateResult

from components.dynamic import NO_ACTION, PlannedProvider, known_or, resource_options

SCHEMA = "replstack_load"
RECORD = f"`{SCHEMA}`.`applied`"
BATCH = 500


class LoadFailed(RuntimeError):
    pass


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def entries(load: list[Any], project_dir: Path) -> list[dict[str, Any]]:
    """The resource's ``files`` input from the spec's ``initialLoad``: each file's path, kind, target and sha256."""
    out = []
    for item in load:
        path = item.sql or item.csv
        entry: dict[str, Any] = {"path": path, "kind": "sql" if item.sql else "csv",
                                 "sha256": sha256_of(project_dir / path)}
        if item.csv:
            entry.update({"table": item.table, "header": item.header, "mode": item.mode})
        out.append(entry)
    return out


def _key(entry: dict[str, Any]) -> str:
    return entry["path"]


def pending(files: list[dict[str, Any]], applied: dict[str, str]) -> list[dict[str, Any]]:
    """The files whose path and checksum are not recorded as applied."""
    return [f for f in files if applied.get(_key(f)) != f["sha256"]]


class InitialLoadProvider(PlannedProvider):
    compared = ("target", "files")

    def plan(self, olds: dict[str, Any], news: dict[str, Any]) -> str:
        files = [f for f in known_or(news.get("files"), []) or [] if isinstance(f, dict)]
        via = known_or(news.get("target"), {}).get("via", "the write endpoint")
        if not olds:
            return f"create: apply {', '.join(_say(f) for f in files)} through {via}, once each"
        before = {_key(f): f for f in olds.get("files") or []}
        words = []
        for f in files:
            old = before.pop(_key(f), None)
            if old is None:
                words.append(f"apply {_say(f)} (new)")
            elif old.get("sha256") != f["sha256"]:
                words.append(f"apply {_say(f)} again: it changed (sha256 {str(old.get('sha256'))[:12]} -> "
                             f"{f['sha256'][:12]})")
            elif any(old.get(k) != f.get(k) for k in ("table", "header", "mode")):
                words.append(f"apply {_say(f)} again: its table, header or mode changed")
        words += [f"forget {path} (no longer listed; its data stays)" for path in before]
        if not words and self.changes(olds, news):
            words.append(f"check through {via} that every file is applied")
        return "update: " + "; ".join(words) if words else NO_ACTION

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(id_="initial-load", outs=_run(props, {}))

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs=_run(news, olds.get("applied") or {}))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        return ReadResult(id_=id_, outs=props)

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        """The data stays with the servers."""


def _say(entry: dict[str, Any]) -> str:
    return entry["path"] + (f" into {entry['table']}" if entry.get("kind") == "csv" else "")


def _connect(props: dict[str, Any], multi: bool = False) -> pymysql.connections.Connection:
    target = props["target"]
    return pymysql.connect(host=target["host"], port=int(target["port"]), user=props["user"],
                           password=props["password"], autocommit=True, connect_timeout=10, read_timeout=3600,
                           write_timeout=3600, charset="utf8mb4",
                           client_flag=pymysql.constants.CLIENT.MULTI_STATEMENTS if multi else 0)


def _run(props: dict[str, Any], stated: dict[str, str]) -> dict[str, Any]:
    project = Path(props["projectDir"])
    files = list(props.get("files") or [])
    with _connect(props) as conn, conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE IF NOT EXISTS `{SCHEMA}`")
        cur.execute(f"CREATE TABLE IF NOT EXISTS {RECORD} (path VARCHAR(512) PRIMARY KEY, sha256 CHAR(64) NOT NULL, "
                    "target VARCHAR(255) NOT NULL DEFAULT '', "
                    "applied_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP) ENGINE=InnoDB")
        cur.execute(f"SELECT path, sha256, target FROM {RECORD}")
        recorded = {row[0]: (row[1], row[2]) for row in cur.fetchall()}
    applied = dict(stated)
    for entry in files:
        if recorded.get(_key(entry)) == (entry["sha256"], _target(entry)):
            applied[_key(entry)] = entry["sha256"]
            continue
        path = project / entry["path"]
        if not path.is_file() or sha256_of(path) != entry["sha256"]:
            raise LoadFailed(f"{entry['path']} changed or went away since the preview: run up again")
        try:
            if entry["kind"] == "sql":
                _apply_sql(props, path, entry)
            else:
                _apply_csv(props, path, entry)
        except pymysql.err.MySQLError as error:
            raise LoadFailed(f"{entry['path']}: {error.args[-1] if error.args else error}; nothing after it "
                             "was applied, and it is not recorded (the next up sends it again)") from None
        applied[_key(entry)] = entry["sha256"]
    listed = {_key(e) for e in files}
    return {**props, "applied": {k: v for k, v in applied.items() if k in listed}}


def _target(entry: dict[str, Any]) -> str:
    """Where a file went and how (a CSV's table, header and mode): a change of it applies the file again."""
    if entry.get("kind") != "csv":
        return ""
    return f"{entry['table']} header={bool(entry.get('header', True))} mode={entry.get('mode')}"


def _record(cur: Any, entry: dict[str, Any]) -> None:
    cur.execute(f"REPLACE INTO {RECORD} (path, sha256, target) VALUES (%s, %s, %s)",
                (entry["path"], entry["sha256"], _target(entry)))


def _apply_sql(props: dict[str, Any], path: Path, entry: dict[str, Any]) -> None:
    text = path.read_text(encoding="utf-8")
    with _connect(props, multi=True) as conn, conn.cursor() as cur:
        if text.strip():
            cur.execute(text, None)
            while cur.nextset():  # each result in turn: an error in a later statement is raised here
                pass
        _record(cur, entry)


def _quoted_table(table: str) -> str:
    database, name = table.split(".", 1)
    return f"`{database}`.`{name}`"


def _apply_csv(props: dict[str, Any], path: Path, entry: dict[str, Any]) -> None:
    with path.open(newline="", encoding="utf-8") as file:
        rows = list(csv.reader(io.StringIO(file.read())))
    columns: list[str] | None = None
    if entry.get("header", True) and rows:
        columns, rows = rows[0], rows[1:]
        for column in columns:
            if not column or "`" in column or not column.isprintable():
                raise LoadFailed(f"{entry['path']}: {column!r} in the header is not a column name")
    rows = [r for r in rows if r]
    table = _quoted_table(entry["table"])
    width = len(columns) if columns else (len(rows[0]) if rows else 0)
    for number, row in enumerate(rows, start=2 if columns else 1):
        if len(row) != width:
            raise LoadFailed(f"{entry['path']} line {number}: {len(row)} fields, {width} expected")
    column_list = f" ({', '.join(f'`{c}`' for c in columns)})" if columns else ""
    statement = f"REPLACE INTO {table}{column_list} VALUES ({', '.join(['%s'] * width)})"
    with _connect(props) as conn, conn.cursor() as cur:
        conn.begin()
        try:
            if entry.get("mode") == "truncate":
                cur.execute(f"DELETE FROM {table}")
            for start in range(0, len(rows), BATCH):
                batch = [[None if v == "\\N" else v for v in row] for row in rows[start:start + BATCH]]
                cur.executemany(statement, batch)
            _record(cur, entry)
            conn.commit()
        except BaseException:
            conn.rollback()
            raise


class InitialLoad(Resource, module="replstack/bootstrap", name="InitialLoad"):
    """SQL and CSV files applied once through the write endpoint, recorded by checksum."""

    def __init__(self, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions | None = None):
        super().__init__(InitialLoadProvider(), name, {**props, "applied": None},
                         resource_options(opts, secret_outputs=["password"], legacy=False))
