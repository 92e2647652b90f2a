"""Monitoring: Prometheus, Alertmanager and Grafana for everything the platform runs.

kube-prometheus-stack (Helm) in its own namespace with the spec's retention and
storage, the Alertmanager configuration and the Grafana admin password in
Kubernetes Secrets built from secret references only, a Pushgateway for batch
jobs, and everything generated from the Watchlist (watchlist.py): scrape
targets, PrometheusRules, Grafana dashboards, and drift detection (the payload
logger sink and one drift-check CronJob per endpoint with `drift.enabled`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Mapping, Optional

import pulumi
import pulumi_kubernetes as k8s

from components import (alert_rules, alertmanager_config, dashboards, drift, kfp_install, rollout_gate, scrape_targets,
                        watchlist)
from components.kube import namespace
from components.network_isolation import allow_ingress, monitoring_peer, stackyard_namespaces_peer
from components.ownership import Ownership
from components.secret_refs import secret_value
from environments import spec as env

PROMETHEUS_COMMUNITY_CHARTS = "https://prometheus-community.github.io/helm-charts"
STACK_RELEASE = "kube-prometheus-stack"
# Where the chart's Prometheus Operator serves its admission webhook (prometheusOperator.tls.internalPort).
OPERATOR_WEBHOOK_PORT = 10250
GRAFANA_ADMIN_SECRET = "grafana-admin"
ALERTMANAGER_CONFIG_SECRET = "alertmanager-stackyard"
DASHBOARD_LABEL = "grafana_dashboard"


@dataclass(frozen=True)
class MonitoringArgs:
    monitoring: env.Monitoring
    versions: env.Versions
    ownership: Ownership
    serving: env.Serving = field(default_factory=env.Serving)
    endpoints: tuple[env.Endpoint, ...] = ()
    node_pools: tuple[env.NodePool, ...] = ()
    feature_store: env.FeatureStore = field(default_factory=env.FeatureStore)
    kubeflow: env.KubeflowPipelines = field(default_factory=env.KubeflowPipelines)
    pipelines: tuple[env.Pipeline, ...] = ()  # the pipelines that retrain drifting endpoints' models
    # Pool name -> USD per GPU-hour, for the cost panels and idle-GPU alerts; pools
    # without a price show GPU counts instead.
    gpu_hourly_prices: Mapping[str, float] = field(default_factory=dict)


def stack_values(monitoring: env.Monitoring, labels: Mapping[str, str], environment: str) -> dict:
    """Helm values of kube-prometheus-stack."""
    return {
        "commonLabels": dict(labels),
        "prometheus": {"prometheusSpec": {
            "retention": monitoring.retention,
            # Leave headroom on the volume so Prometheus drops old blocks before the disk fills.
            "retentionSize": f"{max(1, int(monitoring.storage_gib * 0.9))}GB",
            "storageSpec": {"volumeClaimTemplate": {"spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": f"{monitoring.storage_gib}Gi"}}}}},
            "externalLabels": {"environment": environment},
            # Select every ServiceMonitor, PodMonitor and PrometheusRule, not only the chart's own.
            "serviceMonitorSelectorNilUsesHelmValues": False,
            "podMonitorSelectorNilUsesHelmValues": False,
            "ruleSelectorNilUsesHelmValues": False,
            "probeSelectorNilUsesHelmValues": False,
        }},
        "alertmanager": {"alertmanagerSpec": {"useExistingSecret": True, "configSecret": ALERTMANAGER_CONFIG_SECRET}},
        "grafana": {
            "admin": {"existingSecret": GRAFANA_ADMIN_SECRET, "userKey": "admin-user", "passwordKey": "admin-password"},
            "sidecar": {
                "dashboards": {"enabled": True, "label": DASHBOARD_LABEL, "labelValue": "1"},
                "datasources": {"uid": dashboards.DATASOURCE["uid"]},
            },
        },
    }


def pushgateway_values(labels: Mapping[str, str]) -> dict:
    return {
        "fullnameOverride": scrape_targets.PUSHGATEWAY_NAME,
        "podLabels": dict(labels),
        "serviceMonitor": {"enabled": False},  # Stackyard's own ServiceMonitor scrapes it with honorLabels
        "persistentVolume": {"enabled": True, "size": "2Gi"},  # pushed scores survive a restart
        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
    }


class Monitoring(pulumi.ComponentResource):
    def __init__(self, name: str, args: MonitoringArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("stackyard:monitoring:Monitoring", name, None, opts)
        spec = args.monitoring
        labels = args.ownership.labels("monitoring")
        ns = spec.namespace
        self.watchlist = watchlist.build(spec, args.serving, args.endpoints, args.node_pools, args.feature_store,
                                         args.kubeflow, args.gpu_hourly_prices)
        self.namespace = namespace(f"{name}-ns", ns, labels, pulumi.ResourceOptions(parent=self))
        in_namespace = pulumi.ResourceOptions(parent=self, depends_on=[self.namespace])
        # The Prometheus Operator's admission webhook is called by the API server, from outside any pod network.
        allow_ingress(f"{name}-allow-operator-webhook", ns, "allow-operator-webhook", labels, {}, [], in_namespace,
                      ports=[OPERATOR_WEBHOOK_PORT])
        # Pipelines and drift checks in Stackyard's namespaces push their metrics to the Pushgateway.
        allow_ingress(f"{name}-allow-pushes", ns, "allow-pushes", labels, {}, [stackyard_namespaces_peer()],
                      in_namespace, ports=[scrape_targets.PUSHGATEWAY_PORT])

        # Drift alerts of endpoints whose model a pipeline trains start a retraining run in KFP.
        self.retraining = (drift.retraining_targets(args.endpoints, args.pipelines)
                           if args.kubeflow.enabled else {})
        retrain_url = drift.retrain_receiver_url(ns) if self.retraining else None
        secrets = self._secrets(name, spec, ns, labels, in_namespace, retrain_url)
        stack = k8s.helm.v3.Release(
            f"{name}-stack", name=STACK_RELEASE, chart="kube-prometheus-stack",
            version=args.versions.kube_prometheus_stack, namespace=ns,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=PROMETHEUS_COMMUNITY_CHARTS),
            values=stack_values(spec, labels, args.ownership.environment),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.namespace, *secrets]))
        k8s.helm.v3.Release(
            f"{name}-pushgateway", name=scrape_targets.PUSHGATEWAY_NAME, chart="prometheus-pushgateway",
            version=args.versions.prometheus_pushgateway, namespace=ns,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=PROMETHEUS_COMMUNITY_CHARTS),
            values=pushgateway_values(labels), opts=in_namespace)

        # ServiceMonitor, PodMonitor and PrometheusRule are CRDs the stack's chart installs.
        after_stack = pulumi.ResourceOptions(parent=self, depends_on=[stack])
        for target in scrape_targets.scrape_targets(self.watchlist):
            k8s.apiextensions.CustomResource(
                f"{name}-{target.kind.lower()}-{target.name}", api_version="monitoring.coreos.com/v1",
                kind=target.kind, metadata={"name": target.name, "namespace": ns, "labels": {**labels, **target.labels}},
                spec=target.spec, opts=after_stack)
        for rule_set in [*alert_rules.rule_sets(self.watchlist), *rollout_gate.rule_sets(self.watchlist)]:
            k8s.apiextensions.CustomResource(
                f"{name}-rules-{rule_set.name}", api_version="monitoring.coreos.com/v1", kind="PrometheusRule",
                metadata={"name": rule_set.name, "namespace": ns, "labels": {**labels, **rule_set.labels}},
                spec={"groups": list(rule_set.groups)}, opts=after_stack)
        for board in dashboards.dashboards(self.watchlist):
            k8s.core.v1.ConfigMap(
                f"{name}-dashboard-{board['uid']}",
                metadata={"name": board["uid"], "namespace": ns, "labels": {**labels, DASHBOARD_LABEL: "1"}},
                data={f"{board['uid']}.json": json.dumps(board, indent=2, sort_keys=True)}, opts=in_namespace)

        self._drift(name, args, labels, in_namespace, opts)
        self.pushgateway_url = drift.pushgateway_url(ns)
        self.payload_logger_url = drift.payload_logger_url(args.serving.namespace)
        self.register_outputs({"namespace": ns, "pushgatewayUrl": self.pushgateway_url,
                               "payloadLoggerUrl": self.payload_logger_url})

    def _secrets(self, name: str, spec: env.Monitoring, ns: str, labels: Mapping[str, str],
                 opts: pulumi.ResourceOptions, retrain_url: Optional[str]) -> list[k8s.core.v1.Secret]:
        """Grafana's admin login and the Alertmanager configuration, from secret references only."""
        grafana = k8s.core.v1.Secret(
            f"{name}-grafana-admin", metadata={"name": GRAFANA_ADMIN_SECRET, "namespace": ns, "labels": dict(labels)},
            string_data={"admin-user": "admin", "admin-password": secret_value(spec.grafana_admin_password)},
            opts=opts)
        with_secrets = [receiver for receiver in spec.receivers if receiver.secret]
        config = pulumi.Output.all(*(secret_value(receiver.secret) for receiver in with_secrets)).apply(
            lambda values: alertmanager_config.render(
                spec.receivers, {receiver.name: value for receiver, value in zip(with_secrets, values)},
                retrain_url))
        alertmanager = k8s.core.v1.Secret(
            f"{name}-alertmanager-config",
            metadata={"name": ALERTMANAGER_CONFIG_SECRET, "namespace": ns, "labels": dict(labels)},
            string_data={"alertmanager.yaml": pulumi.Output.secret(config)}, opts=opts)
        return [grafana, alertmanager]

    def _drift(self, name: str, args: MonitoringArgs, labels: Mapping[str, str],
               in_namespace: pulumi.ResourceOptions, opts: Optional[pulumi.ResourceOptions]) -> None:
        """The payload logger sink (if any endpoint logs payloads) and the drift-check CronJobs."""
        image = args.monitoring.job_image or drift.default_job_image(args.versions)
        if any(endpoint.payload_logging for endpoint in self.watchlist.endpoints):
            # The sink lives in the serving namespace, which the Serving component creates.
            in_serving = pulumi.ResourceOptions(parent=self, depends_on=opts.depends_on if opts else None)
            objects = drift.payload_sink_objects(args.serving.namespace, image, args.monitoring.payload_storage_gib,
                                                 labels)
            k8s.core.v1.ConfigMap(f"{name}-payload-logger-code", **objects["ConfigMap"], opts=in_serving)
            k8s.core.v1.PersistentVolumeClaim(f"{name}-payload-logger", **objects["PersistentVolumeClaim"],
                                              opts=in_serving)
            k8s.apps.v1.Deployment(f"{name}-payload-logger", **objects["Deployment"], opts=in_serving)
            k8s.core.v1.Service(f"{name}-payload-logger", **objects["Service"], opts=in_serving)
            # The drift checks, in the monitoring namespace, read the payloads back from the sink.
            allow_ingress(f"{name}-payload-logger-allow-drift-checks", args.serving.namespace, "allow-drift-checks",
                          labels, {"matchLabels": {"app.kubernetes.io/name": watchlist.PAYLOAD_LOGGER_NAME}},
                          [monitoring_peer()], in_serving, ports=[drift.SINK_PORT])
        if self.retraining:
            objects = drift.retrain_receiver_objects(args.monitoring.namespace, image, self.retraining,
                                                     kfp_install.api_url(args.kubeflow.namespace), labels)
            k8s.core.v1.ConfigMap(f"{name}-retrain-receiver-code", **objects["ConfigMap"], opts=in_namespace)
            k8s.core.v1.PersistentVolumeClaim(f"{name}-retrain-receiver", **objects["PersistentVolumeClaim"],
                                              opts=in_namespace)
            k8s.apps.v1.Deployment(f"{name}-retrain-receiver", **objects["Deployment"], opts=in_namespace)
            k8s.core.v1.Service(f"{name}-retrain-receiver", **objects["Service"], opts=in_namespace)
        if not self.watchlist.drift_endpoints:
            return
        k8s.core.v1.ConfigMap(f"{name}-drift-check-code",
                              **drift.drift_check_code_config_map(args.monitoring.namespace, labels), opts=in_namespace)
        for endpoint in self.watchlist.drift_endpoints:
            k8s.batch.v1.CronJob(f"{name}-drift-{endpoint.name}",
                                 **drift.drift_check_cronjob_body(endpoint, args.monitoring.namespace, image, labels),
                                 opts=in_namespace)
