"""``replstack:local``: the local orchestrator's section."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from pydantic import Field, ValidationInfo, field_validator

from components.spec.base import (BINARIES, SYSTEM_DIRS, SYSTEM_TREES, _Model, _check_executable, _check_path_text,
                                  _host, _inside, _is_cluster_dir)


class LocalSpec(_Model):
    """The ``local`` orchestrator: services run as processes on this host."""

    base_dir: str | None = Field(None, alias="baseDir", description="where service directories go; relative "
                                 "paths are taken from the project directory")
    # Before bind_address: its validator reads it.
    allow_wildcard_bind: bool = Field(False, alias="allowWildcardBind", description="let bindAddress be 0.0.0.0 "
                                      "or ::, every interface of the host")
    bind_address: str = Field("127.0.0.1", alias="bindAddress")
    mariadb_bin_dir: str = Field("/usr/sbin", alias="mariadbBinDir", description="directory of mariadbd")
    client_bin_dir: str = Field("/usr/bin", alias="clientBinDir", description="directory of mariadb-install-db")
    haproxy_binary: str = Field("/usr/sbin/haproxy", alias="haproxyBinary")
    sphinx_bin_dir: str = Field("/usr/bin", alias="sphinxBinDir", description="directory of searchd and indexer "
                                "(sphinx proxies)")
    start_timeout: int = Field(120, alias="startTimeout", ge=5, le=3600, description="seconds")
    stop_timeout: int = Field(60, alias="stopTimeout", ge=1, le=3600, description="seconds")

    @field_validator("bind_address")
    @classmethod
    def _ip(cls, value: str, info: ValidationInfo) -> str:
        """An address of this host, IPv4 or IPv6; a wildcard (every interface) only when allowWildcardBind says
        so. Returned in its compressed form (what the servers and the check account's host part use)."""
        try:
            ip = ipaddress.ip_address(value)
        except ValueError:
            raise ValueError(f"{value!r} is not an IP address, e.g. 127.0.0.1 or ::1") from None
        if ip.is_unspecified:
            if not info.data.get("allow_wildcard_bind"):
                raise ValueError(f"{value!r} binds every interface of the host (clients of any network reach every "
                                 "server and proxy port); allowed: an address of this host, e.g. 127.0.0.1, or set "
                                 "local.allowWildcardBind: true to bind the wildcard on purpose")
            return ip.compressed
        if ip.is_multicast or (ip.version == 6 and ip.is_link_local):
            raise ValueError(f"{value!r} is a {'multicast' if ip.is_multicast else 'link-local'} address, which a "
                             "server cannot listen on here; allowed: a unicast address of this host, e.g. 127.0.0.1")
        networks = _host(info).local_networks()
        if not any(ip in network for network in networks if network.version == ip.version):
            have = sorted({str(n.network_address if n.prefixlen == n.max_prefixlen else n) for n in networks
                           if not (n.version == 6 and n.network_address.is_link_local)})
            raise ValueError(f"{value!r} is not an address of this host, so nothing can listen on it; allowed: "
                             f"an address the host has: {', '.join(have) or '(none found)'}")
        return ip.compressed

    @property
    def listen_address(self) -> str:
        """What every service binds to: ``bindAddress`` itself."""
        return self.bind_address

    @property
    def connect_address(self) -> str:
        """How services are reached (by clients, proxies, replicas): ``bindAddress``, or for a wildcard the
        loopback address of its family."""
        return {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(self.bind_address, self.bind_address)

    @field_validator("base_dir")
    @classmethod
    def _base_dir(cls, value: str | None, info: ValidationInfo) -> str | None:
        """A directory of the user's own: new, empty, or holding replstack cluster directories only; never a
        directory of the operating system (symbolic links and '..' are resolved first)."""
        if value is None:
            return None
        _check_path_text(value)
        resolved = (_host(info).project_dir / Path(value).expanduser()).resolve()
        shown = repr(value) if str(resolved) == value else f"{value!r} ({resolved})"
        allowed = ("allowed: a directory of your own that is new, empty, or holds only replstack cluster "
                   "directories (<project>-<stack>/ with owner.json or ports.json)")
        if str(resolved) in SYSTEM_DIRS or any(_inside(resolved, tree) for tree in SYSTEM_TREES):
            raise ValueError(f"{shown} is a system directory; {allowed}")
        if resolved.exists() or resolved.is_symlink():
            if not resolved.is_dir():
                raise ValueError(f"{shown} exists and is not a directory; {allowed}")
            try:
                foreign = next((e.name for e in sorted(resolved.iterdir()) if not _is_cluster_dir(e)), None)
            except OSError as error:
                raise ValueError(f"{shown} cannot be read ({error.strerror}); {allowed}") from None
            if foreign is not None:
                raise ValueError(f"{shown} is not empty and {foreign!r} in it is not a replstack cluster directory; "
                                 f"{allowed}")
        return value

    @field_validator("mariadb_bin_dir", "client_bin_dir")
    @classmethod
    def _bin_dir(cls, value: str, info: ValidationInfo) -> str:
        binary = BINARIES[info.field_name or ""]
        _check_path_text(value)
        if not value.startswith("/"):
            example = cls.model_fields[info.field_name or ""].default
            raise ValueError(f"{value!r} is not an absolute path; allowed: the directory holding {binary}, "
                             f"e.g. {example}")
        _check_executable(str(Path(value) / binary), f"{value!r} has no executable {binary}; allowed: the "
                          f"directory holding {binary}")
        return value

    @field_validator("haproxy_binary")
    @classmethod
    def _haproxy_binary(cls, value: str) -> str:
        """Its name here; that it exists is checked when a proxy uses it (ClusterSpec)."""
        _check_path_text(value)
        if not value.startswith("/") or Path(value).name != "haproxy":
            raise ValueError(f"{value!r} is not an absolute path to a binary named haproxy; allowed: e.g. "
                             "/usr/sbin/haproxy")
        return value
