"""The proxy-sync step: waits until every proxy routes as the topology says (HAProxy: the primary UP on the write
side, every replica UP on the read side; another kind as its ``routing_gaps`` says), so ``up`` ends only when the
endpoints really work. Each proxy is read as its kind says (components.proxies.kinds), over the host transport
its backend names. Bounded: on timeout it names the proxy and what it saw."""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, ReadResult, Resource, UpdateResult

from components.dynamic import NO_ACTION, PlannedProvider, differs, is_known, names, resource_options
from components.orchestrators.hosts import host_for, transport
from components.proxies.kinds import kind
from components.waiting import WaitTimeout, wait_until


class ProxySyncError(RuntimeError):
    pass


def _routing_gaps(proxy: dict[str, Any], primary: str, readers: list[str]) -> list[str]:
    """What is not yet as expected on one proxy, in words; empty when it routes as the topology says."""
    host = host_for(proxy["access"]) if proxy.get("access") else transport(proxy.get("transport", "local"))
    # An entry without a kind is HAProxy's, read through its socket (as earlier versions recorded it).
    target = dict(proxy.get("target") or {"socket": proxy.get("socket")})
    if proxy.get("access"):
        target["access"] = proxy["access"]
    return kind(proxy.get("kind") or "haproxy").routing_gaps(host, target, primary, readers)


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
