"""Does a replica seeded from a copy hold the data? Row counts of every table, on the new replica and on the node
it was copied from, both at one GTID position, before the new replica enters the proxies' read pool.

How both get to one position while the primary keeps taking writes: the new replica stops replicating first.
With a replica as the source, the target is the primary's position read then; both replicas replicate up to it
(``START SLAVE UNTIL master_gtid_pos``), are counted (both at once), and replicate again. With the primary as the source, a
consistent snapshot on the primary gives the position (its binary log coordinates at the snapshot); the new
replica replicates up to it and is counted while the primary counts inside the snapshot.

The quick way, when the cluster took no write since the copy: the seed counts its source in a consistent snapshot
while the copy is prepared (``snapshot_counts``), at the copy's own GTID position. If the new replica, stopped,
is still exactly there, only it is counted (``verify_recorded``); otherwise the check above runs.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

import pymysql

from components.sql import connect, execute, query, variable
from components.waiting import StopWaiting, wait_until

SYSTEM_SCHEMAS = ("mysql", "information_schema", "performance_schema", "sys")


class DataMismatch(RuntimeError):
    """The new replica does not hold its source's data; the message names the tables."""


def _tables(conn: pymysql.connections.Connection) -> list[tuple[str, str]]:
    rows = query(conn, "SELECT TABLE_SCHEMA AS s, TABLE_NAME AS t FROM information_schema.TABLES WHERE "
                       "TABLE_TYPE = 'BASE TABLE' AND TABLE_SCHEMA NOT IN %s ORDER BY 1, 2", (SYSTEM_SCHEMAS,))
    return [(row["s"], row["t"]) for row in rows]


def _count(conn: pymysql.connections.Connection, schema: str, table: str) -> int:
    name = f"`{schema.replace('`', '``')}`.`{table.replace('`', '``')}`"
    return int(query(conn, f"SELECT COUNT(*) AS n FROM {name}")[0]["n"])


def table_counts(conn: pymysql.connections.Connection) -> dict[str, int]:
    return {f"{schema}.{table}": _count(conn, schema, table) for schema, table in _tables(conn)}


def table_counts_parallel(endpoint: Any, workers: int = 2) -> dict[str, int]:
    """``table_counts`` of a server that nothing writes to (a stopped replica), ``workers`` tables at a time,
    each worker on its own connection."""
    with connect(endpoint, timeout=10) as conn:
        tables = _tables(conn)

    def count(part: list[tuple[str, str]]) -> dict[str, int]:
        with connect(endpoint, timeout=10) as own:
            return {f"{schema}.{table}": _count(own, schema, table) for schema, table in part}

    counts: dict[str, int] = {}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for part in pool.map(count, [tables[i::workers] for i in range(workers)]):
            counts.update(part)
    return dict(sorted(counts.items()))


def snapshot_counts(endpoint: Any) -> tuple[str, dict[str, int]]:
    """A running node's row counts in a consistent snapshot, and the GTID position of that snapshot (its binary
    log coordinates at the snapshot's start)."""
    with connect(endpoint, timeout=10) as conn:
        execute(conn, "START TRANSACTION WITH CONSISTENT SNAPSHOT")
        try:
            return _snapshot_position(conn), table_counts(conn)
        finally:
            execute(conn, "COMMIT")


def _snapshot_position(conn: pymysql.connections.Connection) -> str:
    status = {r["Variable_name"]: r["Value"] for r in query(conn, "SHOW STATUS LIKE 'binlog_snapshot_%%'")}
    return str(query(conn, "SELECT BINLOG_GTID_POS(%s, %s) AS p", (
        status["Binlog_snapshot_file"], int(status["Binlog_snapshot_position"])))[0]["p"] or "")


def same_position(one: str, other: str) -> bool:
    """Whether two GTID positions name the same transactions (domain by domain)."""
    return _positions(one) == _positions(other)


def _positions(gtids: str) -> dict[str, str]:
    return {g.split("-")[0]: g for g in gtids.split(",") if g.strip().count("-") == 2}


def _stop_at(conn: pymysql.connections.Connection, target: str, name: str, timeout: float) -> None:
    """Replicates up to ``target`` and stops there (the replica is stopped and behind or at it)."""
    execute(conn, "STOP SLAVE")
    execute(conn, "START SLAVE UNTIL master_gtid_pos = %s", (target,))
    wanted = _positions(target)
    seen: dict[str, str] = {}

    def stopped() -> bool:
        status = query(conn, "SHOW SLAVE STATUS")[0]
        if status.get("Last_SQL_Error"):
            raise StopWaiting(f"{name}: replication stopped: {status['Last_SQL_Error']}")
        seen.update(sql=status["Slave_SQL_Running"], pos=variable(conn, "gtid_slave_pos"))
        reached = _positions(seen["pos"])
        return status["Slave_SQL_Running"] == "No" and all(reached.get(d) == g for d, g in wanted.items())

    try:
        wait_until(stopped, timeout=timeout, what=f"{name} to replicate up to GTID {target}")
    except StopWaiting as error:
        raise DataMismatch(str(error)) from None
    except TimeoutError as error:
        raise DataMismatch(f"{error} (replication applier running: {seen.get('sql')}, at GTID "
                           f"{seen.get('pos')})") from None


