"""The whole platform one environment describes, composed from the capability components."""

from __future__ import annotations

from typing import Mapping, Optional

import pulumi

from components.cluster import Cluster, ClusterArgs
from components.feature_store import FeatureStore, FeatureStoreArgs
from components.kubeflow_pipelines import KubeflowPipelines, KubeflowPipelinesArgs
from components.monitoring import Monitoring, MonitoringArgs
from components.ownership import Ownership
from components.serving import Serving, ServingArgs
from environments.spec import ResolvedModel, Spec


class Platform(pulumi.ComponentResource):
    """`models` maps each endpoint's name to its model version from the registry lock."""

    def __init__(self, name: str, spec: Spec, opts: Optional[pulumi.ResourceOptions] = None,
                 models: Optional[Mapping[str, ResolvedModel]] = None):
        super().__init__("stackyard:platform:Platform", name, None, opts)
        ownership = Ownership.of(spec)
        versions = spec.versions
        self.cluster = Cluster(f"{name}-cluster", ClusterArgs(spec.cluster, spec.cloud, versions, ownership),
                               pulumi.ResourceOptions(parent=self))
        on_cluster = pulumi.ResourceOptions(parent=self, providers={"kubernetes": self.cluster.provider})

        self.serving = Serving(f"{name}-serving", ServingArgs(
            spec.serving, versions, ownership, endpoints=spec.endpoints, models=dict(models or {}),
            teams=spec.teams, region=spec.cloud.region,
            # The compute issue gives Cluster its IAM OIDC provider (IRSA); until then
            # endpoints run without an IAM role, as on existing clusters.
            oidc_provider_arn=getattr(self.cluster, "oidc_provider_arn", None),
            oidc_issuer=getattr(self.cluster, "oidc_issuer", None)), on_cluster)
        self.feature_store = None
        if spec.feature_store.enabled:
            self.feature_store = FeatureStore(
                f"{name}-features", FeatureStoreArgs(spec.feature_store, versions, ownership), on_cluster)
        self.kubeflow = None
        if spec.kubeflow.enabled:
            self.kubeflow = KubeflowPipelines(
                f"{name}-pipelines", KubeflowPipelinesArgs(spec.kubeflow, spec.pipelines, versions, ownership),
                on_cluster)
        self.monitoring = None
        if spec.monitoring.enabled:
            self.monitoring = Monitoring(
                f"{name}-monitoring", MonitoringArgs(spec.monitoring, versions, ownership), on_cluster)
        self.register_outputs({})
