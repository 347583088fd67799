"""sphinx.conf (Sphinx 2.2, Debian's ``sphinxsearch``): a source that reads one table of the cluster, an index
built from it by ``indexer``, and ``searchd`` listening for SphinxQL (the MySQL protocol, ``sphinxql``) and for
Sphinx's own API (``api``).

The source reads from a replica (the first one; the primary when the cluster has none), so that a full reindex
does not load the primary, with the kind's service account: ``SELECT`` on the indexed table only. The indexed
table is ``<database>.<table>`` (``indexTable``) with an unsigned integer ``id`` (the document id) and the text
columns ``indexFields``; the users step makes it on the primary when it does not exist. The index is named after
the table. ``indexer --rotate`` rebuilds it on every ``up`` while ``searchd`` serves the old one.

The file holds the service account's password (``sql_pass``), so it is written with ``FILE_MODE`` (0600) and kept
in state as a secret. Values are names, IP addresses, ports and absolute paths, each checked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath

from components.configurator import proxy_values as v
from components.configurator.placement import Placement, ServicePaths
from components.configurator.render import UnsafeValue, render_template

LISTENERS = ("sphinxql", "api")
CONFIG_FILE = "sphinx.conf"
FILE_MODE = 0o600
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
# sphinx.conf reads '#' as a comment and a trailing '\' as a line continuation.
_SECRET_FORBIDDEN = "#\\'\"`;"


@dataclass(frozen=True)
class SphinxPaths(ServicePaths):
    @property
    def index_dir(self) -> str:
        return str(PurePosixPath(self.dir) / "index")

    @property
    def log(self) -> str:
        return str(PurePosixPath(self.dir) / "searchd.log")


def sphinx_paths(placement: Placement) -> SphinxPaths:
    root = PurePosixPath(placement.dir)
    # searchd has no unix socket here; the field names its SphinxQL listener's log for uniformity.
    return SphinxPaths(config=str(root / CONFIG_FILE), pid_file=str(root / "searchd.pid"),
                       socket=str(root / "searchd.log"))


def split_table(table: str) -> tuple[str, str]:
    """``database.table`` -> (database, table), each an identifier (``UnsafeValue`` otherwise)."""
    parts = table.split(".") if isinstance(table, str) else []
    if len(parts) != 2 or not all(_IDENTIFIER.fullmatch(p) for p in parts):
        raise UnsafeValue(f"refusing to use {table!r} as the indexed table: <database>.<table>, letters, digits "
                          "and '_'")
    return parts[0], parts[1]


def index_name(table: str) -> str:
    return split_table(table)[1]


def backend_schema(table: str, fields: list[str]) -> list[str]:
    """The indexed table, made on the primary when it does not exist (an existing one is left as it is)."""
    database, name = split_table(table)
    _fields(fields)
    columns = ", ".join(["id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY", *(f"`{f}` TEXT" for f in fields)])
    return [f"CREATE DATABASE IF NOT EXISTS `{database}`",
            f"CREATE TABLE IF NOT EXISTS `{database}`.`{name}` ({columns}) ENGINE=InnoDB"]


def grants(table: str) -> tuple[str, ...]:
    database, name = split_table(table)
    return (f"SELECT ON `{database}`.`{name}`",)


def render_sphinx_conf(*, cluster: str, name: str, placement: Placement, source: v.Backend, user: str,
                       password: str, table: str, fields: list[str], memory_mb: int) -> str:
    """``source`` is the node the indexer reads from. Listeners bind the placement's ``bind`` address when it has
    one, else its host."""
    v.name("cluster", cluster)
    v.name("name", name)
    ports = v.listener_ports(placement, LISTENERS)
    (node,) = v.backends(source, [])
    v.account("source user", user)
    v.secret("source password", password, _SECRET_FORBIDDEN)
    database, table_name = split_table(table)
    _fields(fields)
    v.whole_number("memory (MB)", memory_mb, minimum=32)
    paths = sphinx_paths(placement)
    root = PurePosixPath(v.absolute_path("proxy directory", placement.dir))
    bind = placement.extra.get("bind") or placement.host
    return render_template(
        "sphinx.conf.j2",
        cluster=cluster,
        name=name,
        source=node,
        user=user,
        password=password,
        database=database,
        table=table_name,
        fields=fields,
        index=table_name,
        index_path=str(PurePosixPath(paths.index_dir) / table_name),
        mem_limit=f"{max(memory_mb // 4, 32)}M",
        listen={listener: v.host_port(bind, port) for listener, port in ports.items()},
        log=str(root / "searchd.log"),
        query_log=str(root / "query.log"),
        pid_file=paths.pid_file,
        binlog_path=str(root / "binlog"),
    )


def _fields(fields: list[str]) -> None:
    if not fields or not all(isinstance(f, str) and _IDENTIFIER.fullmatch(f) for f in fields) \
            or "id" in fields or len(set(fields)) != len(fields):
        raise UnsafeValue(f"refusing to index fields {fields!r}: one or more distinct column names (letters, "
                          "digits, '_'), not 'id'")
