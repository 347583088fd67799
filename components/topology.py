"""The replication topology: one primary, every other node a GTID replica of it, read-only.

The step diagnoses before it acts (as mysql-operator's diagnose does): it reads each node into a named state,
then does only what that state needs, so running it on a healthy cluster changes nothing and running it after
a partial failure finishes the job. ``read`` (refresh) reports which replicas really replicate, so a broken
replica shows up as drift and the next ``up`` repairs what can be repaired without touching data.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any


import pulumi
import pymysql
from pulumi.dynamic import CheckFailure, CreateResult, ReadResult, Resource, UpdateResult

from components.configurator.topologies import MULTI_SOURCE, attach_order
from components.datacheck import DataMismatch, verify_seeded
from components.dialect import Dialect
from components.dynamic import NO_ACTION, PlannedProvider, differs, is_known, names, resource_options

from components.orchestrators.lifecycle.mariadb import restrict_client_account
from components.sql import Endpoint, account_grants, connect, execute, query, quiet_session, quote_account, variable
from components.waiting import WaitTimeout, wait_until


class NodeState(str, Enum):
    UNREACHABLE = "unreachable"
    STANDALONE = "standalone"            # no replication configured
    REPLICATING = "replicating"          # from the intended primary, both threads running
    BROKEN = "broken"                    # from the intended primary, a thread stopped
    ELSEWHERE = "replicating-elsewhere"  # configured from another source
    ERRANT = "errant"                    # has transactions of its own that the primary does not have


@dataclass
class Diagnosis:
    name: str
    state: NodeState
    read_only: bool = False
    gtid_current_pos: str = ""
    error: str = ""
    errant: str = ""   # the GTIDs this node wrote itself (a replica should have none)


class TopologyError(RuntimeError):
    pass


def _endpoint(node: dict[str, Any], props: dict[str, Any]) -> Endpoint:
    """The node's unix socket as the OS account that runs it: the bootstrap steps need privileges (CHANGE MASTER,
    SET GLOBAL read_only, sql_log_bin and sql_log_off) that no network account has."""
    return Endpoint.admin_of_node(node, props["rootUser"], props["rootPassword"])


def _not_on_primary(own: str, primary: dict[str, Any], props: dict[str, Any], timeout: float) -> str:
    """The entries of ``own`` (a node's own GTIDs) that the primary has not applied: a former primary's own
    writes, replicated before a switchover, are on the new primary and are not errant. An unreachable primary
    leaves them all in doubt (returned)."""
    try:
        with connect(_endpoint(primary, props), timeout=timeout) as conn:
            return Dialect.of(props).not_applied(conn, own)
    except pymysql.MySQLError:
        return own


def diagnose(node: dict[str, Any], primary: dict[str, Any], props: dict[str, Any],
             timeout: float = 5.0, errant_check: bool = True) -> Diagnosis:
    """``node`` read against ``primary``, the source it should replicate from (``errant_check`` off: a node of a
    multi-source topology writes transactions of its own)."""
    dialect = Dialect.of(props)
    try:
        with connect(_endpoint(node, props), timeout=timeout) as conn:
            status = dialect.replica_status(conn)
            read_only = variable(conn, "read_only") == "1"
            current = dialect.current_position(conn)
            errant = dialect.own_transactions(conn)
    except pymysql.MySQLError as error:
        return Diagnosis(node["name"], NodeState.UNREACHABLE, error=str(error))
    if errant_check and node["name"] != primary["name"] and errant:
        errant = _not_on_primary(errant, primary, props, timeout)
        if errant:
            return Diagnosis(node["name"], NodeState.ERRANT, read_only, current, errant=errant)
    if status is None or not status.get("Master_Host"):
        return Diagnosis(node["name"], NodeState.STANDALONE, read_only, current)
    same_source = (status["Master_Host"], int(status["Master_Port"])) == (primary["host"], int(primary["port"]))
    if not same_source:
        return Diagnosis(node["name"], NodeState.ELSEWHERE, read_only, current)
    running = status["Slave_IO_Running"] == "Yes" and status["Slave_SQL_Running"] == "Yes"
    error = status.get("Last_SQL_Error") or status.get("Last_IO_Error") or ""
    return Diagnosis(node["name"], NodeState.REPLICATING if running else NodeState.BROKEN, read_only, current, error)


class ReplicationTopologyProvider(PlannedProvider):
    compared = ("nodes", "primary", "rootUser", "rootPassword", "replicationUser", "replicationPassword", "semiSync",
                "topology", "sources", "writable")

    # -- the plan (check) ------------------------------------------------------------------------------------
    def refuse(self, olds: dict[str, Any], news: dict[str, Any]) -> list[CheckFailure]:
        """A change that would remove the current primary, or switch over to a node made in the same change,
        is refused: the switchover needs the new primary to exist and to have caught up."""
        old_primary, new_primary = olds.get("primary"), news.get("primary")
        if not old_primary or not new_primary:
            return []
        refused = _refuse_topology_change(olds, news)
        if refused:
            return refused
        if not _names_known(news.get("nodes")):
            return []  # checked again when the update runs, with the names known
        old_nodes, new_nodes = _named(olds.get("nodes")), _named(news.get("nodes"))
        if old_primary not in new_nodes and old_primary == new_primary:
            return [CheckFailure("nodes", f"the change removes the primary {old_primary}; switch over to another "
                                 "node first (database.preferredPrimary), then remove it")]
        if old_primary != new_primary and new_primary not in old_nodes:
            return [CheckFailure("primary", f"{new_primary} would become the primary in the change that creates "
                                 "it; add the node first, then switch over to it")]
        if old_primary != new_primary and old_primary not in new_nodes:
            return [CheckFailure("nodes", f"the change removes {old_primary} while it is still the primary; switch "
                                 f"over to {new_primary} first, then remove {old_primary}")]
        return []

    def plan(self, olds: dict[str, Any], news: dict[str, Any]) -> str:
        primary = news["primary"]
        new_nodes = _named(news.get("nodes"))
        replicas = [name for name in new_nodes if name != primary]
        if not olds and news.get("topology"):
            return f"create: {news['topology']}: {_describe_links(news)}; wait until every node catches up"
        if not olds:
            return (f"create: {primary} is the primary; {names(replicas)} replicate from it with GTID, "
                    "read-only; wait until they catch up")
        old_nodes = _named(olds.get("nodes"))
        words = []
        if olds.get("primary") != primary:
            words.append(f"switchover {olds.get('primary')} → {primary}: {olds.get('primary')} turns read-only, "
                         f"{primary} catches up with its GTID position and is promoted, the others re-point to "
                         f"{primary}; writes fail only meanwhile")
        added = [n for n in new_nodes if n not in old_nodes]
        removed = [n for n in old_nodes if n not in new_nodes]
        if added:
            words.append(f"attach {names(added)} as replica(s) of {primary}, read-only, and wait until they "
                         "catch up")
        if removed:
            words.append(f"{names(removed)} leave(s) the topology: the proxies stop routing to it first, then it "
                         "stops and is removed")
        restarted = [n for n in new_nodes if n in old_nodes and differs(old_nodes[n].get("generation"),
                                                                        new_nodes[n].get("generation"))]
        if restarted:
            words.append(f"verify again that replication runs after {names(restarted)} (re)start(s)")
        if differs(olds.get("replicationPassword"), news.get("replicationPassword")) or \
                olds.get("replicationUser") != news.get("replicationUser"):
            words.append("re-key the replication account and reconnect the replicas")
        elif differs(olds.get("rootPassword"), news.get("rootPassword")) or \
                olds.get("rootUser") != news.get("rootUser"):
            words.append("check replication with the new root account")
        if olds.get("semiSync") != news.get("semiSync"):
            words.append(f"turn semi-synchronous replication {'on' if news.get('semiSync') else 'off'}")
        if not words and not is_known(news.get("nodes")):
            words.append("verify replication again: a node's address is known only once the update runs")
        if not words:
            words += self._repairs(olds, news)
        return "; ".join(words) or NO_ACTION

    def drifted(self, olds: dict[str, Any], news: dict[str, Any]) -> bool:
        """A replica found not replicating now needs the update, even when the same repair was planned last
        time."""
        return bool(self._repairs(olds, news))

    @staticmethod
    def _repairs(olds: dict[str, Any], news: dict[str, Any]) -> list[str]:
        """What a look at the live nodes finds to repair (a replica whose replication stopped), so the preview
        shows the repair that ``up`` will do even without a refresh. Never raises: a node that cannot be
        reached is named as such."""
        if not is_known(news.get("nodes")):
            return []
        try:
            broken: list[str] = []
            errant: list[str] = []
            look = {**news, "rootPassword": olds.get("rootPassword", "")}
            for node, primary in _links(news):
                state = diagnose(node, primary, look, timeout=2, errant_check=news.get("topology") not in MULTI_SOURCE)
                if state.state is NodeState.ERRANT:
                    errant.append(errant_message(node["name"], news["primary"], state.errant))
                elif state.state is not NodeState.REPLICATING:
                    broken.append(f"{node['name']} ({state.state.value})")
        except Exception:  # noqa: BLE001  (a look that fails must not fail the preview)
            return []
        words = [f"refuse: {message}" for message in errant]
        source = news["primary"] if not news.get("topology") else "its source"
        if broken:
            words.append(f"repair: {names(broken)} not replicating from {source}; replication is restarted")
        return words

    # -- the lifecycle ---------------------------------------------------------------------------------------
    def create(self, props: dict[str, Any]) -> CreateResult:
        if props.get("topology"):
            self._converge_links(props)
        else:
            self._converge(props)
        return CreateResult(id_=f"topology-{props['primary']}", outs=self._outs(props))

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        if olds.get("primary") and olds["primary"] != news["primary"]:
            self._switchover(olds, news)
        if news.get("topology"):
            self._converge_links(news)
        else:
            self._converge(news)
        return UpdateResult(outs=self._outs(news))

    def _switchover(self, olds: dict[str, Any], news: dict[str, Any]) -> None:
        """Demote, wait, promote: the old primary stops taking writes, the new one applies everything the old
        one wrote, then stops replicating and takes writes. If it cannot catch up in time, the old primary
        takes writes again and the update fails: no write is lost either way. Re-pointing the others is the
        ordinary convergence that follows."""
        old = next(n for n in news["nodes"] if n["name"] == olds["primary"])
        new = self._primary(news)
        dialect = Dialect.of(news)
        with connect(_endpoint(old, news)) as conn:
            execute(conn, "SET GLOBAL read_only = 1")
            target = dialect.position(conn)
        try:
            with connect(_endpoint(new, news), timeout=max(5, news["timeout"])) as conn:
                if not dialect.caught_up(conn, target, news["timeout"]):
                    raise TopologyError(f"switchover {old['name']} → {new['name']}: {new['name']} did not reach "
                                        f"GTID {target} within {news['timeout']} s; {old['name']} stays the primary")
                execute(conn, dialect.replica("stop"))
                execute(conn, dialect.replica("reset"))
                execute(conn, "SET GLOBAL read_only = 0")
        except Exception:
            with connect(_endpoint(old, news)) as conn:
                execute(conn, "SET GLOBAL read_only = 0")
            raise

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        check = props.get("topology") not in MULTI_SOURCE
        states = {n["name"]: diagnose(n, source, props, errant_check=check) for n, source in _links(props)}
        replicating = [name for name, state in states.items() if state.state is NodeState.REPLICATING]
        errant = {name: state.errant for name, state in states.items() if state.state is NodeState.ERRANT}
        return ReadResult(id_=id_, outs={**props, "replicating": replicating, "errant": errant})

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        """Nothing to undo: the servers themselves are removed after this, or keep their data as they are."""

    # -----------------------------------------------------------------------------------------------------
    @staticmethod
    def _primary(props: dict[str, Any]) -> dict[str, Any]:
        return next(n for n in props["nodes"] if n["name"] == props["primary"])

    @staticmethod
    def _replicas(props: dict[str, Any]) -> list[dict[str, Any]]:
        return [n for n in props["nodes"] if n["name"] != props["primary"]]

    def _outs(self, props: dict[str, Any]) -> dict[str, Any]:
        linked = [n["name"] for n, _ in _links(props)]
        return {**props, "replicas": [n["name"] for n in self._replicas(props)], "replicating": linked, "errant": {}}

    # -- the other topologies: each node attached to its own source -----------------------------------------
    def _converge_links(self, props: dict[str, Any]) -> None:
        """Every node with a source replicates from it (in the chain's order, so that the replication account,
        created on the primary and replicated, is on each source before its replica logs in), the nodes that
        take writes have read_only off and the others on; then every node catches up with every node's
        writes."""
        nodes = {n["name"]: n for n in props["nodes"]}
        primary = nodes[props["primary"]]
        multi = props["topology"] in MULTI_SOURCE
        if not multi:
            errant = [errant_message(n["name"], primary["name"], state.errant) for n in self._replicas(props)
                      if (state := diagnose(n, primary, props)).state is NodeState.ERRANT]
            if errant:
                raise TopologyError("; ".join(errant))
        self._prepare_source(primary, props)
        for name in attach_order(props["sources"], primary["name"], list(nodes)):
            self._link(nodes[name], nodes[props["sources"][name]], props, multi)
            self._wait_links(props, [nodes[name]])
        self._wait_links(props, list(nodes.values()))

    def _prepare_source(self, primary: dict[str, Any], props: dict[str, Any]) -> None:
        """The replication account, created on the primary (replicated, as a password hash), and read_only off
        there; unlike master-slave's primary, the primary of a ring or multi-master keeps its own source."""
        account = quote_account(props["replicationUser"], "%")
        identified, secret = Dialect.of(props).identified(props["replicationPassword"])
        try:
            with connect(_endpoint(primary, props)) as conn:
                quiet_session(conn, binlog=True)
                _restrict_root(conn, props)
                if not query(conn, "SELECT 1 FROM mysql.user WHERE user = %s AND host = '%%'",
                             (props["replicationUser"],)):
                    execute(conn, f"CREATE USER {account} {identified}", secret)
                elif not _can_login(primary, props["replicationUser"], props["replicationPassword"]):
                    execute(conn, f"ALTER USER {account} {identified}", secret)
                _grant_replication(conn, account, Dialect.of(props))
                if variable(conn, "read_only") == "1":
                    execute(conn, "SET GLOBAL read_only = 0")
        except pymysql.MySQLError as error:
            raise TopologyError(f"primary {primary['name']}: {error}") from None

    def _link(self, node: dict[str, Any], source: dict[str, Any], props: dict[str, Any], multi: bool) -> None:
        state = diagnose(node, source, props, errant_check=not multi)
        if state.state is NodeState.UNREACHABLE:
            raise TopologyError(f"{node['name']} is unreachable: {state.error}")
        read_only = node["name"] not in props["writable"]
        with connect(_endpoint(node, props)) as conn:
            # CHANGE MASTER carries the replication password: out of the general and slow logs.
            quiet_session(conn, binlog=False)
            _restrict_root(conn, props)
            if state.read_only != read_only:
                execute(conn, f"SET GLOBAL read_only = {int(read_only)}")
            if state.state is NodeState.REPLICATING:
                return
            if state.state is NodeState.BROKEN:
                execute(conn, "START SLAVE")
                return
            if state.state is NodeState.ELSEWHERE:
                execute(conn, "STOP SLAVE")
            account = (source["host"], int(source["port"]), props["replicationUser"], props["replicationPassword"])
            common = ("CHANGE MASTER TO MASTER_HOST = %s, MASTER_PORT = %s, MASTER_USER = %s, MASTER_PASSWORD = %s, "
                      "MASTER_CONNECT_RETRY = 2, ")
            if props["topology"] == "master-slave-no-gtid":
                # Positional: the source's current binary-log coordinates at attach time.
                with connect(_endpoint(source, props)) as src:
                    status = query(src, "SHOW MASTER STATUS")
                if not status:
                    raise TopologyError(f"{source['name']} has no binary log; {node['name']} cannot follow it")
                execute(conn, common + "MASTER_LOG_FILE = %s, MASTER_LOG_POS = %s, MASTER_USE_GTID = no",
                        (*account, status[0]["File"], int(status[0]["Position"])))
            else:
                if not state.gtid_current_pos:
                    self._check_primary_has_full_history(source, props, node["name"])
                else:
                    execute(conn, "SET GLOBAL gtid_slave_pos = @@gtid_current_pos")
                execute(conn, common + "MASTER_USE_GTID = slave_pos", account)
            execute(conn, "START SLAVE")

    def _wait_links(self, props: dict[str, Any], nodes: list[dict[str, Any]]) -> None:
        """Each of ``nodes`` replicates from its source (when it has one) and holds every GTID that every node
        has logged (a ring's or multi-master's writes of each node included)."""
        target: dict[str, int] = {}
        for node in props["nodes"]:
            with connect(_endpoint(node, props)) as conn:
                _merge_gtids(target, variable(conn, "gtid_binlog_pos"))
        by_name = {n["name"]: n for n in props["nodes"]}
        multi = props["topology"] in MULTI_SOURCE
        positional = props["topology"] == "master-slave-no-gtid"
        # Positional replicas start at their source's coordinates of the attach, without its earlier GTIDs: they
        # are in sync when they have executed up to the source's current coordinates.
        coordinates: dict[str, tuple[str, int]] = {}
        if positional:
            for name in {props["sources"].get(n["name"]) for n in nodes} - {None}:
                with connect(_endpoint(by_name[name], props)) as conn:
                    status = query(conn, "SHOW MASTER STATUS")
                coordinates[name] = (status[0]["File"], int(status[0]["Position"])) if status else ("", 0)
        for node in nodes:
            last: dict[str, Any] = {}
            source = by_name.get(props["sources"].get(node["name"], ""))

            def in_sync(node: dict[str, Any] = node, source: dict[str, Any] | None = source,
                        last: dict[str, Any] = last) -> bool:
                if source is not None:
                    state = last["state"] = diagnose(node, source, props, errant_check=not multi)
                    if state.state is not NodeState.REPLICATING:
                        return False
                with connect(_endpoint(node, props)) as conn:
                    if positional and source is not None:
                        status = Dialect().replica_status(conn) or {}
                        return (status.get("Relay_Master_Log_File"), int(status.get("Exec_Master_Log_Pos") or 0)) \
                            >= coordinates[source["name"]]
                    have: dict[str, int] = {}
                    _merge_gtids(have, variable(conn, "gtid_binlog_pos"))
                    _merge_gtids(have, variable(conn, "gtid_slave_pos"))
                return all(have.get(domain, -1) >= seq for domain, seq in target.items())

            try:
                wait_until(in_sync, timeout=props["timeout"],
                           what=f"{node['name']} to replicate from {source['name'] if source else 'its replicas'} "
                           f"up to GTID {_gtid_text(target)}")
            except WaitTimeout as error:
                state = last.get("state")
                detail = f" (state {state.state.value}{': ' + state.error if state.error else ''})" if state else ""
                raise TopologyError(f"{error}{detail}") from None

    def _converge(self, props: dict[str, Any]) -> None:
        primary = self._primary(props)
        errant = [errant_message(n["name"], primary["name"], state.errant) for n in self._replicas(props)
                  if (state := diagnose(n, primary, props)).state is NodeState.ERRANT]
        if errant:
            raise TopologyError("; ".join(errant))
        self._prepare_primary(primary, props)
        for replica in self._replicas(props):
            self._attach_replica(replica, primary, props)
        self._wait_in_sync(primary, props)
        try:  # a replica seeded from a copy holds the data before the proxies route reads to it
            verify_seeded(self._replicas(props), primary, props["nodes"], lambda n: _endpoint(n, props),
                          props["timeout"])
        except DataMismatch as error:
            raise TopologyError(str(error)) from None

    def _prepare_primary(self, primary: dict[str, Any], props: dict[str, Any]) -> None:
        state = diagnose(primary, primary, props)
        if state.state is NodeState.UNREACHABLE:
            raise TopologyError(f"primary {primary['name']} is unreachable: {state.error}")
        account = quote_account(props["replicationUser"], "%")
        dialect = Dialect.of(props)
        identified, secret = dialect.identified(props["replicationPassword"])
        with connect(_endpoint(primary, props)) as conn:
            # Replicated (so the replicas get the account), with the password's hash only.
            quiet_session(conn, binlog=True)
            if state.state is not NodeState.STANDALONE:
                execute(conn, dialect.replica("stop"))
                execute(conn, dialect.replica("reset"))
            if not query(conn, "SELECT 1 FROM mysql.user WHERE user = %s AND host = '%%'",
                         (props["replicationUser"],)):
                execute(conn, f"CREATE USER {account} {identified}", secret)
            elif not _can_login(primary, props["replicationUser"], props["replicationPassword"]):
                execute(conn, f"ALTER USER {account} {identified}", secret)
            _grant_replication(conn, account, dialect)
            if props.get("semiSync"):
                execute(conn, f"SET GLOBAL {dialect.semi_sync('source')} = 1")
            if state.read_only:
                execute(conn, "SET GLOBAL read_only = 0")
            _restrict_root(conn, props)

    def _attach_replica(self, replica: dict[str, Any], primary: dict[str, Any], props: dict[str, Any]) -> None:
        state = diagnose(replica, primary, props)
        if state.state is NodeState.UNREACHABLE:
            raise TopologyError(f"replica {replica['name']} is unreachable: {state.error}")
        dialect = Dialect.of(props)
        with connect(_endpoint(replica, props)) as conn:
            # CHANGE MASTER carries the replication password: out of the general and slow logs.
            quiet_session(conn, binlog=False)
            _restrict_root(conn, props)
            if not state.read_only:
                execute(conn, "SET GLOBAL read_only = 1")
            if props.get("semiSync"):
                execute(conn, f"SET GLOBAL {dialect.semi_sync('replica')} = 1")
            if state.state is NodeState.REPLICATING:
                return
            if state.state is NodeState.BROKEN:
                execute(conn, dialect.replica("start"))
                return
            if state.state is NodeState.ELSEWHERE:
                execute(conn, dialect.replica("stop"))
            elif not state.gtid_current_pos:
                self._check_primary_has_full_history(primary, props, replica["name"])
            else:
                # A node with history of its own continues from it, not from the primary's first event;
                # with gtid_strict_mode, anything it has that the primary lacks stops replication with an error.
                dialect.start_from_own_history(conn)
            change = dialect.change_source(host=primary["host"], port=int(primary["port"]),
                                           user=props["replicationUser"], password=props["replicationPassword"])
            execute(conn, change.sql, change.params)
            execute(conn, dialect.replica("start"))

    def _check_primary_has_full_history(self, primary: dict[str, Any], props: dict[str, Any], replica: str) -> None:
        """An empty replica can start from the primary's first binary log only if that log starts at the
        beginning of the GTID history; otherwise it must be seeded from a copy of the primary."""
        with connect(_endpoint(primary, props)) as conn:
            if not query(conn, "SHOW BINARY LOGS"):
                raise TopologyError(f"primary {primary['name']} has no binary log; replica {replica} cannot follow it")
            start = Dialect.of(props).missing_history(conn)
        if start:
            raise TopologyError(f"replica {replica} is empty and primary {primary['name']} no longer has its binary "
                                f"logs from the start (first log begins at GTID {start}); seed the replica from a "
                                "copy of the primary")

    def _wait_in_sync(self, primary: dict[str, Any], props: dict[str, Any]) -> None:
        dialect = Dialect.of(props)
        with connect(_endpoint(primary, props)) as conn:
            target = dialect.position(conn)
        for replica in self._replicas(props):
            last: dict[str, Diagnosis] = {}

            def in_sync(replica: dict[str, Any] = replica, last: dict[str, Diagnosis] = last) -> bool:
                state = last["state"] = diagnose(replica, primary, props)
                if state.state is not NodeState.REPLICATING:
                    return False
                with connect(_endpoint(replica, props)) as conn:
                    return dialect.caught_up(conn, target)

            try:
                wait_until(in_sync, timeout=props["timeout"],
                           what=f"replica {replica['name']} to replicate from {primary['name']} up to GTID {target}")
            except WaitTimeout as error:
                state = last.get("state")
                detail = f" (state {state.state.value}{': ' + state.error if state and state.error else ''})" \
                    if state else ""
                raise TopologyError(f"{error}{detail}") from None


def _links(props: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(node, the node it replicates from) for every node that replicates."""
    nodes = {n["name"]: n for n in props["nodes"]}
    if not props.get("topology"):
        return [(n, nodes[props["primary"]]) for n in props["nodes"] if n["name"] != props["primary"]]
    return [(nodes[name], nodes[source]) for name, source in props["sources"].items()
            if name in nodes and source in nodes]


def _describe_links(props: dict[str, Any]) -> str:
    how = "by binary-log file and position" if props.get("topology") == "master-slave-no-gtid" else "with GTID"
    links = ", ".join(f"{name} ← {source}" for name, source in props.get("sources", {}).items())
    return f"{links} ({how}); {names(list(props.get('writable') or []))} take(s) writes, the others are read-only"


def _refuse_topology_change(olds: dict[str, Any], news: dict[str, Any]) -> list[CheckFailure]:
    """What the other topologies cannot do on a running cluster (yet): change topology, switch over, change the
    node count."""
    old_topology, new_topology = olds.get("topology") or "master-slave", news.get("topology") or "master-slave"
    if old_topology != new_topology:
        return [CheckFailure("topology", f"bootstrap.topology {old_topology} → {new_topology} on a running cluster "
                             "is not supported; allowed: the topology the cluster was created with (create a new "
                             "stack for another)")]
    if new_topology == "master-slave":
        return []
    if olds.get("primary") != news.get("primary"):
        return [CheckFailure("primary", f"database.preferredPrimary {olds.get('primary')} → {news.get('primary')}: "
                             f"a switchover is supported on the master-slave topology only, not {new_topology}; "
                             f"allowed: {olds.get('primary')}")]
    if _names_known(news.get("nodes")) and set(_named(olds.get("nodes"))) != set(_named(news.get("nodes"))):
        return [CheckFailure("nodes", f"database.nodes: adding or removing nodes of a {new_topology} topology is not "
                             "supported yet; allowed: the node count the cluster was created with")]
    return []


def _merge_gtids(into: dict[str, int], position: str) -> None:
    """Fold a GTID position (domain-server-sequence, comma-separated) into the highest sequence per domain."""
    for gtid in position.split(","):
        parts = gtid.strip().split("-")
        if len(parts) == 3 and all(p.isdigit() for p in parts):
            into[parts[0]] = max(into.get(parts[0], -1), int(parts[2]))


def _gtid_text(position: dict[str, int]) -> str:
    return ",".join(f"{domain}-*-{seq}" for domain, seq in sorted(position.items())) or "(none)"


def variable_session(conn: pymysql.connections.Connection, name: str) -> str:
    return str(query(conn, f"SELECT @@SESSION.{name} AS v")[0]["v"])


def errant_message(replica: str, primary: str, gtids: str) -> str:
    """What an errant replica is and what the user can do; replstack does not discard data on its own."""
    return (f"replica {replica} has transactions that primary {primary} does not have (errant GTID {gtids}): "
            f"something wrote to it directly. Inspect them on {replica} with SHOW BINLOG EVENTS (or mariadb-binlog "
            f"on its data/mariadb-bin.* files, looking for GTID {gtids}); then re-seed it from the primary: stop it "
            f"(kill the pid in {replica}/mariadbd.pid of the cluster directory), remove {replica}/data, and run "
            "scripts/pulumi up --refresh: the node is installed empty and copies the primary")


def _restrict_root(conn: pymysql.connections.Connection, props: dict[str, Any]) -> None:
    """On every node, outside the binary log: the network root account cannot bypass read_only (an account of an
    earlier version had ALL)."""
    logged = variable_session(conn, "sql_log_bin")
    execute(conn, "SET SESSION sql_log_bin = 0")
    try:
        restrict_client_account(conn, props["rootUser"], "%", Dialect.of(props))
    finally:
        execute(conn, "SET SESSION sql_log_bin = %s", (int(logged),))


def _grant_replication(conn: pymysql.connections.Connection, account: str, dialect: Dialect) -> None:
    """The replication account's privileges, granted only when it lacks them: a GRANT is a transaction of the
    binary log even when it changes nothing, and a run that changes nothing should log nothing (a new replica's
    quick data check needs the cluster's position to stay where the copy was taken)."""
    have = account_grants(conn, account)
    wanted = dialect.replication_grant(account).split(" ON ", 1)[0].removeprefix("GRANT ")
    if not all(privilege.strip() in have for privilege in wanted.split(",")):
        execute(conn, dialect.replication_grant(account))


def _can_login(node: dict[str, Any], user: str, password: str) -> bool:
    try:
        with connect(Endpoint.of_node(node, user, password), timeout=3):
            return True
    except pymysql.MySQLError:
        return False


def _names_known(nodes: Any) -> bool:
    return isinstance(nodes, list) and all(isinstance(n, dict) and is_known(n.get("name")) for n in nodes)


def _named(nodes: Any) -> dict[str, dict[str, Any]]:
    """The nodes by name; during a preview a node's address or generation may be unknown, its name is not."""
    if not isinstance(nodes, list):
        return {}
    return {n["name"]: n for n in nodes if isinstance(n, dict) and is_known(n.get("name"))}


class ReplicationTopology(Resource, module="replstack/bootstrap", name="ReplicationTopology"):
    """The replication step: one primary, every other node a read-only GTID replica of it."""

    replicas: pulumi.Output[list]
    replicating: pulumi.Output[list]

    def __init__(self, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions | None = None):
        super().__init__(ReplicationTopologyProvider(), name, {**props, "replicas": None, "replicating": None},
                         resource_options(opts, secret_outputs=["rootPassword", "replicationPassword"]))
