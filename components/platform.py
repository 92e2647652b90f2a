"""The whole platform one environment describes, composed from the capability components."""

from __future__ import annotations

from typing import Mapping, Optional, Sequence

import pulumi

from components.cluster import Cluster, ClusterArgs
from components.cluster_autoscaler import ClusterAutoscaler, ClusterAutoscalerArgs
from components.drift import pushgateway_url
from components.feature_store import FeatureStore, FeatureStoreArgs, StoreNetwork
from components.gpu_node_pool import GpuNodePool, GpuNodePoolArgs
from components.gpu_software import GpuSoftware, GpuSoftwareArgs
from components.karpenter import Karpenter, KarpenterArgs
from components.kubeflow_pipelines import KubeflowPipelines, KubeflowPipelinesArgs
from components.monitoring import Monitoring, MonitoringArgs
from components.ownership import Ownership
from components.rollouts import Rollouts, RolloutsArgs
from components.serving import Serving, ServingArgs
from components.teams import Teams, TeamsArgs
from environments import gpu_catalog
from environments.spec import ResolvedModel, Spec
from environments.compiled_pipeline import CompiledPipeline


def pipeline_platform_env(spec: Spec) -> dict[str, str]:
    """What pipeline steps get from the `stackyard-platform` ConfigMap: where MLflow and the Pushgateway are."""
    return {
        "STACKYARD_ENVIRONMENT": spec.name,
        "MLFLOW_TRACKING_URI": spec.serving.registry.tracking_uri if spec.serving.registry else "",
        "PUSHGATEWAY_URL": pushgateway_url(spec.monitoring.namespace) if spec.monitoring.enabled else "",
    }


def gpu_hourly_prices(spec: Spec) -> dict[str, float]:
    """Pool -> on-demand USD per GPU-hour (the priciest instance type of the pool), for cost dashboards."""
    prices = {}
    for pool in spec.node_pools:
        instances = gpu_catalog.catalog().lookup(pool.instance_types)
        if instances:
            prices[pool.name] = max(i.on_demand_hourly_usd / i.gpus for i in instances)
    return prices


def _feature_store_cluster_inputs(cluster: Cluster) -> dict:
    """The network and IRSA inputs of the feature store, from the EKS cluster (none for an existing one)."""
    if cluster.eks_cluster is None:
        return {}
    return {
        "network": StoreNetwork(vpc_id=cluster.eks_cluster.vpc_config.vpc_id, subnet_ids=cluster.private_subnet_ids,
                                client_security_group_id=cluster.security_group_id),
        "oidc_issuer": cluster.oidc_issuer,
        "oidc_provider_arn": cluster.oidc_provider_arn,
    }


