"""Endpoint rollouts: Flagger, one Canary per endpoint with a `rollout`, and the gate's MetricTemplates.

Why Flagger (docs/rollouts.md has the comparison): KServe's `canaryTrafficPercent`
needs Knative (Serverless), and its RawDeployment `spec.canary` (v0.20.0) is a
hand-stepped replica split without analysis or mirroring; the shipped endpoints run
as RawDeployment, i.e. a plain Deployment `<name>-predictor`. Flagger drives a
Deployment through a Gateway API HTTPRoute (`provider: gatewayapi:v1`) with all
three strategies in one CRD: weighted steps (canary), a test phase followed by
one switch (blue-green) and RequestMirror (shadow). It judges each step on
Prometheus queries and rolls back on its own; Stackyard writes no controller.

How the pieces meet: Flagger copies `<name>-predictor` to
`<name>-predictor-primary` (the stable version, with a copy of KServe's HPA) and
routes the HTTPRoute `<name>-rollout` on the spec's Gateway to it. When `stackyard
up` changes the InferenceService (a new model version from the lock), KServe
updates `<name>-predictor`, Flagger sees the new pod template and starts the
rollout of that candidate. KServe's Deployment reconciler ignores the replica
count when an HPA scales the predictor (kserve v0.20.0, deployment_reconciler.go),
so Flagger may scale the idle candidate to zero.

The gate's PromQL is in the endpoint's PrometheusRule (components/rollout_gate.py);
each MetricTemplate reads one recorded series. Builders are pure; `Rollouts` wires them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional

import pulumi
import pulumi_kubernetes as k8s

from components import rollout_gate
from components.network_isolation import allow_ingress, namespace_peer
from components.ownership import Ownership
from components.serving_endpoint import ISVC_POD_LABEL, PREDICTOR_PORT
from components.watchlist import EndpointWatch
from environments import spec as env

FLAGGER_API_VERSION = "flagger.app/v1beta1"
FLAGGER_CHART_REPOSITORY = "https://flagger.app"
FLAGGER_NAMESPACE = "flagger-system"
FLAGGER_PROVIDER = "gatewayapi:v1"
# kube-prometheus-stack's Prometheus Service (release `kube-prometheus-stack`, port 9090) and the label
# its pods carry (the chart's templates/prometheus/service.yaml selector).
PROMETHEUS_SERVICE = "kube-prometheus-stack-prometheus"
PROMETHEUS_POD_LABELS = {"app.kubernetes.io/name": "prometheus"}
PROMETHEUS_PORT = 9090
SERVICE_PORT = 80  # KServe's predictor Service port (CommonDefaultHttpPort), to the container's 8080
PROGRESS_DEADLINE_SECONDS = 900


def prometheus_url(monitoring_namespace: str) -> str:
    return f"http://{PROMETHEUS_SERVICE}.{monitoring_namespace}.svc.cluster.local:{PROMETHEUS_PORT}"


def route_name(endpoint: str) -> str:
    """Flagger's Services and HTTPRoute for an endpoint: `<name>-rollout`, `-primary`, `-canary`.

    Not Flagger's default (the target's name): KServe owns the Service `<name>-predictor`.
    """
    return f"{endpoint}-rollout"


def candidate_url(endpoint: EndpointWatch) -> str:
    """Flagger's Service of the candidate alone (`<route>-canary`), for tests that must reach it."""
    return f"http://{route_name(endpoint.name)}-canary.{endpoint.namespace}.svc.cluster.local"


def flagger_values(monitoring_namespace: str, labels: Mapping[str, str]) -> dict:
    """Helm values of the Flagger chart: Gateway API routing, the stack's Prometheus, its ServiceMonitor.

    `crd.create` renders the CRDs as templates (the release is installed with skip_crds), so they
    upgrade with the chart: Helm never upgrades what a chart ships in crds/.
    """
    return {
        "crd": {"create": True},
        "meshProvider": FLAGGER_PROVIDER,
        "metricsServer": prometheus_url(monitoring_namespace),
        "serviceMonitor": {"enabled": True, "honorLabels": True},
        "podLabels": dict(labels),
    }


def metric_template(endpoint: str, namespace: str, check: rollout_gate.GateCheck, prometheus: str,
                    labels: Mapping[str, str]) -> dict:
    return {
        "apiVersion": FLAGGER_API_VERSION,
        "kind": "MetricTemplate",
        "metadata": {"name": f"{endpoint}-{check.name}", "namespace": namespace, "labels": dict(labels)},
        "spec": {"provider": {"type": "prometheus", "address": prometheus},
                 "query": rollout_gate.gate_query(endpoint, check)},
    }


