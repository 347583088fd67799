"""Replication topologies as data: for each ``bootstrap.topology``, which node replicates from which, which nodes
take writes, which serve reads, each node's role and the my.cnf settings that the topology adds to a node.

Pure functions, no I/O: the cluster reads the layout to render configs and route proxies, the topology step to
attach each node to its source.

- ``master-slave``: the primary takes writes; every other node is a read-only GTID replica of it.
- ``master-slave-no-gtid``: the same, replicas attached by binary-log file and position (``MASTER_USE_GTID=no``).
- ``multi-master``: two nodes, each a replica of the other; the preferred primary takes writes, the other too
  when ``bootstrap.multiMasterWritable`` is ``both``. Each has its own ``gtid_domain_id`` and its own
  ``auto_increment_offset`` (increment 2), so writes on both never collide on a generated key.
- ``multi-tier-slave``: the primary, one relay replica (the first other node) that logs what it applies, and
  leaves that replicate from the relay.
- ``ring``: three nodes or more, each a replica of the one before it (the first of the last); every node takes
  writes, has its own ``gtid_domain_id`` and ``auto_increment_offset`` (increment N), and logs what it applies, so
  a write on any node goes round the ring to every other.
"""

from __future__ import annotations

from dataclasses import dataclass

TOPOLOGIES = ("master-slave", "master-slave-no-gtid", "multi-master", "multi-tier-slave", "ring")
# Topologies whose every node is a source of another: no node is "the" primary, every node is read from.
MULTI_SOURCE = ("multi-master", "ring")


@dataclass(frozen=True)
class Layout:
    topology: str
    primary: str                    # the preferred primary: the write endpoint's first choice
    nodes: tuple[str, ...]
    sources: dict[str, str]         # node -> the node it replicates from (nodes that replicate only)
    writable: tuple[str, ...]       # nodes with read_only off
    roles: dict[str, str]           # primary | replica | relay | master
    gtid: bool = True               # replicas attach with GTID (else by file and position)

    @property
    def readers(self) -> list[str]:
        """The nodes the read side balances over: every node of a multi-source topology, else the nodes not
        written to (the primary alone when there are none)."""
        if self.topology in MULTI_SOURCE:
            return list(self.nodes)
        return [n for n in self.nodes if n not in self.writable] or [self.primary]

    def attach_order(self) -> list[str]:
        return attach_order(self.sources, self.primary, list(self.nodes))


def attach_order(sources: dict[str, str], primary: str, nodes: list[str]) -> list[str]:
    """The nodes with a source, in the order they are attached: down the chain from the primary (a ring: from
    the primary's successor round to the primary itself), then the rest (multi-tier leaves), so that what the
    primary holds (the replication account) reaches each source before its own replicas connect to it."""
    order: list[str] = []
    current = primary
    for _ in nodes:
        followers = [n for n in nodes if sources.get(n) == current and n not in order]
        if not followers:
            break
        order.append(followers[0])
        current = followers[0]
    return order + [n for n in nodes if n in sources and n not in order]


def layout(topology: str, nodes: list[str], primary: str, writable_both: bool = False) -> Layout:
    others = [n for n in nodes if n != primary]
    if topology in ("master-slave", "master-slave-no-gtid"):
        return Layout(topology, primary, tuple(nodes), {n: primary for n in others}, (primary,),
                      {n: "primary" if n == primary else "replica" for n in nodes},
                      gtid=topology == "master-slave")
    if topology == "multi-master":
        other = others[0]
        return Layout(topology, primary, tuple(nodes), {other: primary, primary: other},
                      (primary, other) if writable_both else (primary,), {n: "master" for n in nodes})
    if topology == "multi-tier-slave":
        relay, leaves = others[0], others[1:]
        roles = {primary: "primary", relay: "relay", **{n: "replica" for n in leaves}}
        return Layout(topology, primary, tuple(nodes), {relay: primary, **{n: relay for n in leaves}}, (primary,),
                      {n: roles[n] for n in nodes})
    if topology == "ring":
        sources = {n: nodes[i - 1] for i, n in enumerate(nodes)}
        return Layout(topology, primary, tuple(nodes), sources, tuple(nodes), {n: "master" for n in nodes})
    raise ValueError(f"unknown topology {topology!r}; known: {', '.join(TOPOLOGIES)}")


def node_settings(plan: Layout, node: str, domain_id: int) -> dict[str, str]:
    """The my.cnf settings the topology adds to a node (none for master-slave, so its configs stay as they are):
    per-node GTID domains and interleaved auto-increment keys where several nodes take writes."""
    if plan.topology not in MULTI_SOURCE:
        return {}
    index = plan.nodes.index(node)
    return {
        "gtid_domain_id": str(domain_id + index),
        "auto_increment_increment": str(len(plan.nodes)),
        "auto_increment_offset": str(index + 1),
    }
