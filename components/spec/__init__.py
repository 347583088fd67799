"""The typed model of a replstack stack, and the one place where stack input is validated.

A stack file sets keys under the ``replstack`` namespace (``replstack:database``, ``replstack:proxies``, ...).
``load_spec`` turns them into a ``ClusterSpec`` before any resource is registered; every problem is reported
at once, each line naming the key path, the bad value and what is allowed, so that a failed ``preview`` says
exactly what to fix and nothing has been touched.

Beyond types and ranges it refuses what would be unsafe or would fail late (docs/security.md lists each rule):
``database.settings`` that are not whole option names of the server, that span lines, that replstack manages
or that weaken the server (unless ``database.allowUnsafeSettings`` lists them); reserved or colliding account
names; and, for the local orchestrator, what this host cannot give: a system or foreign ``baseDir``, missing
binaries, more memory than it has (read through ``HostFacts``).

The model is split by section: ``base`` (namespace, errors, host facts, path rules), ``resources`` (network,
disk, snapshots), ``database``, ``proxies``, ``bootstrap``, ``local``, ``stack`` (``ClusterSpec``) and
``loading`` (``load_spec``); everything public is importable from here.
"""

from __future__ import annotations

from components.spec.base import (NAMESPACE, Orchestrator, ProxyKind, Flavor, Topology, IMPLEMENTED_ORCHESTRATORS,
                                  IMPLEMENTED_PROXIES, IMPLEMENTED_FLAVORS, RESERVED_ACCOUNTS, USER_KEYS,
                                  SYSTEM_TREES, SYSTEM_DIRS, CLUSTER_CATALOG, CLUSTER_OWNER, GENERATED_CONFIGS,
                                  GENERATED_MARKER, SERVER_BINARIES, BINARIES, SpecError, HostFacts, host_networks)
from components.spec.resources import (NetworkSpec, FS_COMPRESSION, POOL_FILESYSTEMS, DiskSpec, SnapshotSpec)
from components.spec.database import DatabaseSpec
from components.spec.proxies import ProxySpec
from components.spec.bootstrap import (SysbenchSpec, SponsorUserSpec, AppUserSpec, LoadSpec, BootstrapSpec,
                                       account_collisions)
from components.spec.local import LocalSpec
from components.spec.stack import (POLICY_RULES, PolicyOverride, ClusterSpec)
from components.spec.loading import (config_from_pulumi_env, RM_ALIASES, load_spec)

__all__ = [
    'NAMESPACE', 'Orchestrator', 'ProxyKind', 'Flavor', 'Topology', 'IMPLEMENTED_ORCHESTRATORS',
    'IMPLEMENTED_PROXIES', 'IMPLEMENTED_FLAVORS', 'RESERVED_ACCOUNTS', 'USER_KEYS', 'SYSTEM_TREES', 'SYSTEM_DIRS',
    'CLUSTER_CATALOG', 'CLUSTER_OWNER', 'GENERATED_CONFIGS', 'GENERATED_MARKER', 'SERVER_BINARIES', 'BINARIES',
    'SpecError', 'HostFacts', 'host_networks', 'NetworkSpec', 'FS_COMPRESSION', 'POOL_FILESYSTEMS', 'DiskSpec',
    'SnapshotSpec', 'DatabaseSpec', 'ProxySpec', 'SysbenchSpec', 'SponsorUserSpec', 'AppUserSpec', 'LoadSpec',
    'BootstrapSpec', 'account_collisions', 'LocalSpec', 'POLICY_RULES', 'PolicyOverride', 'ClusterSpec',
    'config_from_pulumi_env', 'RM_ALIASES', 'load_spec'
]
