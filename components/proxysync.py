"""The proxy-sync step: waits until every proxy routes as the topology says (the primary UP on the write
side, every replica UP on the read side), so ``up`` ends only when the endpoints really work. Each proxy is
read through its runtime API's unix socket, over the host transport its backend names."""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, ReadResult, Resource, UpdateResult

from components.configurator.haproxy import READ_BACKEND, WRITE_BACKEND
from components.dynamic import NO_ACTION, PlannedProvider, differs, is_known, names, resource_options
from components.orchestrators.hosts import host_for, transport
from components.proxies.haproxy_runtime import server_statuses
from components.waiting import WaitTimeout, wait_until


class ProxySyncError(RuntimeError):
    pass


def _routing_gaps(proxy: dict[str, Any], primary: str, readers: list[str]) -> list[str]:
    """What is not yet as expected on one proxy, in words; empty when it routes as the topology says."""
    host = host_for(proxy["access"]) if proxy.get("access") else transport(proxy.get("transport", "local"))
    statuses = {(s.backend, s.server): s for s in server_statuses(host, proxy["socket"])}
    gaps = []
    for backend, server in [(WRITE_BACKEND, primary)] + [(READ_BACKEND, r) for r in readers]:
        status = statuses.get((backend, server))
        if status is None:
            gaps.append(f"{backend}/{server} missing")
        elif not status.healthy:
            gaps.append(f"{backend}/{server} {status.status} ({status.check_status or 'no check yet'})")
    return gaps


class ProxySyncProvider(PlannedProvider):
    compared = ("proxies", "primary", "replicas", "generations")

    def plan(self, olds: dict[str, Any], news: dict[str, Any]) -> str:
        proxies = [p["name"] for p in news.get("proxies") or [] if isinstance(p, dict) and is_known(p.get("name"))]
        readers = news.get("replicas") or [news.get("primary")]
        what = (f"wait until {names(proxies)} route(s) writes to {news.get('primary')} and reads to "
                f"{names(readers)}")
        if not olds:
            return f"create: {what}"
        changed = self.changes(olds, news)
        if not changed:
            return NO_ACTION
        if changed == ["generations"]:
            restarted = sum(1 for old, new in zip(olds.get("generations") or [], news.get("generations") or [])
                            if differs(old, new))
            return f"{what} again, after {restarted or 'a'} service restart(s) or reload(s)"
        return f"{what} (the topology or the proxies change)"

    def create(self, props: dict[str, Any]) -> CreateResult:
        self._wait(props)
        return CreateResult(id_="proxy-sync", outs=props)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        self._wait(news)
        return UpdateResult(outs=news)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        return ReadResult(id_=id_, outs=props)

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        """A wait leaves nothing behind."""

    @staticmethod
    def _wait(props: dict[str, Any]) -> None:
        readers = props["replicas"] or [props["primary"]]
        for proxy in props["proxies"]:
            last: list[list[str]] = [[]]

            def synced(proxy: dict[str, Any] = proxy, last: list[list[str]] = last) -> bool:
                last[0] = _routing_gaps(proxy, props["primary"], readers)
                return not last[0]

            try:
                wait_until(synced, timeout=props["timeout"], what=f"proxy {proxy['name']} to route to the topology")
            except WaitTimeout as error:
                raise ProxySyncError(f"{error}; still: {', '.join(last[0]) or 'admin API not answering'}") from None


class ProxySync(Resource, module="replstack/bootstrap", name="ProxySync"):
    """The wait until every proxy routes as the topology says."""

    def __init__(self, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions | None = None):
        super().__init__(ProxySyncProvider(), name, props, resource_options(opts))
