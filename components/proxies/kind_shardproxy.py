"""ShardProxy: MariaDB with Spider (Debian's ``mariadb-plugin-spider``). One Spider server per shard, every shard a
database of its own on the cluster's primary (see ``configurator.shardproxy`` for why), and the sharded table
``replstack_shard.items`` spread over them by ``HASH(id)``. Clients log in with the cluster's administrative
account; the Spider servers log in to the primary with the kind's shard account."""

from __future__ import annotations

from typing import Any, Mapping

from components.configurator import shardproxy as render
from components.configurator.proxy_values import Backend
from components.configurator.placement import Placement
from components.proxies.kinds import Account, ProxyKind, RenderContext

SHARD_USER = "replstack_shard"


class ShardProxyKind(ProxyKind):
    def accounts(self, proxy: Any, boot: Any) -> list[Account]:
        return [Account("shard", SHARD_USER, render.SHARD_GRANTS)]

    def schema(self, proxy: Any) -> list[str]:
        return render.backend_schema(proxy.shards)

    def render_config(self, ctx: RenderContext, secrets: Mapping[str, str]) -> str:
        return render.render_my_cnf(cluster=ctx.cluster, name=ctx.proxy.name or "", placement=ctx.placement,
                                    memory_mb=ctx.proxy.memory, run_as_root=ctx.run_as_root)

    def render_files(self, ctx: RenderContext, secrets: Mapping[str, str]) -> dict[str, str]:
        primary = Backend(ctx.primary.name, ctx.primary.host, ctx.primary.port)
        return {render.SETUP_FILE: render.render_setup_sql(
            cluster=ctx.cluster, name=ctx.proxy.name or "", primary=primary, shards=ctx.proxy.shards,
            shard_user=SHARD_USER, shard_password=secrets["shard"])}

    def local_binaries(self, local: Any) -> dict[str, str]:
        return {"server": f"{local.mariadb_bin_dir}/mariadbd", "install_db": f"{local.client_bin_dir}/mariadb-install-db"}

    def resource_inputs(self, root_user: str, root_password: Any) -> dict[str, Any]:
        return {"rootUser": root_user, "rootPassword": root_password}

    def lifecycle(self, host: Any, props: Mapping[str, Any]) -> Any:
        from components.orchestrators.lifecycle.shardproxy import ShardProxyServer

        return ShardProxyServer(host, render.shardproxy_paths(Placement.from_output(props["placement"])),
                                props["binaries"], props["rootUser"], props["rootPassword"])

    def sync_entry(self, placement: Placement) -> dict[str, Any]:
        return {"socket": render.shardproxy_paths(placement).socket}

    def routing_gaps(self, host: Any, entry: Mapping[str, Any], primary: str, readers: list[str]) -> list[str]:
        """Every shard answers through its Spider server: a count over the sharded table reads them all."""
        from components.orchestrators.hosts import os_user_of
        from components.sql import Endpoint, connect, query

        endpoint = Endpoint(host="localhost", port=0, user=os_user_of(host), unix_socket=entry["socket"],
                            access=entry.get("access"))
        try:
            with connect(endpoint, timeout=3) as conn:
                query(conn, f"SELECT COUNT(*) AS n FROM `{render.SPIDER_DATABASE}`.`{render.TABLE}`")
        except Exception as error:  # noqa: BLE001  (what it saw, in words)
            return [f"shards through {primary} not answering ({str(error)[:160]})"]
        return []

    def describe_routes(self, routes: Mapping[str, list[str]]) -> str:
        return f"start MariaDB with Spider: shards of {render.SPIDER_DATABASE}.{render.TABLE} on " \
               f"{', '.join(routes.get('write', []))}"


KIND = ShardProxyKind(name="shardproxy", label="ShardProxy", resource_type="ShardProxy", listeners=render.LISTENERS,
                      write_listener="sql", read_listener="sql", has_files=True,
                      packages={"server": "mariadb-server", "install_db": "mariadb-server"})
