"""What monitoring must watch, derived from the same spec entries that create it.

Scrape targets, alert rules and dashboards are all generated from one
Watchlist, and the Watchlist is built from the spec's endpoints, node pools,
feature store and Kubeflow sections: a new entry there is watched without
anyone writing a rule. Pure data: no Pulumi.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional

from components.metrics_catalog import RequestSource
from components.metrics_catalog import load as load_catalog
from environments import spec as env

# Kubernetes names other components create, which monitoring selects by.
INFERENCE_SERVICE_LABEL = "serving.kserve.io/inferenceservice"
FEATURE_SERVER_NAME = "feast-feature-server"
DCGM_EXPORTER_NAME = "dcgm-exporter"
DCGM_EXPORTER_NAMESPACE = "kube-system"
PAYLOAD_LOGGER_NAME = "payload-logger"
KFP_API_SERVER = "ml-pipeline"  # Service and `app` label of the Kubeflow Pipelines API server
WORKFLOW_CONTROLLER = "workflow-controller"  # `app` label of Argo's controller pods in the KFP namespace


@dataclass(frozen=True)
class EndpointWatch:
    name: str
    namespace: str
    team: str
    slo: env.Slo
    drift: env.Drift
    payload_logging: bool
    serverless: bool
    source: RequestSource
    gpu_pool: Optional[str] = None
    rollout: Optional[env.Rollout] = None

    @property
    def selector(self) -> dict[str, str]:
        """Label matchers every series scraped from this endpoint's predictor pods carries."""
        return {"namespace": self.namespace, "inferenceservice": self.name}

    @property
    def deployment_pattern(self) -> str:
        """Its predictor Deployments: `<name>-predictor` (RawDeployment) or Knative revisions; in a
        rollout, also Flagger's copy `<name>-predictor-primary`, which serves while the original idles."""
        if self.rollout is not None:
            return f"{self.name}-predictor(-primary)?"
        return f"{self.name}-predictor(-[0-9]+-deployment)?"


@dataclass(frozen=True)
class GpuPoolWatch:
    name: str
    # USD per GPU-hour; None until a price is known for the pool's instance types.
    hourly_price_per_gpu: Optional[float] = None


@dataclass(frozen=True)
class FeatureStoreWatch:
    namespace: str
    materialization_schedule: str


@dataclass(frozen=True)
class PipelinesWatch:
    namespace: str


@dataclass(frozen=True)
class Watchlist:
    monitoring_namespace: str
    runbook_base_url: str
    endpoints: tuple[EndpointWatch, ...] = ()
    gpu_pools: tuple[GpuPoolWatch, ...] = ()
    feature_store: Optional[FeatureStoreWatch] = None
    pipelines: Optional[PipelinesWatch] = None

    @property
    def drift_endpoints(self) -> tuple[EndpointWatch, ...]:
        return tuple(endpoint for endpoint in self.endpoints if endpoint.drift.enabled)


def build(monitoring: env.Monitoring, serving: env.Serving, endpoints: tuple[env.Endpoint, ...],
          node_pools: tuple[env.NodePool, ...], feature_store: env.FeatureStore,
          kubeflow: env.KubeflowPipelines,
          gpu_hourly_prices: Mapping[str, float]) -> Watchlist:
    """The Watchlist of one environment. `gpu_hourly_prices`: pool name -> USD per GPU-hour."""
    catalog = load_catalog()
    runtime_images = {runtime.name: runtime.image for runtime in serving.runtimes}

    def watch(endpoint: env.Endpoint) -> EndpointWatch:
        serverless = (endpoint.deployment_mode or serving.deployment_mode) == "Serverless"
        return EndpointWatch(
            name=endpoint.name,
            namespace=serving.namespace,
            team=endpoint.team,
            slo=endpoint.slo,
            drift=endpoint.drift,
            payload_logging=endpoint.payload_logging,
            serverless=serverless,
            source=catalog.request_source(runtime_images.get(endpoint.runtime), serverless),
            gpu_pool=endpoint.gpu.pool if endpoint.gpu else None,
            rollout=endpoint.rollout,
        )

    return Watchlist(
        monitoring_namespace=monitoring.namespace,
        runbook_base_url=monitoring.runbook_base_url,
        endpoints=tuple(watch(endpoint) for endpoint in endpoints),
        gpu_pools=tuple(GpuPoolWatch(pool.name, gpu_hourly_prices.get(pool.name)) for pool in node_pools),
        feature_store=(FeatureStoreWatch(feature_store.namespace, feature_store.materialization_schedule)
                       if feature_store.enabled else None),
        pipelines=PipelinesWatch(kubeflow.namespace) if kubeflow.enabled else None,
    )
