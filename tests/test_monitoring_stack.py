"""The monitoring stack in the plan: Helm releases from the spec, secrets by reference only, the
Alertmanager configuration checked by the real amtool, the drift objects, and the spec checks."""

from __future__ import annotations

import json
import subprocess

import pytest
import yaml

from components import alertmanager_config
from conftest import descendants, plan_for, require_tool, resources, run_cli
from environments import loader
from environments.spec import Receiver, SecretRef
from monitoring_support import spec_variant
from stacks import offline
from stacks.plan import manifests

RELEASE = "kubernetes:helm.sh/v3:Release"


def release(plan: dict, chart: str) -> dict:
    return next(r["inputs"] for r in resources(plan, RELEASE) if r["inputs"]["chart"] == chart)


@pytest.mark.parametrize("environment", ["prod", "local"])
def test_kube_prometheus_stack_takes_version_retention_and_storage_from_the_spec(environment):
    spec = loader.load(environment)
    stack = release(plan_for(environment), "kube-prometheus-stack")
    assert stack["version"] == spec.versions.kube_prometheus_stack
    assert stack["namespace"] == spec.monitoring.namespace
    prometheus = stack["values"]["prometheus"]["prometheusSpec"]
    assert prometheus["retention"] == spec.monitoring.retention
    storage = prometheus["storageSpec"]["volumeClaimTemplate"]["spec"]["resources"]["requests"]["storage"]
    assert storage == f"{spec.monitoring.storage_gib}Gi"
    assert prometheus["ruleSelectorNilUsesHelmValues"] is False  # Stackyard's PrometheusRules are picked up
    assert stack["values"]["alertmanager"]["alertmanagerSpec"] == {
        "useExistingSecret": True, "configSecret": "alertmanager-stackyard"}
    assert stack["values"]["grafana"]["admin"]["existingSecret"] == "grafana-admin"
    pushgateway = release(plan_for(environment), "prometheus-pushgateway")
    assert pushgateway["version"] == spec.versions.prometheus_pushgateway


def test_secrets_reach_the_cluster_only_as_secret_outputs():
    plan = plan_for("prod")
    secrets = {r["inputs"]["metadata"]["name"]: r["inputs"] for r in resources(plan, "kubernetes:core/v1:Secret")}
    assert secrets["alertmanager-stackyard"]["stringData"] == offline.SECRET
    assert secrets["grafana-admin"]["stringData"] == offline.SECRET
    everything = json.dumps(plan) + "".join(manifests(plan).values())
    assert offline.SECRET_PLACEHOLDER not in everything
    stack = release(plan, "kube-prometheus-stack")
    assert "adminPassword" not in json.dumps(stack["values"])  # never the chart's default password


def test_helm_values_hold_no_receiver_secrets():
    assert "routing_key" not in json.dumps(release(plan_for("prod"), "kube-prometheus-stack")["values"])


def _write_config(tmp_path, receivers, secrets):
    path = tmp_path / "alertmanager.yaml"
    path.write_text(alertmanager_config.render(receivers, secrets))
    return path


