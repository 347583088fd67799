"""``replstack:database``: the database service, and the checks of its extra ``settings``."""

from __future__ import annotations

import difflib
import re
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from components.configurator import server_options as server
from components.configurator.tags import DATABASE_TAGS, REFUSED_TAGS, conflicts
from components.orchestrators.kube_config import _pinned
from components.spec.base import Flavor, _Model, _check_path_text, _image_tag, _refuse
from components.spec.resources import DiskSpec, NetworkSpec, SnapshotSpec, _VERSION, _disk_size_once


class DatabaseSpec(_Model):
    """The database service: one primary and ``nodes - 1`` replicas, all alike."""

    flavor: Flavor = "mariadb"
    nodes: int = Field(3, ge=1, le=32, description="node count: one primary, the rest replicas")
    memory: int = Field(256, ge=128, le=4_194_304, description="memory per node, MB; sizes every buffer")
    cores: int = Field(1, ge=1, le=256, description="cores per node; sizes I/O and replication threads")
    iops: int = Field(300, ge=50, le=1_000_000, description="disk IOPS; sizes innodb_io_capacity")
    max_connections: int = Field(1000, alias="maxConnections", ge=10, le=100_000)
    expire_logs_days: int = Field(5, alias="expireLogsDays", ge=0, le=99)
    binlog_format: Literal["ROW", "MIXED", "STATEMENT"] = Field("ROW", alias="binlogFormat")
    domain_id: int = Field(0, alias="domainId", ge=0, le=4_294_967_295, description="gtid_domain_id")
    port: int | None = Field(None, ge=1, le=65535, description="fixed SQL port: db1 listens on it, dbN on port + "
                             "N - 1; default: a free port picked per node")
    ports: dict[str, int] = Field(default_factory=dict, description="fixed SQL port by node name, e.g. {db1: "
                                  "3306}; wins over port for that node")
    network: NetworkSpec = Field(default_factory=NetworkSpec)
    disk_size: int = Field(20, alias="diskSize", ge=1, le=1_048_576, description="data disk per node, GB (for "
                           "backends that size volumes)")
    system_disk_size: int = Field(2, alias="systemDiskSize", ge=1, le=1_048_576, description="system disk per "
                                  "node, GB (for backends that size volumes)")
    disk: DiskSpec = Field(default_factory=DiskSpec)
    shared_memory_mb: int | None = Field(None, alias="sharedMemoryMb", ge=1, le=4_194_304, description="MB of "
                                         "/dev/shm, for backends that size containers")
    tmpfs_mb: int | None = Field(None, alias="tmpfsMb", ge=1, le=4_194_304, description="MB of a tmpfs for the "
                                 "server's tmpdir, where the backend can mount one")
    image: str | None = Field(None, description="container backends: the server image, pinned (a version tag or a "
                              "digest)")
    version: str | None = Field(None, description="container backends: the server version (the image's tag), "
                                "e.g. 11.4.5")
    binary_dir: str | None = Field(None, alias="binaryDir", description="process backends: the directory of the "
                                   "server binary (mariadbd, or mysqld for mysql and percona)")
    tags: list[str] = Field(default_factory=lambda: ["smallredolog", "noquerycache", "slow"])
    preferred_primary: str | None = Field(None, alias="preferredPrimary", description="node name, e.g. db1")
    # Before settings: the settings validator reads it.
    allow_unsafe_settings: list[str] = Field(
        default_factory=list, alias="allowUnsafeSettings", description="names of settings refused as unsafe "
        "that this stack sets anyway")
    settings: dict[str, str | int | float] = Field(
        default_factory=dict, description="extra my.cnf settings, applied after the generated ones")
    snapshots: SnapshotSpec = Field(default_factory=SnapshotSpec)

    @field_validator("tags", mode="before")
    @classmethod
    def _known_tags(cls, tags: list[str] | str) -> list[str]:
        """Known tags (replication-manager's comma-separated string as well), each once, none refused, no two
        setting one variable to different values."""
        if isinstance(tags, str):
            tags = [t.strip() for t in tags.split(",") if t.strip()]
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            return tags  # the field's type check names the problem
        tags = list(dict.fromkeys(tags))
        problems = []
        for tag in tags:
            if tag in REFUSED_TAGS:
                problems.append(f"tag {tag!r} is refused: {REFUSED_TAGS[tag]}")
            elif tag not in DATABASE_TAGS:
                close = difflib.get_close_matches(tag, sorted(DATABASE_TAGS), n=3, cutoff=0.75)
                hint = f" (did you mean {', '.join(close)}?)" if close else ""
                problems.append(f"unknown tag {tag!r}{hint}; allowed: {', '.join(sorted(DATABASE_TAGS))}")
        problems += conflicts(tags)
        if problems:
            raise ValueError("; ".join(problems))
        return tags

    @field_validator("allow_unsafe_settings")
    @classmethod
    def _unsafe_names(cls, names: list[str]) -> list[str]:
        problems = []
        out = []
        for i, given in enumerate(names):
            name = _option_name(given)
            if not _allowable(name):
                problems.append((f"database.allowUnsafeSettings[{i}]", f"{given!r} is not a setting replstack "
                                 f"refuses as unsafe; allowed: {', '.join(_allowable_names())}"))
            out.append(name)
        _refuse(problems)
        return out

    @field_validator("settings")
    @classmethod
    def _settings(cls, settings: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        """Each key a whole option name of the server, each value one line, nothing replstack manages, nothing
        unsafe unless allowUnsafeSettings lists it. Keys come back in the server's ``_`` form (a ``loose_``
        prefix is kept: the server then ignores an option of a plugin that is not loaded)."""
        allowed = set(info.data.get("allow_unsafe_settings") or ())
        problems: list[tuple[str, str]] = []
        out: dict[str, Any] = {}
        names: set[str] = set()
        for key, value in settings.items():
            if not re.fullmatch(r"[a-z][a-z0-9_\-]*", key):
                problems.append(("database.settings", f"{key!r} is not an option name: lower-case letters, digits, "
                                 "'_' and '-', like 'innodb_flush_method'"))
                continue
            name = _option_name(key)
            problem = _setting_problem(key, name, str(value), allowed)
            if problem is None and name in names:
                problem = f"{name!r} is set twice (as '-' and '_' or with 'loose_'); set it once"
            if problem:
                problems.append((f"database.settings.{key}", problem))
            else:
                names.add(name)
                out[server.canonical(key)] = value
        _refuse(problems)
        return out

    @field_validator("ports")
    @classmethod
    def _node_ports(cls, ports: dict[str, int]) -> dict[str, int]:
        """Node names (db1, db2, ...; one beyond database.nodes waits for that node) and TCP ports."""
        problems = []
        for name, port in ports.items():
            if not re.fullmatch(r"db[1-9][0-9]{0,1}", name):
                problems.append((f"database.ports.{name}", "is not a node name; allowed: db1, db2, ... (dbN is the "
                                 "N-th node)"))
            elif not 1 <= int(port) <= 65535:
                problems.append((f"database.ports.{name}", f"{port} is not a TCP port; allowed: 1 to 65535"))
        _refuse(problems)
        return ports

    @field_validator("image")
    @classmethod
    def _pinned_image(cls, value: str | None) -> str | None:
        return None if value is None else _pinned(value)

    @field_validator("version")
    @classmethod
    def _pinned_version(cls, value: str | None) -> str | None:
        if value is not None and not _VERSION.fullmatch(str(value)):
            raise ValueError(f"{value!r} is not a pinned version; allowed: major.minor[.patch] such as 11.4.5 or "
                             "8.0.36, never latest")
        return None if value is None else str(value)

    @field_validator("binary_dir")
    @classmethod
    def _binary_dir_text(cls, value: str | None) -> str | None:
        if value is None:
            return None
        _check_path_text(value)
        if not value.startswith("/"):
            raise ValueError(f"{value!r} is not an absolute path; allowed: the directory of the server binary, e.g. "
                             "/usr/sbin or /opt/mysql-8.0.36/bin")
        return value.rstrip("/") or "/"

    @model_validator(mode="before")
    @classmethod
    def _disk_size_once(cls, data: Any) -> Any:
        return _disk_size_once(data)

    @model_validator(mode="after")
    def _resources(self) -> DatabaseSpec:
        problems = []
        for key, size in (("sharedMemoryMb", self.shared_memory_mb), ("tmpfsMb", self.tmpfs_mb)):
            if size is not None and size >= self.memory:
                problems.append(f"{key} {size} is not below memory {self.memory}: a tmpfs is counted in the node's "
                                f"memory; allowed: less than {self.memory} MB")
        if self.image and self.version and not _image_tag(self.image).startswith(self.version):
            problems.append(f"image {self.image!r} and version {self.version!r} disagree; allowed: set one of them, "
                            "or a version the image's tag starts with")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def container_image(self, default: str) -> str:
        """The server image: ``image``, else ``default`` at ``version``, else ``default``."""
        if self.image:
            return self.image
        if self.version:
            base = default.split("@", 1)[0]
            name = base.rsplit(":", 1)[0] if ":" in base.rsplit("/", 1)[-1] else base
            return f"{name}:{self.version}"
        return default

    def resources_given(self) -> dict[str, Any]:
        """The resource keys set, with their values, for what a backend says it ignores."""
        given = {key: getattr(self, name) for name, key in (("shared_memory_mb", "sharedMemoryMb"),
                 ("tmpfs_mb", "tmpfsMb"), ("image", "image"), ("version", "version"), ("binary_dir", "binaryDir"))
                 if getattr(self, name) is not None}
        return {**given, **self.disk.given()}

    def node_names(self) -> list[str]:
        return [f"db{i}" for i in range(1, self.nodes + 1)]


# -- database.settings ------------------------------------------------------------------------------------------
def _option_name(key: str) -> str:
    """A my.cnf key as the checks read it: '-' and '_' alike (as the server has them), without 'loose_' (which
    only makes the server ignore a name it does not know: the name behind it is checked all the same)."""
    name = server.canonical(key)
    return name[len(server.LOOSE_PREFIX):] if name.startswith(server.LOOSE_PREFIX) else name


def _setting_problem(key: str, name: str, value: str, allowed: set[str]) -> str | None:
    """What is wrong with one ``database.settings`` entry, or None."""
    if not value.isprintable():
        return f"{value!r} has a line break or control character; allowed: one line of printable characters"
    options = server.shipped()
    if name not in options.options:
        return _unknown_option(key, name, options)
    if name in server.MANAGED:
        return f"{value!r} is refused: {name} is {server.MANAGED[name]}; allowed: leave it to replstack"
    reason = _unsafe_reason(name, value)
    if reason and name not in allowed:
        return (f"{value!r} is refused: {reason}; allowed: list {name!r} in database.allowUnsafeSettings to set it "
                "anyway")
    return None


def _unknown_option(key: str, name: str, options: server.ServerOptions) -> str:
    version = options.server.split(" Ver ", 1)[-1].split(" ", 1)[0]
    for prefix in server.BOOLEAN_PREFIXES:
        rest = name[len(prefix):]
        if name.startswith(prefix) and rest in options.options:
            return (f"{key!r} is not an option name of the server ({version}); allowed: the option itself, e.g. "
                    f"{rest}: 0 or 1, not the {prefix!r} prefix")
    close = difflib.get_close_matches(name, sorted(options.options), n=3, cutoff=0.8)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return (f"{key!r} is not an option name of the server ({version}); allowed: whole option names of "
            f"`mariadbd --verbose --help`{hint}")


def _unsafe_reason(name: str, value: str) -> str | None:
    """Why setting ``name`` to ``value`` weakens the server's safety, or None."""
    word = value.strip().strip("'\"").lower()
    if name in server.UNSAFE:
        return server.UNSAFE[name]
    for prefix, reason in server.UNSAFE_PREFIXES.items():
        if name.startswith(prefix):
            return reason
    if name in server.UNSAFE_WHEN_ON and word not in server.FALSE_WORDS:
        return f"{name} on: {server.UNSAFE_WHEN_ON[name]}"
    if name in server.UNSAFE_WHEN_OFF and word not in server.TRUE_WORDS:
        return f"{name} off: {server.UNSAFE_WHEN_OFF[name]}"
    if name in server.PLUGIN_LOADERS:
        return _plugin_libraries_reason(value)
    if name in server.PATH_OPTIONS and _leaves_the_node(value):
        return ("it names a path outside the node's data directory (absolute, '~' or '..'); a relative path "
                "stays inside it")
    return None


def _plugin_libraries_reason(value: str) -> str | None:
    """``plugin_load[_add]``: ``[name=]library[.so]`` items separated by ';', each a library the server ships."""
    shipped = server.shipped().plugin_libraries
    for item in filter(None, (part.strip() for part in value.split(";"))):
        library = item.split("=", 1)[-1].strip()
        stem = library[:-3] if library.endswith(".so") else library
        if stem in server.UNSAFE_PLUGIN_LIBRARIES:
            return f"plugin library {library!r} {server.UNSAFE_PLUGIN_LIBRARIES[stem]}"
        if stem not in shipped:
            return (f"{library!r} is not a plugin library the server ships; shipped: {', '.join(sorted(shipped))} "
                    "(other libraries run arbitrary code inside the server)")
    return None


def _leaves_the_node(value: str) -> bool:
    for part in filter(None, (p.strip().strip("'\"") for p in value.split(";"))):
        if part.startswith(("/", "~")) or ".." in part.split("/"):
            return True
    return False


def _allowable(name: str) -> bool:
    """Whether ``allowUnsafeSettings`` may list ``name``: a setting refused for safety, not one replstack manages."""
    if name in server.UNSAFE or name in server.UNSAFE_WHEN_ON or name in server.UNSAFE_WHEN_OFF:
        return True
    if name in server.PLUGIN_LOADERS or name in server.PATH_OPTIONS:
        return True
    return any(name.startswith(p) for p in server.UNSAFE_PREFIXES) and name in server.shipped().options


def _allowable_names() -> list[str]:
    names = sorted({*server.UNSAFE, *server.UNSAFE_WHEN_ON, *server.UNSAFE_WHEN_OFF, *server.PLUGIN_LOADERS})
    return names + [f"{p}* options" for p in server.UNSAFE_PREFIXES] + ["options naming a file or directory "
                                                                         "(general_log_file, ssl_cert, ...)"]
