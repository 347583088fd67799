"""The proxy-sync step: waits until every proxy routes as the topology says (the primary UP on the write
side, every replica UP on the read side), so ``up`` ends only when the endpoints really work."""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, ResourceProvider, UpdateResult

from components.configurator.haproxy import READ_BACKEND, WRITE_BACKEND
from components.proxies.haproxy_runtime import server_statuses
from components.waiting import WaitTimeout, wait_until


class ProxySyncError(RuntimeError):
    pass


def _routing_gaps(proxy: dict[str, Any], primary: str, readers: list[str]) -> list[str]:
    """What is not yet as expected on one proxy, in words; empty when it routes as the topology says."""
    statuses = {(s.backend, s.server): s for s in server_statuses(proxy["host"], int(proxy["adminPort"]))}
    gaps = []
    for backend, server in [(WRITE_BACKEND, primary)] + [(READ_BACKEND, r) for r in readers]:
        status = statuses.get((backend, server))
        if status is None:
            gaps.append(f"{backend}/{server} missing")
        elif not status.healthy:
            gaps.append(f"{backend}/{server} {status.status} ({status.check_status or 'no check yet'})")
    return gaps


class ProxySyncProvider(ResourceProvider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        self._wait(props)
        return CreateResult(id_="proxy-sync", outs=props)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        keys = ("proxies", "primary", "replicas", "generations")
        return DiffResult(changes=any(olds.get(k) != news.get(k) for k in keys))

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


class ProxySync(Resource):
    def __init__(self, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions | None = None):
        super().__init__(ProxySyncProvider(), name, props, opts)
