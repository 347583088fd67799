"""Service plans: named sizes of a cluster (node count and resources per node), as replication-manager ships them.

A registry is a CSV with replication-manager's columns ``id,plan,dbmemory,dbcores,dbdatasize,dbsystemsize,dbiops,
dbcpufreq,prxcores,prxdatasize`` (memory in MB, disks in GB). replstack ships replication-manager's own catalogue
(``replication-manager.csv`` beside this file); a stack may name another registry, a file or an http(s) URL. A
URL is fetched with a timeout and the copy kept in the cache; when the URL cannot be reached, the cached copy is
used and the plan says so (``Registry.notice``), so that the preview shows it.

The node count of a plan is in its name, as in replication-manager: the digit after the ``x`` (``x2.tiny`` has two
nodes); a registry may also give it in a ``nodes`` column.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
from dataclasses import dataclass
from pathlib import Path

SHIPPED = Path(__file__).with_name("replication-manager.csv")
COLUMNS = ("plan", "dbmemory", "dbcores", "dbdatasize", "dbsystemsize", "dbiops", "prxcores", "prxdatasize")
FETCH_TIMEOUT = 10.0  # seconds for a registry URL
MAX_REGISTRY_BYTES = 1 << 20


class PlanError(ValueError):
    """A registry that cannot be read, or a plan it does not have; the message says which and why."""


@dataclass(frozen=True)
class ServicePlan:
    name: str
    nodes: int
    memory: int          # MB per database node
    cores: int
    data_disk: int       # GB
    system_disk: int     # GB
    iops: int
    proxy_cores: int
    proxy_disk: int      # GB

    def database_keys(self) -> dict[str, int]:
        """What the plan sets in ``replstack:database``, by stack key."""
        return {"nodes": self.nodes, "memory": self.memory, "cores": self.cores, "iops": self.iops,
                "diskSize": self.data_disk, "systemDiskSize": self.system_disk}

    def proxy_keys(self) -> dict[str, int]:
        """What the plan sets in each ``replstack:proxies[]`` entry."""
        return {"cores": self.proxy_cores, "diskSize": self.proxy_disk}


@dataclass(frozen=True)
class Registry:
    source: str
    plans: dict[str, ServicePlan]
    notice: str | None = None  # said in the preview: e.g. the cached copy used because the URL is unreachable

    def plan(self, name: str) -> ServicePlan:
        if name not in self.plans:
            raise PlanError(f"{name!r} is not a plan of {self.source}; known plans: {', '.join(self.plans)}")
        return self.plans[name]


def parse(text: str, source: str) -> dict[str, ServicePlan]:
    """The plans of a registry's CSV text, in file order; a missing column or a bad number names the line."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    fields = [f.strip().lower() for f in reader.fieldnames or []]
    missing = [c for c in COLUMNS if c not in fields]
    if missing:
        raise PlanError(f"{source} is not a service-plan registry: no column(s) {', '.join(missing)} (a CSV with "
                        f"the columns {','.join(COLUMNS)}, and optionally nodes)")
    plans: dict[str, ServicePlan] = {}
    for line, raw in enumerate(reader, start=2):
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items()}
        name = row["plan"]
        if not name:
            continue
        try:
            nodes = int(row["nodes"]) if row.get("nodes") else _nodes_in_name(name)
            values = [int(float(row[c])) for c in COLUMNS[1:]]
        except ValueError as error:
            raise PlanError(f"{source} line {line} ({name}): {error}") from None
        plans[name] = ServicePlan(name, nodes, *values)
    if not plans:
        raise PlanError(f"{source} has no plan")
    return plans


def _nodes_in_name(name: str) -> int:
    match = re.match(r"x(\d+)\.", name)
    if not match:
        raise ValueError("no node count: the name does not start with x<nodes>. and there is no nodes column")
    return int(match.group(1))


def cache_dir() -> Path:
    base = os.environ.get("REPLSTACK_CACHE") or str(Path.home() / ".cache" / "replstack")
    return Path(base) / "plans"


def load(registry: str | None, project_dir: Path) -> Registry:
    """The shipped catalogue (``registry`` None), a CSV file (relative paths start at the project directory) or
    an http(s) URL (fetched with a timeout; its cached copy when unreachable)."""
    if not registry:
        return Registry("the shipped catalogue", parse(SHIPPED.read_text(encoding="utf-8"), "the shipped catalogue"))
    if re.match(r"https?://", registry):
        return _from_url(registry)
    path = (project_dir / Path(registry).expanduser())
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise PlanError(f"{registry!r} cannot be read ({error.strerror or error}); allowed: a CSV file or an "
                        "http(s) URL") from None
    return Registry(registry, parse(text, registry))


def _from_url(url: str) -> Registry:
    import requests  # only a stack that names a URL needs it

    cached = cache_dir() / (hashlib.sha256(url.encode()).hexdigest()[:32] + ".csv")
    try:
        response = requests.get(url, timeout=FETCH_TIMEOUT, stream=True)
        response.raise_for_status()
        body = response.raw.read(MAX_REGISTRY_BYTES + 1, decode_content=True)
        if len(body) > MAX_REGISTRY_BYTES:
            raise PlanError(f"{url} is larger than {MAX_REGISTRY_BYTES} bytes")
        text = body.decode("utf-8")
        plans = parse(text, url)
    except (requests.RequestException, UnicodeDecodeError, PlanError, OSError) as error:
        reason = _reason(error)
        if not cached.is_file():
            raise PlanError(f"{url} cannot be fetched ({reason}) and no copy of it is cached") from None
        plans = parse(cached.read_text(encoding="utf-8"), f"{url} (cached copy)")
        return Registry(url, plans, notice=f"service-plan registry {url} cannot be fetched ({reason}); using its "
                        f"cached copy {cached}")
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(cached)
    return Registry(url, plans)


def _reason(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= 160 else text[:157] + "..."
