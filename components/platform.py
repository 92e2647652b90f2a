"""The whole platform one environment describes, composed from the capability components."""

from __future__ import annotations

from typing import Optional, Sequence

import pulumi
import pulumi_aws as aws

from components.cluster import Cluster, ClusterArgs
from components.feature_store import FeatureStore, FeatureStoreArgs
from components.kubeflow_pipelines import KubeflowPipelines, KubeflowPipelinesArgs
from components.monitoring import Monitoring, MonitoringArgs
from components.ownership import Ownership
from components.serving import Serving, ServingArgs
from environments.spec import Spec
from pipelines.compile import CompiledPipeline


def _oidc_provider(cluster: Cluster, spec: Spec) -> tuple[Optional[pulumi.Output], Optional[pulumi.Output]]:
    """The cluster's IAM OIDC provider ARN and issuer URL (for IRSA), when it is an EKS cluster.

    The compute component publishes them as `oidc_provider_arn` / `oidc_issuer`; where it does
    not (yet), they follow from the EKS issuer the way IAM names every OIDC provider.
    """
    if cluster.eks_cluster is None:
        return None, None
    if hasattr(cluster, "oidc_provider_arn"):
        return cluster.oidc_provider_arn, cluster.oidc_issuer
    issuer = cluster.eks_cluster.identities.apply(lambda identities: identities[0].oidcs[0].issuer)
    account = spec.cloud.account_id or aws.get_caller_identity_output().account_id
    arn = pulumi.Output.all(account, issuer).apply(
        lambda parts: f"arn:aws:iam::{parts[0]}:oidc-provider/{parts[1].removeprefix('https://')}")
    return arn, issuer


def pipeline_platform_env(spec: Spec) -> dict[str, str]:
    """What pipeline steps get from the `stackyard-platform` ConfigMap: where MLflow and the Pushgateway are."""
    return {
        "STACKYARD_ENVIRONMENT": spec.name,
        "MLFLOW_TRACKING_URI": spec.serving.registry.tracking_uri if spec.serving.registry else "",
        "PUSHGATEWAY_URL": (f"http://prometheus-pushgateway.{spec.monitoring.namespace}.svc.cluster.local:9091"
                            if spec.monitoring.enabled else ""),
    }


class Platform(pulumi.ComponentResource):
    def __init__(self, name: str, spec: Spec, opts: Optional[pulumi.ResourceOptions] = None,
                 compiled_pipelines: Sequence[CompiledPipeline] = ()):
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
            oidc_provider_arn, oidc_issuer = _oidc_provider(self.cluster, spec)
            self.kubeflow = KubeflowPipelines(
                f"{name}-pipelines", KubeflowPipelinesArgs(
                    spec.kubeflow, spec.pipelines, versions, ownership, cloud=spec.cloud,
                    compiled=tuple(compiled_pipelines), platform_env=pipeline_platform_env(spec),
                    oidc_provider_arn=oidc_provider_arn, oidc_issuer=oidc_issuer),
                on_cluster)
        self.monitoring = None
        if spec.monitoring.enabled:
            self.monitoring = Monitoring(
                f"{name}-monitoring", MonitoringArgs(spec.monitoring, versions, ownership), on_cluster)
        self.register_outputs({})