def test_amtool_accepts_the_config_for_every_receiver_type(tmp_path):
    amtool = require_tool("amtool", "prometheus-alertmanager")
    receivers = [
        Receiver("oncall", "pagerduty", SecretRef(config="pagerdutyRoutingKey")),
        Receiver("chat", "slack", SecretRef(config="slackWebhookUrl")),
        Receiver("mail", "email", SecretRef(config="smtpPassword"), to="ml@example.com",
                 smarthost="smtp.example.com:587", sender="alerts@example.com"),
        Receiver("hook", "webhook", SecretRef(arn="arn:aws:secretsmanager:us-east-1:123456789012:secret:hook")),
    ]
    secrets = {"oncall": "0123456789abcdef", "chat": "https://hooks.slack.example/T0/B0/x",
               "mail": "password", "hook": "https://hooks.example.com/alerts"}
    path = _write_config(tmp_path, receivers, secrets)
    result = subprocess.run([amtool, "check-config", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr

    def routed(*labels: str) -> str:
        out = subprocess.run([amtool, "config", "routes", "test", f"--config.file={path}", *labels],
                             capture_output=True, text=True)
        return out.stdout.strip()

    assert set(routed("severity=critical", "alertname=EndpointUnavailable").split(",")) == {
        "oncall", "chat", "mail", "hook"}
    assert set(routed("severity=warning", "alertname=GpuIdle").split(",")) == {"chat", "mail", "hook"}
    assert routed("severity=none", "alertname=Watchdog") == alertmanager_config.DISCARD


def test_amtool_accepts_the_prod_receivers(tmp_path):
    amtool = require_tool("amtool", "prometheus-alertmanager")
    receivers = loader.load("prod").monitoring.receivers
    path = _write_config(tmp_path, receivers, {r.name: "https://hooks.example.com/x" for r in receivers})
    result = subprocess.run([amtool, "check-config", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_amtool_rejects_an_email_receiver_without_smtp_server(tmp_path):
    """The check above can fail: this is what validate's email check prevents."""
    amtool = require_tool("amtool", "prometheus-alertmanager")
    config = alertmanager_config.config([Receiver("mail", "email", to="a@example.com", sender="b@example.com")], {})
    path = tmp_path / "alertmanager.yaml"
    path.write_text(yaml.safe_dump(config))
    assert subprocess.run([amtool, "check-config", str(path)], capture_output=True).returncode != 0


def test_drift_checks_run_on_each_endpoints_schedule_and_read_the_payload_sink():
    spec = loader.load("prod")
    plan = plan_for("prod")
    cronjobs = {r["inputs"]["metadata"]["name"]: r["inputs"]
                for r in descendants(plan, "stackyard:monitoring:Monitoring") if r["type"] == "kubernetes:batch/v1:CronJob"}
    drifting = [e for e in spec.endpoints if e.drift.enabled]
    assert sorted(cronjobs) == sorted(f"drift-{e.name}" for e in drifting)
    for endpoint in drifting:
        job = cronjobs[f"drift-{endpoint.name}"]
        assert job["spec"]["schedule"] == endpoint.drift.schedule
        container = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
        args = dict(zip(container["args"][::2], container["args"][1::2]))
        assert args["--endpoint"] == endpoint.name
        assert args["--sink"] == "http://payload-logger.serving.svc.cluster.local"
        assert args["--pushgateway"] == "http://pushgateway.monitoring.svc.cluster.local:9091"
        assert container["securityContext"]["runAsNonRoot"] is True
        assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    by_kind = {(r["inputs"]["kind"], r["inputs"]["metadata"]["name"]): r["inputs"] for r in plan["resources"]
               if r["type"].startswith("kubernetes:") and "kind" in r["inputs"]}
    assert ("Service", "payload-logger") in by_kind and ("Deployment", "payload-logger") in by_kind
    assert by_kind[("Service", "payload-logger")]["metadata"]["namespace"] == spec.serving.namespace
    code = by_kind[("ConfigMap", "drift-check-code")]["data"]["drift_check.py"]
    assert "stackyard_model_drift_score" in code


# --- spec checks -------------------------------------------------------------------

def _invalid(tmp_path, environment, change) -> str:
    path = spec_variant(tmp_path, environment, change)
    result = run_cli("validate", str(path))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    return result.stderr


def test_email_receiver_needs_smtp_settings(tmp_path):
    message = _invalid(tmp_path, "prod", lambda doc: doc["monitoring"]["receivers"].append(
        {"name": "mail", "type": "email", "to": "ml@example.com"}))
    assert "prod.yaml:" in message and "$.monitoring.receivers[2]" in message
    assert "missing smarthost, sender" in message


def test_slack_receiver_needs_a_secret_reference(tmp_path):
    message = _invalid(tmp_path, "prod", lambda doc: doc["monitoring"]["receivers"].append(
        {"name": "chat", "type": "slack"}))
    assert "$.monitoring.receivers[2]" in message and "Slack webhook URL" in message


def test_drift_needs_payload_logging_and_a_valid_schedule(tmp_path):
    def change(doc):
        doc["endpoints"][0]["payloadLogging"] = False
        doc["endpoints"][1]["drift"]["schedule"] = "0 25 * * *"

    message = _invalid(tmp_path, "prod", change)
    assert "$.endpoints[0].payloadLogging" in message and "expected payloadLogging: true" in message
    assert "$.endpoints[1].drift.schedule" in message and "hour field '25': expected 0-23" in message


def test_monitoring_needs_a_grafana_admin_password(tmp_path):
    path = spec_variant(tmp_path, "local", lambda doc: doc["monitoring"].pop("grafanaAdminPassword"))
    result = run_cli("validate", str(path))
    assert result.returncode == 2 and "needs grafanaAdminPassword" in result.stderr


def test_secrets_manager_references_need_aws(tmp_path):
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:grafana"
    path = spec_variant(tmp_path, "local", lambda doc: doc["monitoring"].update(grafanaAdminPassword={"arn": arn}))
    result = run_cli("validate", str(path))
    assert result.returncode == 2 and "$.monitoring.grafanaAdminPassword.arn" in result.stderr


def test_unknown_monitoring_key_is_rejected_with_a_suggestion(tmp_path):
    message = _invalid(tmp_path, "prod", lambda doc: doc["monitoring"].update(payloadStorageGb=10))
    assert "payloadStorageGb" in message and "payloadStorageGib" in message