def canary(endpoint: EndpointWatch, gateway: env.GatewayRef, domain: Optional[str],
           labels: Mapping[str, str]) -> dict:
    """The Flagger Canary running `endpoint`'s rollout strategy on its predictor Deployment."""
    rollout = endpoint.rollout
    interval = f"{rollout.interval_minutes}m"
    analysis: dict = {"interval": interval, "threshold": rollout.failure_limit}
    if rollout.strategy == env.CANARY:
        analysis["stepWeights"] = list(rollout.step_weights)
    else:
        analysis["iterations"] = rollout.checks
        if rollout.strategy == env.SHADOW:
            analysis["mirror"] = True  # a RequestMirror filter to the candidate; its answers are dropped
    analysis["metrics"] = [
        {"name": check.name, "templateRef": {"name": f"{endpoint.name}-{check.name}", "namespace": endpoint.namespace},
         "thresholdRange": {"max": check.limit}, "interval": interval}
        for check in rollout_gate.checks(endpoint)]
    if rollout.test_webhook:
        # Flagger calls `rollout` webhooks before every check; the body's metadata says what to test.
        analysis["webhooks"] = [{"name": "tests", "type": "rollout", "url": rollout.test_webhook,
                                 "timeout": "60s",
                                 "metadata": {"endpoint": endpoint.name, "candidateUrl": candidate_url(endpoint)}}]
    deployment = rollout_gate.predictor_deployment(endpoint.name)
    service: dict = {
        "name": route_name(endpoint.name),
        "port": SERVICE_PORT,
        "targetPort": PREDICTOR_PORT,
        "gatewayRefs": [{"name": gateway.name, "namespace": gateway.namespace}],
    }
    if domain:
        service["hosts"] = [f"{endpoint.name}.{domain}"]
    return {
        "apiVersion": FLAGGER_API_VERSION,
        "kind": "Canary",
        "metadata": {"name": endpoint.name, "namespace": endpoint.namespace, "labels": dict(labels)},
        "spec": {
            "provider": FLAGGER_PROVIDER,
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment},
            # KServe's HPA of the predictor (same name); Flagger gives the primary a copy.
            "autoscalerRef": {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "name": deployment},
            "progressDeadlineSeconds": PROGRESS_DEADLINE_SECONDS,
            "service": service,
            "analysis": analysis,
        },
    }


def rollout_objects(endpoint: EndpointWatch, gateway: env.GatewayRef, domain: Optional[str],
                    monitoring_namespace: str, labels: Mapping[str, str]) -> list[dict]:
    """The MetricTemplates of the endpoint's gate, then its Canary."""
    prometheus = prometheus_url(monitoring_namespace)
    templates = [metric_template(endpoint.name, endpoint.namespace, check, prometheus, labels)
                 for check in rollout_gate.checks(endpoint)]
    return [*templates, canary(endpoint, gateway, domain, labels)]


@dataclass(frozen=True)
class RolloutsArgs:
    endpoints: tuple[EndpointWatch, ...]  # those with a rollout
    gateway: env.GatewayRef
    domain: Optional[str]
    monitoring_namespace: str
    serving_namespace: str
    flagger_version: str
    ownership: Ownership


class Rollouts(pulumi.ComponentResource):
    """Flagger and the Canary and MetricTemplates of every endpoint with a rollout."""

    def __init__(self, name: str, args: RolloutsArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("stackyard:serving:Rollouts", name, None, opts)
        labels = args.ownership.labels("rollouts")
        flagger = k8s.helm.v3.Release(
            f"{name}-flagger", name="flagger", chart="flagger", version=args.flagger_version,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=FLAGGER_CHART_REPOSITORY),
            namespace=FLAGGER_NAMESPACE, create_namespace=True, skip_crds=True,
            values=flagger_values(args.monitoring_namespace, labels),
            opts=pulumi.ResourceOptions(parent=self))
        # The namespaces are isolated (components/network_isolation.py): the Gateway reaches the predictors
        # through Flagger's Services, and Flagger asks Prometheus for the gate's series.
        child = pulumi.ResourceOptions(parent=self)
        allow_ingress(f"{name}-allow-gateway", args.serving_namespace, "allow-rollout-gateway", labels,
                      {"matchExpressions": [{"key": ISVC_POD_LABEL, "operator": "Exists"}]},
                      [namespace_peer(args.gateway.namespace)], child, ports=[PREDICTOR_PORT])
        allow_ingress(f"{name}-allow-flagger", args.monitoring_namespace, "allow-flagger", labels,
                      {"matchLabels": dict(PROMETHEUS_POD_LABELS)}, [namespace_peer(FLAGGER_NAMESPACE)], child,
                      ports=[PROMETHEUS_PORT])
        after_flagger = pulumi.ResourceOptions(parent=self, depends_on=[flagger])
        for endpoint in args.endpoints:
            for body in rollout_objects(endpoint, args.gateway, args.domain, args.monitoring_namespace, labels):
                k8s.apiextensions.CustomResource(
                    f"{name}-{endpoint.name}-{body['kind'].lower()}-{body['metadata']['name']}",
                    api_version=body["apiVersion"], kind=body["kind"], metadata=body["metadata"],
                    spec=body["spec"], opts=after_flagger)
        self.register_outputs({"endpoints": [endpoint.name for endpoint in args.endpoints]})
