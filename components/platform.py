"""The whole platform one environment describes, composed from the capability components."""

from __future__ import annotations

from typing import Optional

import pulumi

from components.cluster import Cluster, ClusterArgs
from components.feature_store import FeatureStore, FeatureStoreArgs
from components.kubeflow_pipelines import KubeflowPipelines, KubeflowPipelinesArgs
from components.monitoring import Monitoring, MonitoringArgs
from components.ownership import Ownership
from components.serving import Serving, ServingArgs
from environments.spec import Spec


class Platform(pulumi.ComponentResource):
    def __init__(self, name: str, spec: Spec, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("stackyard:platform:Platform", name, None, opts)
        ownership = Ownership.of(spec)
        versions = spec.versions
        self.cluster = Cluster(f"{name}-cluster", ClusterArgs(spec.cluster, spec.cloud, versions, ownership),
                               pulumi.ResourceOptions(parent=self))
        on_cluster = pulumi.ResourceOptions(parent=self, providers={"kubernetes": self.cluster.provider})

        self.serving = Serving(f"{name}-serving", ServingArgs(spec.serving, versions, ownership), on_cluster)
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
            # Watches what the components above create, from the same spec entries. GPU prices
            # (pool -> USD per GPU-hour) come from the compute price catalog once it exists.
            # It waits for Serving because the payload logger sink lives in the serving namespace.
            self.monitoring = Monitoring(
                f"{name}-monitoring",
                MonitoringArgs(spec.monitoring, versions, ownership, serving=spec.serving, endpoints=spec.endpoints,
                               node_pools=spec.node_pools, feature_store=spec.feature_store,
                               kubeflow=spec.kubeflow, gpu_hourly_prices={}),
                pulumi.ResourceOptions(parent=self, providers={"kubernetes": self.cluster.provider},
                                       depends_on=[self.serving]))
        self.register_outputs({})
