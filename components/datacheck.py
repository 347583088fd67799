"""Does a replica seeded from a copy hold the data? Row counts of every table, on the new replica and on the node
it was copied from, both at one GTID position, before the new replica enters the proxies' read pool.

How both get to one position while the primary keeps taking writes: the new replica stops replicating first.
With a replica as the source, the target is the primary's position read then; both replicas replicate up to it
(``START SLAVE UNTIL master_gtid_pos``), are counted (both at once), and replicate again. With the primary as the source, a
consistent snapshot on the primary gives the position (its binary log coordinates at the snapshot); the new
replica replicates up to it and is counted while the primary counts inside the snapshot.
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


def table_counts(conn: pymysql.connections.Connection) -> dict[str, int]:
    tables = query(conn, "SELECT TABLE_SCHEMA AS s, TABLE_NAME AS t FROM information_schema.TABLES WHERE "
                         "TABLE_TYPE = 'BASE TABLE' AND TABLE_SCHEMA NOT IN %s ORDER BY 1, 2", (SYSTEM_SCHEMAS,))
    counts = {}
    for row in tables:
        name = f"`{row['s'].replace('`', '``')}`.`{row['t'].replace('`', '``')}`"
        counts[f"{row['s']}.{row['t']}"] = int(query(conn, f"SELECT COUNT(*) AS n FROM {name}")[0]["n"])
    return counts


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
                    status = {r["Variable_name"]: r["Value"] for r in
                              query(snap, "SHOW STATUS LIKE 'binlog_snapshot_%%'")}
                    target = str(query(snap, "SELECT BINLOG_GTID_POS(%s, %s) AS p", (
                        status["Binlog_snapshot_file"], int(status["Binlog_snapshot_position"])))[0]["p"] or "")
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
    differ = [f"{t}: {theirs.get(t, 'no table')} rows on {source['name']}, {mine.get(t, 'no table')} here"
              for t in sorted(set(theirs) | set(mine)) if theirs.get(t) != mine.get(t)]
    if differ:
        raise DataMismatch(f"{replica['name']} does not hold the data of {source['name']} at GTID {target}: "
                           + "; ".join(differ[:5]) + (f"; and {len(differ) - 5} more" if len(differ) > 5 else ""))
    return target, len(theirs)


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
        target, tables = verify(replica, source, primary, endpoint, timeout)
        seed.write_record(host, node_dir, {**record, "verified": True, "verifiedAt": target, "tables": tables})
        seed.append_log(host, node_dir, f"{replica['name']}: holds the data of {source['name']} at GTID {target} "
                        f"(row counts of {tables} table(s) equal); it may enter the read pool")
