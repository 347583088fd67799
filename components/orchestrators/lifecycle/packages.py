"""Server packages on a service's host: what a lifecycle needs there, checked before anything is made, and
installed with the host's package manager when the stack allows it (``onpremise.installPackages``)."""

from __future__ import annotations

from typing import Mapping

from components.orchestrators.hosts import Host

# The Debian package that ships each binary a lifecycle runs.
PACKAGES = {"mariadbd": "mariadb-server", "mariadb-install-db": "mariadb-server", "haproxy": "haproxy"}
# Keeps a package's own service from starting when it is installed: replstack starts its own processes.
NO_SERVICE_START = "#!/bin/sh\nexit 101\n"


class PackagesMissing(RuntimeError):
    """A binary a service needs is not on its host."""


def ensure_installed(host: Host, binaries: Mapping[str, str], install: bool, where: str) -> None:
    """Every binary (``{name: path}``) is an executable on ``host``; when some are not, they are installed
    (``install``) with apt-get, or the error lists them with their packages."""
    missing = {name: path for name, path in binaries.items() if not _executable(host, path)}
    if not missing:
        return
    packages = sorted({PACKAGES.get(name, name) for name in missing})
    listed = ", ".join(f"{name} ({path})" for name, path in sorted(missing.items()))
    if not install:
        raise PackagesMissing(f"{where}: missing {listed}; install {' '.join(packages)} there, or set "
                              "onpremise.installPackages: true")
    policy = "/usr/sbin/policy-rc.d"
    added = not host.exists(policy)
    if added:
        host.write_file(policy, NO_SERVICE_START, mode=0o755)
    try:
        host.run(["env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "-q",
                  "--no-install-recommends", *packages], timeout=1800)
    finally:
        if added:
            host.remove_tree(policy)
    still = [name for name, path in missing.items() if not _executable(host, path)]
    if still:
        raise PackagesMissing(f"{where}: installed {' '.join(packages)} but {', '.join(still)} is still missing")


def _executable(host: Host, path: str) -> bool:
    try:
        host.run(["test", "-x", path], timeout=30)
    except Exception:  # noqa: BLE001  (a failing test means not there)
        return False
    return True
