"""replstack: read the stack's settings, build the cluster, export its endpoints."""

from pathlib import Path

import pulumi
import pulumi.runtime

from components.cluster import ReplicationCluster
from components.orchestrators import orchestrator_for
from components.spec import SpecError, config_from_pulumi_env, load_spec

try:
    spec = load_spec(config_from_pulumi_env(pulumi.runtime.get_config_env()))
except SpecError as error:
    # Reported before any resource is registered: nothing is touched.
    raise pulumi.RunError(f"invalid stack configuration:\n{error}") from None

if spec.plan_notice:
    pulumi.log.warn(spec.plan_notice)

cluster_name = f"{pulumi.get_project()}-{pulumi.get_stack()}"
orchestrator = orchestrator_for(spec, cluster_name, Path.cwd())
cluster = ReplicationCluster(cluster_name, spec, orchestrator)

pulumi.export("writeEndpoint", cluster.write_endpoint)
pulumi.export("readEndpoint", cluster.read_endpoint)
pulumi.export("primary", cluster.primary)
pulumi.export("nodes", cluster.nodes)
pulumi.export("proxies", cluster.proxies)
pulumi.export("rootUser", cluster.root_user)
pulumi.export("rootPassword", cluster.root_password)
if cluster.monitoring_password is not None:
    pulumi.export("monitoringUser", spec.bootstrap.monitoring_user)
    pulumi.export("monitoringPassword", cluster.monitoring_password)
for role, (user, secret) in cluster.accounts.items():
    pulumi.export(f"{role}User", user)
    pulumi.export(f"{role}Password", secret)
