"""Resource settings shared by databases and proxies: network, disk, and the database's snapshots."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Any, Literal, Mapping

from pydantic import Field, field_validator, model_validator

from components.spec.base import SYSTEM_DIRS, SYSTEM_TREES, _Model, _PATH_CHARS, _inside, _plain_absolute_path


class NetworkSpec(_Model):
    """Where a service's address lives, for backends that give a service an interface of its own (a container, a
    VM): replication-manager's ``prov-db-net-iface``, ``-mask``, ``-gateway`` and ``prov-db-cni``. Backends that
    run services on existing hosts (``local``, ``onpremise``) use the hosts' addresses and ignore them; the preview
    says which a backend ignores."""

    iface: str | None = Field(None, description="interface name, e.g. eth0")
    netmask: str | None = Field(None, description="a dotted mask (255.255.255.0) or a prefix length (24)")
    gateway: str | None = Field(None, description="the default gateway's IP address")
    cni: str | None = Field(None, description="kube: a CNI network attachment, [namespace/]name (Multus)")

    @field_validator("iface")
    @classmethod
    def _iface(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,14}", value):
            raise ValueError(f"{value!r} is not an interface name; allowed: up to 15 letters, digits, '_', '.', "
                             "':', '-', e.g. eth0")
        return value

    @field_validator("netmask")
    @classmethod
    def _netmask(cls, value: str | None) -> str | None:
        """Kept as a prefix length (``24``): the form every backend can use."""
        if value is None:
            return None
        text = str(value).strip().lstrip("/")
        try:
            if text.isdigit() and 0 <= int(text) <= 128:
                return str(int(text))
            return str(ipaddress.ip_network(f"0.0.0.0/{text}").prefixlen)
        except ValueError:
            raise ValueError(f"{value!r} is not a netmask; allowed: a dotted mask such as 255.255.255.0 or a prefix "
                             "length from 0 to 128") from None

    @field_validator("gateway")
    @classmethod
    def _gateway(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return ipaddress.ip_address(value).compressed
        except ValueError:
            raise ValueError(f"{value!r} is not an IP address; allowed: e.g. 10.0.0.1 or fd00::1") from None

    @field_validator("cni")
    @classmethod
    def _cni(cls, value: str | None) -> str | None:
        label = r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"
        if value is not None and not re.fullmatch(rf"({label}/)?{label}", value):
            raise ValueError(f"{value!r} is not a network attachment name; allowed: [namespace/]name of lower-case "
                             "letters, digits and '-'")
        return value

    def given(self) -> list[str]:
        """The keys set, for what a backend says it ignores."""
        return [key for key in ("iface", "netmask", "gateway", "cni") if getattr(self, key) is not None]


# What each filesystem compresses itself (replication-manager's prov-db-disk-fs-compress is ZFS's), and the
# filesystems a volume pool can hold.
FS_COMPRESSION: dict[str, tuple[str, ...]] = {"zfs": ("lz4", "gzip", "zstd"), "btrfs": ("gzip", "zstd")}
POOL_FILESYSTEMS: dict[str, tuple[str, ...]] = {"zpool": ("zfs",), "lvm": ("ext4", "xfs", "btrfs")}
_POOL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}(/[A-Za-z0-9][A-Za-z0-9_.:-]{0,127})*")


def _disk_size_given(section: Any) -> Any:
    disk = section.get("disk") if isinstance(section, Mapping) else None
    return disk.get("sizeGb", disk.get("size_gb")) if isinstance(disk, Mapping) else None


def _disk_size_once(data: Any) -> Any:
    """``disk.sizeGb`` is ``diskSize`` (replication-manager's prov-db-disk-size) by its other name."""
    size = _disk_size_given(data)
    if size is None:
        return data
    given = data.get("diskSize", data.get("disk_size"))
    if given is not None and str(given) != str(size):
        raise ValueError(f"disk.sizeGb {size} and diskSize {given} are one setting; set only one of them")
    out = {k: v for k, v in data.items() if k not in ("diskSize", "disk_size")}
    out["diskSize"] = size
    return out


class DiskSpec(_Model):
    """A service's data disk, for backends that make volumes: replication-manager's ``prov-db-disk-*`` keys. Unset
    keys leave the choice to the backend; backends that keep data in a directory of an existing host (``local``,
    ``onpremise``) honour ``directory`` only, and the preview says which keys a backend ignores."""

    size_gb: int | None = Field(None, alias="sizeGb", ge=1, le=1_048_576, description="GB; the same as diskSize "
                                "(set one of them)")
    fs: Literal["ext4", "xfs", "zfs", "btrfs", "directory"] | None = None
    pool: Literal["none", "zpool", "lvm"] | None = None
    compression: Literal["off", "lz4", "gzip", "zstd"] | None = None
    type: Literal["loopback", "physical", "pool", "directory", "volume"] | None = None
    device: str | None = Field(None, description="loopback: its directory; physical: a /dev path; pool: the pool "
                               "(or pool/dataset, volume group); directory: the directory; volume: the volume pool")

    @model_validator(mode="after")
    def _combination(self) -> DiskSpec:
        """Only combinations a backend could make; each refusal names the keys and what would do."""
        problems = []
        fs, pool, kind, device = self.fs, self.pool, self.type, self.device
        if self.compression not in (None, "off"):
            can = FS_COMPRESSION.get(fs or "", ())
            if self.compression not in can:
                have = "; ".join(f"fs {f}: {', '.join(c)}" for f, c in FS_COMPRESSION.items())
                problems.append(f"compression {self.compression!r} with fs {fs!r}: "
                                + (f"{fs} compresses with {', '.join(can)} only" if can else
                                   f"{fs or 'an unset fs'} does not compress")
                                + f"; allowed: off, or {have}")
        if pool in POOL_FILESYSTEMS and fs is not None and fs not in POOL_FILESYSTEMS[pool]:
            problems.append(f"fs {fs!r} in pool {pool!r}: a {pool} holds {', '.join(POOL_FILESYSTEMS[pool])}; "
                            "allowed: one of those, or pool none")
        if kind == "pool" and pool in (None, "none"):
            problems.append("type 'pool' needs pool zpool or lvm; allowed: set pool, or another type")
        if pool in POOL_FILESYSTEMS and kind not in (None, "pool"):
            problems.append(f"pool {pool!r} with type {kind!r}: a pool's volumes are of type pool; allowed: type "
                            "pool, or pool none")
        if (fs == "directory") != (kind == "directory") and None not in (fs, kind):
            problems.append(f"fs {fs!r} with type {kind!r}: a directory is both fs and type directory; allowed: "
                            "both directory, or neither")
        if "directory" in (fs, kind) and pool not in (None, "none"):
            problems.append(f"a directory with pool {pool!r}: a directory is not in a volume pool; allowed: pool none")
        if kind in ("physical", "pool", "directory") and not device:
            problems.append(f"type {kind!r} needs device ({DiskSpec.model_fields['device'].description})")
        if device is not None:
            problem = self._device_problem(kind, device)
            if problem:
                problems.append(problem)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @staticmethod
    def _device_problem(kind: str | None, device: str) -> str | None:
        if kind is None:
            return f"device {device!r} without type: allowed: set type (loopback, physical, pool, directory, volume)"
        if kind in ("pool", "volume"):
            if not _POOL_NAME.fullmatch(device):
                return (f"device {device!r} is not a pool name; allowed: letters, digits, '_', '.', ':', '-', "
                        "with '/' between a pool and its dataset")
            return None
        if not _plain_absolute_path(device):
            return (f"device {device!r} is not an absolute path; allowed for type {kind}: a path starting with '/', "
                    f"of {_PATH_CHARS}, without '..'")
        if kind == "physical" and not device.startswith("/dev/"):
            return f"device {device!r} is not a block device path; allowed for type physical: /dev/..."
        if kind != "physical" and (device.rstrip("/") in SYSTEM_DIRS
                                   or any(_inside(Path(device), tree) for tree in SYSTEM_TREES)):
            return f"device {device!r} is a directory of the operating system; allowed: a directory of its own"
        return None

    def given(self) -> dict[str, Any]:
        """The keys set, with their values (``disk.fs``: ``zfs``), for what a backend says it ignores."""
        return {f"disk.{field.alias or name}": getattr(self, name) for name, field in DiskSpec.model_fields.items()
                if getattr(self, name) is not None}


_VERSION = re.compile(r"\d+\.\d+(\.\d+)?([-+][A-Za-z0-9.]+)?")


# A crontab schedule: five fields, or one of cron's names (``@daily``, ...). Fields are checked for the characters
# cron reads in them; cron itself says what a field cannot mean.
_CRON_NAMES = ("@hourly", "@daily", "@midnight", "@weekly", "@monthly", "@yearly", "@annually")
_CRON_FIELD = re.compile(r"[0-9A-Za-z*/,\-]+")


class SnapshotSpec(_Model):
    """Physical snapshots of one node (the preferred primary by default): ``mariadb-backup`` streamed into the
    stack's snapshot directory and prepared there, ready to restore; ``keep`` of them retained. The backend
    installs the schedule (a crontab entry of the account that runs the servers, on the node's host) and removes
    it on destroy; ``make snapshot`` takes one now and ``make restore`` restores the cluster from one."""

    enabled: bool = False
    schedule: str = Field("@daily", description="when, as a crontab schedule (5 fields, or @daily, @hourly, ...); "
                          "'manual' installs no schedule (snapshots are taken with make snapshot)")
    keep: int = Field(7, ge=1, le=1000, description="snapshots retained; the oldest go first")
    node: str | None = Field(None, description="the node copied, e.g. db2; default: the preferred primary")
    directory: str | None = Field(None, description="absolute directory on the node's host; default: "
                                  "<cluster directory>/snapshots")

    @field_validator("schedule")
    @classmethod
    def _cron_schedule(cls, value: str) -> str:
        value = " ".join(value.split())
        if value == "manual" or value in _CRON_NAMES:
            return value
        fields = value.split(" ")
        if len(fields) != 5 or not all(_CRON_FIELD.fullmatch(f) for f in fields):
            raise ValueError(f"{value!r} is not a crontab schedule; allowed: five fields (minute hour day month "
                             f"weekday, e.g. '30 2 * * *'), {', '.join(_CRON_NAMES)}, or 'manual'")
        return value

    @field_validator("directory")
    @classmethod
    def _absolute_directory(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not _plain_absolute_path(value):
            raise ValueError(f"{value!r} is not an absolute directory; allowed: a path starting with '/', of "
                             f"{_PATH_CHARS}, without '..'")
        if value.rstrip("/") in SYSTEM_DIRS or any(value == t or value.startswith(t + "/") for t in SYSTEM_TREES):
            raise ValueError(f"{value!r} is a directory of the operating system; allowed: a directory of its own, "
                             "e.g. /var/backups/replstack")
        return value.rstrip("/")