def verify(replica: dict[str, Any], source: dict[str, Any], primary: dict[str, Any],
           endpoint: Callable[[dict[str, Any]], Any], timeout: float) -> tuple[str, int]:
    """Raises ``DataMismatch`` naming the tables whose row counts differ; returns the GTID position compared at
    and the number of tables."""
    with connect(endpoint(replica), timeout=10) as new:
        execute(new, "SET SESSION sql_log_bin = 0")
        try:
            execute(new, "STOP SLAVE")
            if source["name"] == primary["name"]:
                with connect(endpoint(primary), timeout=10) as snap:
                    execute(snap, "START TRANSACTION WITH CONSISTENT SNAPSHOT")
                    target = _snapshot_position(snap)
                    _stop_at(new, target, replica["name"], timeout)
                    theirs, mine = _both(snap, new)
                    execute(snap, "COMMIT")
            else:
                with connect(endpoint(source), timeout=10) as src:
                    try:
                        execute(src, "STOP SLAVE")  # both stopped before the target is read: neither is past it
                        with connect(endpoint(primary), timeout=10) as conn:
                            target = variable(conn, "gtid_binlog_pos")
                        with ThreadPoolExecutor(max_workers=2) as pool:  # each on its own connection
                            stops = [pool.submit(_stop_at, src, target, source["name"], timeout),
                                     pool.submit(_stop_at, new, target, replica["name"], timeout)]
                            for stop in stops:
                                stop.result()
                        theirs, mine = _both(src, new)
                    finally:
                        execute(src, "START SLAVE")
        finally:
            execute(new, "START SLAVE")
    _compare(replica["name"], source["name"], target, theirs, mine)
    return target, len(theirs)


def verify_recorded(replica: dict[str, Any], source: str, counted: dict[str, Any],
                    endpoint: Callable[[dict[str, Any]], Any]) -> tuple[str, int] | None:
    """The quick check: the source's counts recorded at the copy (``counted``: gtid, tables) against the new
    replica's, if the replica, stopped, is exactly at that position; None when it is not (the cluster took
    writes since the copy: ``verify`` then holds both at one position)."""
    with connect(endpoint(replica), timeout=10) as new:
        execute(new, "SET SESSION sql_log_bin = 0")
        execute(new, "STOP SLAVE")
        try:
            if not same_position(variable(new, "gtid_slave_pos"), counted["gtid"]):
                return None
            mine = table_counts_parallel(endpoint(replica))
        finally:
            execute(new, "START SLAVE")
    _compare(replica["name"], source, counted["gtid"], counted["tables"], mine)
    return counted["gtid"], len(counted["tables"])


def _compare(replica: str, source: str, target: str, theirs: dict[str, int], mine: dict[str, int]) -> None:
    differ = [f"{t}: {theirs.get(t, 'no table')} rows on {source}, {mine.get(t, 'no table')} here"
              for t in sorted(set(theirs) | set(mine)) if theirs.get(t) != mine.get(t)]
    if differ:
        raise DataMismatch(f"{replica} does not hold the data of {source} at GTID {target}: "
                           + "; ".join(differ[:5]) + (f"; and {len(differ) - 5} more" if len(differ) > 5 else ""))


def _both(source: pymysql.connections.Connection,
          replica: pymysql.connections.Connection) -> tuple[dict[str, int], dict[str, int]]:
    """The row counts of both sides, counted at the same time (each on its own connection, held at the same GTID):
    a copy is checked in the time of the slower side, not of both."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        theirs = pool.submit(table_counts, source)
        mine = pool.submit(table_counts, replica)
        return theirs.result(), mine.result()


def verify_seeded(replicas: list[dict[str, Any]], primary: dict[str, Any], nodes: list[dict[str, Any]],
                  endpoint: Callable[[dict[str, Any]], Any], timeout: float) -> None:
    """Checks every replica whose copy has not been checked yet (its ``seed.json`` says so) against the node it
    was copied from (the primary when that node is gone), and records the result there."""
    from components.orchestrators.hosts import host_for
    from components.orchestrators.lifecycle import seed

    by_name = {n["name"]: n for n in nodes}
    for replica in replicas:
        with connect(endpoint(replica), timeout=10) as conn:
            node_dir = seed.node_dir_of(conn)
        host = host_for(replica.get("access"))
        record = seed.read_record(host, node_dir)
        if not record or record.get("verified"):
            continue
        source = by_name.get(record.get("source"), primary)
        if source["name"] == replica["name"]:
            source = primary
        counted = record.get("sourceCounts") if source["name"] == record.get("source") else None
        quick = verify_recorded(replica, source["name"], counted, endpoint) if counted else None
        target, tables = quick or verify(replica, source, primary, endpoint, timeout)
        seed.write_record(host, node_dir, {**record, "verified": True, "verifiedAt": target, "tables": tables})
        how = f"counted on {source['name']} during the copy" if quick else "both counted now"
        seed.append_log(host, node_dir, f"{replica['name']}: holds the data of {source['name']} at GTID {target} "
                        f"(row counts of {tables} table(s) equal, {how}); it may enter the read pool")
