"""HAProxy: a write listener routed to the primary, a read listener balanced over the replicas (a replica whose
replication broke or lags leaves it through HAProxy's external check), a stats page, the runtime API on a unix
socket (read by the proxy-sync step). Its check account is the cluster's ``bootstrap.checkUser``."""

from __future__ import annotations

from typing import Any, Mapping

from components.configurator.haproxy import (PORT_NAMES, READ_BACKEND, UNUSED_PORTS, WRITE_BACKEND, Backend,
                                             haproxy_paths, render_check_files, render_haproxy_cfg)
from components.configurator.placement import Placement
from components.proxies.kinds import ProxyKind, RenderContext


class HAProxyKind(ProxyKind):
    def render_config(self, ctx: RenderContext, secrets: Mapping[str, str]) -> str:
        return render_haproxy_cfg(
            cluster=ctx.cluster, name=ctx.proxy.name or "", placement=ctx.placement,
            primary=Backend(ctx.primary.name, ctx.primary.host, ctx.primary.port),
            replicas=[Backend(r.name, r.host, r.port) for r in ctx.replicas],
            primary_reads=bool(ctx.extra.get("primary_reads")))

    def render_files(self, ctx: RenderContext, secrets: Mapping[str, str]) -> dict[str, str]:
        return render_check_files(
            cluster=ctx.cluster, name=ctx.proxy.name or "", placement=ctx.placement, primary=ctx.primary.name,
            check_user=ctx.bootstrap.check_user, check_password=secrets["check"], client=ctx.sql_client,
            max_lag=ctx.bootstrap.max_replica_lag, flavor=ctx.extra.get("flavor", "mariadb"))

    def local_binaries(self, local: Any) -> dict[str, str]:
        return {"haproxy": local.haproxy_binary}

    def lifecycle(self, host: Any, props: Mapping[str, Any]) -> Any:
        from components.orchestrators.lifecycle.haproxy import HAProxyProcess

        return HAProxyProcess(host, haproxy_paths(Placement.from_output(props["placement"])), binary=props["binary"])

    def sync_entry(self, placement: Placement) -> dict[str, Any]:
        return {"socket": haproxy_paths(placement).socket}

    def routing_gaps(self, host: Any, entry: Mapping[str, Any], primary: str, readers: list[str]) -> list[str]:
        from components.proxies.haproxy_runtime import server_statuses

        statuses = {(s.backend, s.server): s for s in server_statuses(host, entry["socket"])}
        gaps = []
        for backend, server in [(WRITE_BACKEND, primary)] + [(READ_BACKEND, r) for r in readers]:
            status = statuses.get((backend, server))
            if status is None:
                gaps.append(f"{backend}/{server} missing")
            elif not status.healthy:
                gaps.append(f"{backend}/{server} {status.status} ({status.check_status or 'no check yet'})")
        return gaps


KIND = HAProxyKind(name="haproxy", label="HAProxy", resource_type="HAProxy", listeners=PORT_NAMES,
                   write_listener="write", read_listener="read", stats_listener="stats",
                   unused_listeners=UNUSED_PORTS, packages={"haproxy": "haproxy"}, has_files=True,
                   files_need_nodes=False, sync_by_socket=True)
