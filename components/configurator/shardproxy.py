"""ShardProxy: a MariaDB server whose one table is a Spider table spread over shards.

Where the shards are. A replicated cluster has one server that takes writes (the primary); its replicas are
read-only copies of everything it holds. A shard on a replica could not be written (read_only), and rows written
there would be outside replication (errant transactions that break the next switchover). So every shard lives on
the cluster's primary, in a database of its own (``replstack_shard1`` ... ``replstack_shardN``), and replication
copies each shard to every replica like any other data. The ShardProxy has one Spider server per shard
(``shard1`` ... ``shardN``, ``CREATE SERVER``), each pointing at the primary's address and its shard's database,
and one Spider table, ``replstack_shard.items``, partitioned by ``HASH(id)`` over them: a row with key ``id`` goes
to shard ``id MOD N + 1``. Moving a shard to another cluster is re-pointing its server; a switchover re-points
them all (the servers are re-created whenever the primary moves).

Two files: ``my.cnf`` (no secret: the Spider node's own server; the Spider plugin is installed over SQL, since
``mariadb-install-db`` cannot bootstrap a datadir with it loaded) and ``setup.sql`` (mode 0600, it holds the shard
account's password in ``CREATE SERVER``), which the lifecycle runs over the node's unix socket after every start.
The backend side (the shard databases and tables, and the shard account) is made on the primary by the users step
from ``backend_schema`` and the kind's account.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

from components.configurator import proxy_values as v
from components.configurator.placement import Placement, ServicePaths, socket_path
from components.configurator.render import UnsafeValue, render_template

LISTENERS = ("sql",)
CONFIG_FILE, SETUP_FILE = "my.cnf", "setup.sql"
FILE_MODES = {SETUP_FILE: 0o600}
SHARD_DATABASE = "replstack_shard{n}"   # on the primary, one per shard
SERVER_NAME = "shard{n}"                # the Spider server of shard n
SPIDER_DATABASE, TABLE = "replstack_shard", "items"
# The table as the application sees it and as each shard holds it.
COLUMNS = "id BIGINT NOT NULL PRIMARY KEY, payload VARCHAR(255)"
# The shard account's privileges: rows only, on the shard databases only ('\_' is a literal '_').
SHARD_GRANTS = ("SELECT, INSERT, UPDATE, DELETE ON `replstack\\_shard%`.*",)
_SQL_SECRET_FORBIDDEN = "'\"\\`;#"


@dataclass(frozen=True)
class ShardProxyPaths(ServicePaths):
    datadir: str
    log_error: str
    tmpdir: str

    @property
    def setup(self) -> str:
        return str(PurePosixPath(self.dir) / SETUP_FILE)


def shardproxy_paths(placement: Placement) -> ShardProxyPaths:
    root = PurePosixPath(placement.dir)
    return ShardProxyPaths(config=str(root / CONFIG_FILE), pid_file=str(root / "mariadbd.pid"),
                           socket=socket_path(placement.dir, "mariadbd.sock"), datadir=str(root / "data"),
                           log_error=str(root / "error.log"), tmpdir=str(root / "tmp"))


def shard_of(key: int, shards: int) -> int:
    """The shard (1-based) a row with this key lands on: Spider's ``PARTITION BY HASH(id)``."""
    return key % shards + 1


def backend_schema(shards: int) -> list[str]:
    """What the primary must hold (run there as root, replicated): one database and table per shard. Idempotent."""
    _shard_count(shards)
    statements = []
    for n in range(1, shards + 1):
        database = SHARD_DATABASE.format(n=n)
        statements.append(f"CREATE DATABASE IF NOT EXISTS `{database}`")
        statements.append(f"CREATE TABLE IF NOT EXISTS `{database}`.`{TABLE}` ({COLUMNS}) ENGINE=InnoDB")
    return statements


def render_my_cnf(*, cluster: str, name: str, placement: Placement, memory_mb: int, run_as_root: bool) -> str:
    """The Spider node's server: its own datadir, no binary log (it holds no data of its own), a buffer pool of a
    quarter of the proxy's memory."""
    v.name("cluster", cluster)
    v.name("name", name)
    (port,) = v.listener_ports(placement, LISTENERS).values()
    paths = shardproxy_paths(placement)
    for what, path in [("config", paths.config), ("socket", paths.socket), ("datadir", paths.datadir)]:
        v.absolute_path(what, path)
    v.whole_number("memory (MB)", memory_mb, minimum=32)
    settings = {
        "port": str(port),
        "bind_address": v.ip_address("bind address", placement.extra.get("bind") or placement.host),
        "socket": paths.socket,
        "datadir": paths.datadir,
        "pid_file": paths.pid_file,
        "log_error": paths.log_error,
        "tmpdir": paths.tmpdir,
        "secure_file_priv": paths.tmpdir,
        "skip_name_resolve": "ON",
        "innodb_buffer_pool_size": f"{max(memory_mb // 4, 8)}M",
        # Spider opens one connection per shard and client session.
        "max_connections": "500",
    }
    if run_as_root:
        settings["user"] = "root"
    return render_template("shardproxy.cnf.j2", cluster=cluster, name=name, path=paths.config, port=port,
                           socket=paths.socket, settings=settings)


def render_setup_sql(*, cluster: str, name: str, primary: v.Backend, shards: int, shard_user: str,
                     shard_password: str) -> str:
    """The Spider plugin, one server per shard (all on the primary's address), and the sharded table. Run after
    every start: servers are re-created (a moved primary, a re-keyed account), the table re-made (it holds no rows:
    they are on the shards)."""
    v.name("cluster", cluster)
    v.name("name", name)
    _shard_count(shards)
    (head,) = v.backends(primary, [])
    v.account("shard user", shard_user)
    v.secret("shard account password", shard_password, _SQL_SECRET_FORBIDDEN)
    servers = [{"name": SERVER_NAME.format(n=n), "database": SHARD_DATABASE.format(n=n)} for n in range(1, shards + 1)]
    return render_template("shardproxy-setup.sql.j2", cluster=cluster, name=name, primary=head, servers=servers,
                           user=shard_user, password=shard_password, database=SPIDER_DATABASE, table=TABLE,
                           columns=COLUMNS)


def statements(setup_sql: str) -> list[str]:
    """The statements of a rendered ``setup.sql``: one per line ending with ';', comments skipped."""
    out, current = [], []
    for line in setup_sql.splitlines():
        if not line.strip() or line.lstrip().startswith("--"):
            continue
        current.append(line.strip())
        if line.rstrip().endswith(";"):
            out.append(" ".join(current)[:-1])
            current = []
    if current:
        raise UnsafeValue("setup.sql ends inside a statement")
    return out


def _shard_count(shards: int) -> None:
    if not (isinstance(shards, int) and 1 <= shards <= 64):
        raise UnsafeValue(f"refusing to render {shards!r} shards: 1 to 64")


