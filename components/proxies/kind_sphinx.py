"""Sphinx: ``searchd`` serving one index of a cluster table (SphinxQL and API listeners), built by ``indexer`` from
a replica with the kind's read-only account, and rebuilt on every ``up``."""

from __future__ import annotations

from typing import Any, Mapping

from components.configurator import sphinx as render
from components.configurator.placement import Placement
from components.configurator.proxy_values import Backend
from components.proxies.kinds import Account, ProxyKind, RenderContext, tcp_answers

SEARCH_USER = "replstack_search"


class SphinxKind(ProxyKind):
    def accounts(self, proxy: Any, boot: Any) -> list[Account]:
        return [Account("search", SEARCH_USER, render.grants(proxy.index_table))]

    def schema(self, proxy: Any) -> list[str]:
        return render.backend_schema(proxy.index_table, list(proxy.index_fields))

    def render_config(self, ctx: RenderContext, secrets: Mapping[str, str]) -> str:
        source = (ctx.replicas or [ctx.primary])[0]
        return render.render_sphinx_conf(
            cluster=ctx.cluster, name=ctx.proxy.name or "", placement=ctx.placement,
            source=Backend(source.name, source.host, source.port), user=SEARCH_USER, password=secrets["search"],
            table=ctx.proxy.index_table, fields=list(ctx.proxy.index_fields), memory_mb=ctx.proxy.memory)

    def local_binaries(self, local: Any) -> dict[str, str]:
        return {"searchd": f"{local.sphinx_bin_dir}/searchd", "indexer": f"{local.sphinx_bin_dir}/indexer"}

    def lifecycle(self, host: Any, props: Mapping[str, Any]) -> Any:
        from components.orchestrators.lifecycle.sphinx import SphinxProcess

        return SphinxProcess(host, render.sphinx_paths(Placement.from_output(props["placement"])), props["binaries"])

    def sync_entry(self, placement: Placement) -> dict[str, Any]:
        return {"host": placement.host, "port": placement.ports["sphinxql"]}

    def routing_gaps(self, host: Any, entry: Mapping[str, Any], primary: str, readers: list[str]) -> list[str]:
        """searchd answers SphinxQL and serves its index."""
        if not tcp_answers(entry["host"], entry["port"]):
            return [f"SphinxQL {entry['host']}:{entry['port']} not answering"]
        import pymysql

        try:
            conn = pymysql.connect(host=entry["host"], port=int(entry["port"]), user="", connect_timeout=3)
            try:
                with conn.cursor() as cursor:
                    cursor.execute("SHOW TABLES")
                    if not cursor.fetchall():
                        return ["searchd serves no index"]
            finally:
                conn.close()
        except Exception as error:  # noqa: BLE001
            return [f"SphinxQL: {str(error)[:160]}"]
        return []

    def describe_routes(self, routes: Mapping[str, list[str]]) -> str:
        source = (routes.get("read") or routes.get("write") or ["?"])[0]
        return f"index from {source} and start searchd"


KIND = SphinxKind(name="sphinx", label="Sphinx", resource_type="Sphinx", listeners=render.LISTENERS,
                  read_listener="sphinxql", config_has_secrets=True, refreshes=True,
                  packages={"searchd": "sphinxsearch", "indexer": "sphinxsearch"})
