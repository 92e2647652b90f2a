"""ServiceMonitors and PodMonitors (prometheus-operator) for everything the Watchlist names.

All live in the monitoring namespace and reach across with namespaceSelector,
so one place holds what Prometheus scrapes. Label conventions they rely on,
set by the components that create the targets:

- InferenceService predictor pods carry `serving.kserve.io/inferenceservice:
  <endpoint>` (KServe sets it); the PodMonitor scrapes the request source's
  port (metrics_catalog.yaml) and copies that label to `inferenceservice`.
- The Feast feature server Service is labelled `app.kubernetes.io/name:
  feast-feature-server` with a port named `metrics`.
- Kubeflow Pipelines (components/kfp_install.py): Service `ml-pipeline`
  (`app: ml-pipeline`, port `http`), and the Argo workflow controller's pods
  (`app: workflow-controller`, container port `metrics`), which have no Service.
- The DCGM exporter Service in kube-system, `app.kubernetes.io/name:
  dcgm-exporter`, port `metrics`. GPU pool identity reaches its series through
  the node: `attachMetadata.node` lets relabeling read the node's labels, and
  the pool label `stackyard.dev/pool` (set on every GPU node by its pool)
  becomes the `pool` label of every DCGM series.

Pure functions returning (kind, name, labels, spec); no Pulumi.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from environments.gpu_scheduling import POOL_LABEL
from components.watchlist import (DCGM_EXPORTER_NAME, DCGM_EXPORTER_NAMESPACE, FEATURE_SERVER_NAME,
                                  INFERENCE_SERVICE_LABEL, KFP_API_SERVER, PAYLOAD_LOGGER_NAME, WORKFLOW_CONTROLLER,
                                  EndpointWatch, Watchlist)
from environments.spec import SHADOW

SCRAPE_INTERVAL = "30s"
PUSHGATEWAY_NAME = "pushgateway"
PUSHGATEWAY_PORT = 9091


def meta_label(prefix: str, label: str) -> str:
    """The Prometheus service-discovery meta label of a Kubernetes label: dots and slashes become _."""
    return prefix + "".join(ch if ch.isalnum() else "_" for ch in label)


@dataclass(frozen=True)
class ScrapeTarget:
    kind: str  # ServiceMonitor | PodMonitor
    name: str
    labels: Mapping[str, str]
    spec: dict


def endpoint_pod_monitor(endpoint: EndpointWatch) -> ScrapeTarget:
    source = endpoint.source
    return ScrapeTarget("PodMonitor", f"endpoint-{endpoint.name}", {"stackyard.dev/endpoint": endpoint.name}, {
        "selector": {"matchLabels": {INFERENCE_SERVICE_LABEL: endpoint.name}},
        "namespaceSelector": {"matchNames": [endpoint.namespace]},
        "podMetricsEndpoints": [{
            "portNumber": source.port,
            "path": source.path,
            "interval": SCRAPE_INTERVAL,
            "relabelings": [
                {"sourceLabels": [meta_label("__meta_kubernetes_pod_label_", INFERENCE_SERVICE_LABEL)],
                 "targetLabel": "inferenceservice", "action": "replace"},
                {"sourceLabels": ["__meta_kubernetes_pod_node_name"], "targetLabel": "node", "action": "replace"},
            ],
        }],
    })


def _service_monitor(name: str, labels: Mapping[str, str], namespace: str, match_labels: Mapping[str, str],
                     port: str, **endpoint_options) -> ScrapeTarget:
    return ScrapeTarget("ServiceMonitor", name, labels, {
        "selector": {"matchLabels": dict(match_labels)},
        "namespaceSelector": {"matchNames": [namespace]},
        "endpoints": [{"port": port, "path": "/metrics", "interval": SCRAPE_INTERVAL, **endpoint_options}],
    })


def dcgm_service_monitor() -> ScrapeTarget:
    target = _service_monitor(
        "dcgm-exporter", {"stackyard.dev/gpu": "dcgm"}, DCGM_EXPORTER_NAMESPACE,
        {"app.kubernetes.io/name": DCGM_EXPORTER_NAME}, "metrics",
        # DCGM labels each series with the pod/namespace using the GPU: keep those.
        honorLabels=True,
        relabelings=[
            {"sourceLabels": ["__meta_kubernetes_pod_node_name"], "targetLabel": "node", "action": "replace"},
            {"sourceLabels": [meta_label("__meta_kubernetes_node_label_", POOL_LABEL)], "targetLabel": "pool",
             "action": "replace"},
        ])
    target.spec["attachMetadata"] = {"node": True}
    target.spec["jobLabel"] = "app.kubernetes.io/name"
    return target


def pushgateway_service_monitor(monitoring_namespace: str) -> ScrapeTarget:
    # honorLabels: the pushed job/endpoint labels must win over the Pushgateway's own target labels.
    return _service_monitor("pushgateway", {"stackyard.dev/drift": "pushgateway"}, monitoring_namespace,
                            {"app.kubernetes.io/name": "prometheus-pushgateway",
                             "app.kubernetes.io/instance": PUSHGATEWAY_NAME}, "http", honorLabels=True)


def scrape_targets(watchlist: Watchlist) -> list[ScrapeTarget]:
    targets = [endpoint_pod_monitor(endpoint) for endpoint in watchlist.endpoints]
    if watchlist.gpu_pools:
        targets.append(dcgm_service_monitor())
    if watchlist.feature_store:
        feature_server = _service_monitor(
            FEATURE_SERVER_NAME, {"stackyard.dev/feature-store": "feast"}, watchlist.feature_store.namespace,
            {"app.kubernetes.io/name": FEATURE_SERVER_NAME}, "metrics")
        feature_server.spec["jobLabel"] = "app.kubernetes.io/name"
        targets.append(feature_server)
    if watchlist.pipelines:
        namespace = watchlist.pipelines.namespace
        labels = {"stackyard.dev/pipelines": "kubeflow"}
        targets += [
            _service_monitor("kfp-api-server", labels, namespace, {"app": KFP_API_SERVER}, "http"),
            ScrapeTarget("PodMonitor", "kfp-workflow-controller", labels, {
                "selector": {"matchLabels": {"app": WORKFLOW_CONTROLLER}},
                "namespaceSelector": {"matchNames": [namespace]},
                "jobLabel": "app",
                "podMetricsEndpoints": [{"port": "metrics", "path": "/metrics", "interval": SCRAPE_INTERVAL}],
            }),
        ]
    shadowed = [endpoint for endpoint in watchlist.endpoints
                if endpoint.rollout is not None and endpoint.rollout.strategy == SHADOW]
    if shadowed:
        # The sink counts the disagreements between stable and candidate answers of shadow rollouts.
        targets.append(_service_monitor(PAYLOAD_LOGGER_NAME, {"stackyard.dev/rollout": "shadow"},
                                        shadowed[0].namespace, {"app.kubernetes.io/name": PAYLOAD_LOGGER_NAME},
                                        "http"))
    targets.append(pushgateway_service_monitor(watchlist.monitoring_namespace))
    return targets
