"""ProxySQL, MaxScale and MySQL Router: rendered and checked everywhere; run by the local backend when their binary
is installed (found on PATH at preview time; otherwise the preview fails naming the binary). Each runs in the
foreground from its one file (``lifecycle.daemon``) and is restarted for a new config. The proxy-sync step waits
until its SQL listener accepts connections (their own routing readers, ``proxysql_admin`` and ``maxscale_rest``,
read a live proxy's view where one runs)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, Mapping

from components.configurator import maxscale, mysqlrouter, proxysql
from components.configurator.placement import Placement, ServicePaths
from components.configurator.proxy_values import Backend
from components.proxies.kinds import Account, ProxyKind, RenderContext, tcp_answers

MONITOR_GRANTS = ("BINLOG MONITOR, SLAVE MONITOR ON *.*",)
# What MaxScale's service account reads to authenticate clients (MaxScale's documented grants).
MAXSCALE_SERVICE_GRANTS = tuple(f"SELECT ON mysql.{t}" for t in (
    "user", "db", "tables_priv", "columns_priv", "procs_priv", "proxies_priv", "roles_mapping")) + (
        "SHOW DATABASES ON *.*",)


def _backends(ctx: RenderContext) -> tuple[Backend, list[Backend]]:
    return (Backend(ctx.primary.name, ctx.primary.host, ctx.primary.port),
            [Backend(r.name, r.host, r.port) for r in ctx.replicas])


@dataclass(frozen=True)
class RenderedKind(ProxyKind):
    binary: str = ""
    config_file: str = ""
    mode: int = 0o600
    sql_listener: str = "write"

    def paths(self, placement: Placement) -> ServicePaths:
        root = PurePosixPath(placement.dir)
        return ServicePaths(config=str(root / self.config_file), pid_file=str(root / f"{self.binary}.pid"),
                            socket=str(root / f"{self.binary}.out"))

    def local_binaries(self, local: Any) -> dict[str, str]:
        return {self.binary: shutil.which(self.binary) or f"/usr/bin/{self.binary}"}

    def lifecycle(self, host: Any, props: Mapping[str, Any]) -> Any:
        from components.orchestrators.lifecycle.daemon import ForegroundDaemon

        placement = Placement.from_output(props["placement"])
        paths = self.paths(placement)
        root = PurePosixPath(placement.dir)
        binary = props["binaries"][self.binary]
        argv, dirs = {
            "proxysql": ([binary, "--foreground", "--initial", "-c", paths.config, "-D", str(root / "data")],
                         [str(root / "data")]),
            "maxscale": ([binary, "--nodaemon", f"--config={paths.config}"],
                         [str(root / d) for d in ("log", "data", "cache", "run", "persist", "binlogs")]),
            "mysqlrouter": ([binary, "-c", paths.config], [str(root / d) for d in ("log", "run", "data")]),
        }[self.binary]
        return ForegroundDaemon(host, paths, props["binaries"], argv, self.mode, dirs)

    def sync_entry(self, placement: Placement) -> dict[str, Any]:
        return {"host": placement.host, "port": placement.ports[self.sql_listener]}

    def routing_gaps(self, host: Any, entry: Mapping[str, Any], primary: str, readers: list[str]) -> list[str]:
        if tcp_answers(entry["host"], entry["port"]):
            return []
        return [f"{self.label} listener {entry['host']}:{entry['port']} not answering"]


class ProxySQLKind(RenderedKind):
    def accounts(self, proxy: Any, boot: Any) -> list[Account]:
        return [Account("monitor", "replstack_proxysql_mon", MONITOR_GRANTS)]

    def render_config(self, ctx: RenderContext, secrets: Mapping[str, str]) -> str:
        primary, replicas = _backends(ctx)
        return proxysql.render_proxysql_cnf(
            cluster=ctx.cluster, name=ctx.proxy.name or "", placement=ctx.placement, primary=primary,
            replicas=replicas, admin_user="replstack_admin", admin_password=secrets["admin"],
            monitor_user="replstack_proxysql_mon", monitor_password=secrets["monitor"],
            app_user=ctx.bootstrap.root_user, app_password=secrets["root"],
            max_lag=max(ctx.bootstrap.max_replica_lag, 1), threads=max(ctx.proxy.cores, 1))


class MaxScaleKind(RenderedKind):
    def accounts(self, proxy: Any, boot: Any) -> list[Account]:
        return [Account("monitor", "replstack_maxscale_mon", MONITOR_GRANTS),
                Account("service", "replstack_maxscale", MAXSCALE_SERVICE_GRANTS)]

    def render_config(self, ctx: RenderContext, secrets: Mapping[str, str]) -> str:
        primary, replicas = _backends(ctx)
        return maxscale.render_maxscale_cnf(
            cluster=ctx.cluster, name=ctx.proxy.name or "", placement=ctx.placement, primary=primary,
            replicas=replicas, monitor_user="replstack_maxscale_mon", monitor_password=secrets["monitor"],
            service_user="replstack_maxscale", service_password=secrets["service"],
            max_lag=max(ctx.bootstrap.max_replica_lag, 1))


class RouterKind(RenderedKind):
    def render_config(self, ctx: RenderContext, secrets: Mapping[str, str]) -> str:
        primary, replicas = _backends(ctx)
        return mysqlrouter.render_mysqlrouter_conf(cluster=ctx.cluster, name=ctx.proxy.name or "",
                                                   placement=ctx.placement, primary=primary, replicas=replicas)


PROXYSQL = ProxySQLKind(name="proxysql", label="ProxySQL", resource_type="ProxySQL", listeners=proxysql.LISTENERS,
                        write_listener="sql", read_listener="sql", config_has_secrets=True,
                        packages={"proxysql": "proxysql"}, binary="proxysql", config_file=proxysql.CONFIG_FILE,
                        mode=proxysql.FILE_MODE, sql_listener="sql", local_secrets=("admin",))
MAXSCALE = MaxScaleKind(name="maxscale", label="MaxScale", resource_type="MaxScale",
                        listeners=maxscale.listener_names(), write_listener="write", read_listener="read",
                        config_has_secrets=True, packages={"maxscale": "maxscale"}, binary="maxscale",
                        config_file=maxscale.CONFIG_FILE, mode=maxscale.FILE_MODE)
MYSQLROUTER = RouterKind(name="mysqlrouter", label="MySQL Router", resource_type="MySQLRouter",
                         listeners=mysqlrouter.LISTENERS, write_listener="write", read_listener="read",
                         packages={"mysqlrouter": "mysql-router"}, binary="mysqlrouter",
                         config_file=mysqlrouter.CONFIG_FILE, mode=mysqlrouter.FILE_MODE)