class Platform(pulumi.ComponentResource):
    """`models` maps each endpoint's name to its model version from the registry lock."""

    def __init__(self, name: str, spec: Spec, opts: Optional[pulumi.ResourceOptions] = None,
                 compiled_pipelines: Sequence[CompiledPipeline] = (),
                 models: Optional[Mapping[str, ResolvedModel]] = None):
        super().__init__("stackyard:platform:Platform", name, None, opts)
        ownership = Ownership.of(spec)
        versions = spec.versions
        self.cluster = Cluster(f"{name}-cluster", ClusterArgs(spec.cluster, spec.cloud, versions, ownership),
                               pulumi.ResourceOptions(parent=self))
        on_cluster = pulumi.ResourceOptions(parent=self, providers={"kubernetes": self.cluster.provider})
        self._compute(name, spec, ownership, on_cluster)

        self.serving = Serving(f"{name}-serving", ServingArgs(
            spec.serving, versions, ownership, endpoints=spec.endpoints, models=dict(models or {}),
            teams=spec.teams, region=spec.cloud.region,
            oidc_provider_arn=self.cluster.oidc_provider_arn, oidc_issuer=self.cluster.oidc_issuer), on_cluster)
        self.feature_store = None
        if spec.feature_store.enabled:
            self.feature_store = FeatureStore(
                f"{name}-features", FeatureStoreArgs(spec.feature_store, spec.cloud, versions, ownership,
                                                     **_feature_store_cluster_inputs(self.cluster)),
                on_cluster)
        self.kubeflow = None
        if spec.kubeflow.enabled:
            self.kubeflow = KubeflowPipelines(
                f"{name}-pipelines", KubeflowPipelinesArgs(
                    spec.kubeflow, spec.pipelines, versions, ownership, cloud=spec.cloud,
                    compiled=tuple(compiled_pipelines), platform_env=pipeline_platform_env(spec),
                    oidc_provider_arn=self.cluster.oidc_provider_arn, oidc_issuer=self.cluster.oidc_issuer),
                on_cluster)
        self.monitoring = None
        if spec.monitoring.enabled:
            # Watches what the components above create, from the same spec entries; GPU prices
            # (pool -> USD per GPU-hour) from the GPU catalog price the cost panels and idle alerts.
            # It waits for Serving because the payload logger sink lives in the serving namespace.
            self.monitoring = Monitoring(
                f"{name}-monitoring",
                MonitoringArgs(spec.monitoring, versions, ownership, serving=spec.serving, endpoints=spec.endpoints,
                               node_pools=spec.node_pools, feature_store=spec.feature_store,
                               kubeflow=spec.kubeflow, pipelines=spec.pipelines,
                               gpu_hourly_prices=gpu_hourly_prices(spec)),
                pulumi.ResourceOptions(parent=self, providers={"kubernetes": self.cluster.provider},
                                       depends_on=[self.serving]))
        self.rollouts = None
        rolling = [watch for watch in (self.monitoring.watchlist.endpoints if self.monitoring else ())
                   if watch.rollout is not None]
        if rolling:
            # Judged on the monitoring stack's Prometheus; the spec checks require both (environments/checks.py).
            self.rollouts = Rollouts(
                f"{name}-rollouts",
                RolloutsArgs(tuple(rolling), spec.serving.gateway, spec.serving.domain, spec.monitoring.namespace,
                             spec.serving.namespace, versions.flagger, ownership),
                pulumi.ResourceOptions(parent=self, providers={"kubernetes": self.cluster.provider},
                                       depends_on=[self.serving, self.monitoring]))
        self.register_outputs({})

    def _compute(self, name: str, spec: Spec, ownership: Ownership, on_cluster: pulumi.ResourceOptions) -> None:
        """GPU pools with what makes them usable (autoscaler, device plugin, metrics) and team namespaces."""
        versions = spec.versions
        cluster_name, region = spec.cluster.name, spec.cloud.region
        self.teams = Teams(f"{name}-teams", TeamsArgs(spec.teams, ownership), on_cluster) if spec.teams else None
        self.karpenter = None
        if any(pool.provisioner == "karpenter" for pool in spec.node_pools):
            self.karpenter = Karpenter(
                f"{name}-karpenter",
                KarpenterArgs(cluster_name, region, versions.karpenter, self.cluster, ownership), on_cluster)
        self.cluster_autoscaler = None
        if any(pool.provisioner == "managed" for pool in spec.node_pools):
            self.cluster_autoscaler = ClusterAutoscaler(
                f"{name}-cluster-autoscaler",
                ClusterAutoscalerArgs(cluster_name, region, versions.cluster_autoscaler, versions.kubernetes,
                                      self.cluster, ownership), on_cluster)
        self.gpu_node_pools = [
            GpuNodePool(f"{name}-pool-{pool.name}",
                        GpuNodePoolArgs(pool, cluster_name, self.cluster, ownership, self.karpenter), on_cluster)
            for pool in spec.node_pools
        ]
        self.gpu_software = None
        if spec.node_pools:
            self.gpu_software = GpuSoftware(f"{name}-gpu-software",
                                            GpuSoftwareArgs(spec.node_pools, versions, ownership), on_cluster)
