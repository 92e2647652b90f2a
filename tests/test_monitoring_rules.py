"""The PrometheusRules of `stackyard plan prod`, checked by the real promtool and against the metrics catalog."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from components.metrics_catalog import load as load_catalog
from components.promql import metric_names
from conftest import plan_for, require_tool
from environments import loader
from monitoring_support import alerts, prometheus_rules, recorded_names, rules

SEVERITIES = {"critical", "warning"}


@pytest.fixture(scope="module")
def prod_plan() -> dict:
    return plan_for("prod")


def write_rule_files(plan: dict, directory: Path, strip_annotations: bool = False,
                     only: tuple[str, ...] = ()) -> list[Path]:
    """PrometheusRules' groups as Prometheus rule files, the way the operator hands them over.

    `only` limits them to the named PrometheusRules (default: all).
    """
    files = []
    for rule in prometheus_rules(plan):
        if only and rule["metadata"]["name"] not in only:
            continue
        groups = rule["spec"]["groups"]
        if strip_annotations:  # annotations do not decide whether an alert fires
            groups = [{**group, "rules": [{k: v for k, v in r.items() if k != "annotations"} for r in group["rules"]]}
                      for group in groups]
        path = directory / f"{rule['metadata']['name']}.yaml"
        path.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
        files.append(path)
    return files


@pytest.mark.parametrize("environment", ["prod", "staging", "dev", "local"])
def test_every_rule_group_passes_promtool_check_rules(environment, tmp_path):
    promtool = require_tool("promtool", "prometheus")
    files = write_rule_files(plan_for(environment), tmp_path)
    assert len(files) >= 3
    result = subprocess.run([promtool, "check", "rules", *map(str, files)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(files)


def test_prod_has_a_rule_file_per_endpoint_and_pool_plus_fleet_features_and_pipelines(prod_plan):
    spec = loader.load("prod")
    names = {rule["metadata"]["name"] for rule in prometheus_rules(prod_plan)}
    assert names == ({f"stackyard-endpoint-{e.name}" for e in spec.endpoints}
                     | {f"stackyard-gpu-pool-{p.name}" for p in spec.node_pools}
                     | {"stackyard-gpu-fleet", "stackyard-feature-store", "stackyard-pipelines"})


def test_promtool_rejects_a_broken_rule(tmp_path):
    """The check above can fail: promtool does reject a malformed expression."""
    promtool = require_tool("promtool", "prometheus")
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "g", "rules": [{"alert": "A", "expr": "sum(rate(x[5m])"}]}]}))
    result = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True)
    assert result.returncode != 0


def test_every_alert_has_severity_summary_description_and_runbook(prod_plan):
    base = loader.load("prod").monitoring.runbook_base_url
    found = alerts(prod_plan)
    assert found
    for alert in found:
        assert alert["labels"]["severity"] in SEVERITIES, alert["alert"]
        annotations = alert["annotations"]
        assert annotations["summary"].strip() and annotations["description"].strip(), alert["alert"]
        assert annotations["runbook_url"].startswith(base + "#"), alert["alert"]
        assert len(annotations["runbook_url"]) > len(base) + 1


def test_every_metric_in_every_rule_is_in_the_catalog_or_recorded(prod_plan):
    published = load_catalog().series_names()
    recorded = recorded_names(prod_plan)
    for rule in rules(prod_plan):
        names = metric_names(rule["expr"])
        assert names, f"{rule.get('alert') or rule.get('record')} reads no metric: {rule['expr']}"
        unknown = names - published - recorded
        assert not unknown, f"{rule.get('alert') or rule.get('record')} reads {sorted(unknown)}, which no " \
                            f"scraped exporter publishes (components/metrics_catalog.yaml)"


def test_every_recorded_series_is_named_by_stackyard_and_read_by_an_alert(prod_plan):
    recorded = recorded_names(prod_plan)
    assert recorded and all(name.startswith("stackyard:") for name in recorded)
    read_by_alerts = set().union(*(metric_names(alert["expr"]) for alert in alerts(prod_plan)))
    assert recorded <= read_by_alerts, f"recorded but never alerted on: {sorted(recorded - read_by_alerts)}"


def test_burn_rate_thresholds_follow_the_slo():
    """recsys-ranker: 99.9% over 30 days -> 14.4 x 0.001 for an hour, 6 x 0.001 for six hours."""
    plan = plan_for("prod")
    fast = next(a for a in alerts(plan) if a["alert"] == "EndpointAvailabilityBurnRateFast"
                and a["labels"]["endpoint"] == "recsys-ranker")
    assert "ratio_rate1h" in fast["expr"] and "> 0.0144" in fast["expr"]
    assert "ratio_rate6h" in fast["expr"] and "> 0.006" in fast["expr"]


# --- promtool test rules: synthetic series make the generated alerts fire (or not) ---------

def _run_rule_tests(plan: dict, tmp_path: Path, rule_names: tuple[str, ...],
                    tests: list[dict]) -> subprocess.CompletedProcess:
    """`promtool test rules` over the named PrometheusRules of the plan (each endpoint's stands alone)."""
    promtool = require_tool("promtool", "prometheus")
    files = write_rule_files(plan, tmp_path, strip_annotations=True, only=rule_names)
    assert len(files) == len(rule_names)
    test_file = tmp_path / "tests.yaml"
    test_file.write_text(yaml.safe_dump({
        "rule_files": [str(f) for f in files], "evaluation_interval": "1m", "tests": tests}, sort_keys=False))
    return subprocess.run([promtool, "test", "rules", str(test_file)], capture_output=True, text=True)


def _endpoint_labels(endpoint: str, team: str, severity: str) -> dict:
    return {"severity": severity, "endpoint": endpoint, "team": team, "component": "serving", "namespace": "serving"}


TRAFFIC_MINUTES = 90


def _triton_series(ok_per_minute: int, failed_per_minute: int) -> list[dict]:
    selector = 'namespace="serving", inferenceservice="image-tagger", pod="image-tagger-predictor-0"'
    return [
        {"series": 'kube_deployment_status_replicas_available{namespace="serving", '
                   'deployment="image-tagger-predictor"}', "values": f"2x{TRAFFIC_MINUTES}"},
        {"series": f"nv_inference_request_success{{{selector}}}", "values": f"0+{ok_per_minute}x{TRAFFIC_MINUTES}"},
        {"series": f"nv_inference_request_failure{{{selector}}}",
         "values": f"0+{failed_per_minute}x{TRAFFIC_MINUTES}"},
    ]


def _histogram_series(fast: int, medium: int, total: int) -> list[dict]:
    """recsys-ranker requests/minute: `fast` under 100 ms, `medium` under 250 ms, `total` in all."""
    selector = 'namespace="serving", inferenceservice="recsys-ranker", model_name="recsys-ranker"'
    series = [{"series": 'kube_deployment_status_replicas_available{namespace="serving", '
                         'deployment="recsys-ranker-predictor"}', "values": f"3x{TRAFFIC_MINUTES}"}]
    for le, per_minute in (("0.1", fast), ("0.25", medium), ("+Inf", total)):
        series.append({"series": f'request_predict_seconds_bucket{{{selector}, le="{le}"}}',
                       "values": f"0+{per_minute}x{TRAFFIC_MINUTES}"})
    series.append({"series": f"request_predict_seconds_count{{{selector}}}",
                   "values": f"0+{total}x{TRAFFIC_MINUTES}"})
    return series


def test_availability_burn_rate_pages_when_a_tenth_of_requests_fail(prod_plan, tmp_path):
    """image-tagger (Triton, 99.5%): 10% failures burn the budget at 20x -> page; 0.1% does not."""
    result = _run_rule_tests(prod_plan, tmp_path, ("stackyard-endpoint-image-tagger",), [
        {"interval": "1m", "input_series": _triton_series(90, 10), "alert_rule_test": [
            {"eval_time": "70m", "alertname": "EndpointAvailabilityBurnRateFast",
             "exp_alerts": [{"exp_labels": _endpoint_labels("image-tagger", "vision", "critical")}]},
            {"eval_time": "70m", "alertname": "EndpointErrorRateHigh",
             "exp_alerts": [{"exp_labels": _endpoint_labels("image-tagger", "vision", "warning")}]}]},
        {"interval": "1m", "input_series": _triton_series(999, 1), "alert_rule_test": [
            {"eval_time": "70m", "alertname": "EndpointAvailabilityBurnRateFast", "exp_alerts": []},
            {"eval_time": "70m", "alertname": "EndpointErrorRateHigh", "exp_alerts": []}]},
    ])
    assert result.returncode == 0, result.stdout + result.stderr


def test_latency_burn_rate_pages_when_many_requests_are_slower_than_the_slo(prod_plan, tmp_path):
    """recsys-ranker (p99 under 150 ms): 40% of requests between 100 and 250 ms -> page; all under 100 ms -> not."""
    result = _run_rule_tests(prod_plan, tmp_path, ("stackyard-endpoint-recsys-ranker",), [
        {"interval": "1m", "input_series": _histogram_series(50, 70, 100), "alert_rule_test": [
            {"eval_time": "70m", "alertname": "EndpointLatencyBurnRateFast",
             "exp_alerts": [{"exp_labels": _endpoint_labels("recsys-ranker", "recsys", "critical")}]}]},
        {"interval": "1m", "input_series": _histogram_series(100, 100, 100), "alert_rule_test": [
            {"eval_time": "70m", "alertname": "EndpointLatencyBurnRateFast", "exp_alerts": []},
            {"eval_time": "70m", "alertname": "EndpointNoTraffic", "exp_alerts": []}]},
    ])
    assert result.returncode == 0, result.stdout + result.stderr


def test_time_based_availability_pages_when_no_replica_is_ready(prod_plan, tmp_path):
    """recsys-ranker's Python model server counts no failures: an hour without ready replicas pages."""
    down = [{"series": 'kube_deployment_status_replicas_available{namespace="serving", '
                       'deployment="recsys-ranker-predictor"}', "values": f"0x{TRAFFIC_MINUTES}"}]
    result = _run_rule_tests(prod_plan, tmp_path, ("stackyard-endpoint-recsys-ranker",), [
        {"interval": "1m", "input_series": down, "alert_rule_test": [
            {"eval_time": "70m", "alertname": "EndpointUnavailable",
             "exp_alerts": [{"exp_labels": _endpoint_labels("recsys-ranker", "recsys", "critical")}]},
            {"eval_time": "70m", "alertname": "EndpointAvailabilityBurnRateFast",
             "exp_alerts": [{"exp_labels": _endpoint_labels("recsys-ranker", "recsys", "critical")}]}]},
    ])
    assert result.returncode == 0, result.stdout + result.stderr


def test_gpu_drift_and_freshness_alerts_fire_on_their_signals(prod_plan, tmp_path):
    gpu = 'pool="a10g-inference", node="ip-10-40-1-5", gpu="0"'
    rule_names = ("stackyard-gpu-pool-a10g-inference", "stackyard-endpoint-recsys-ranker",
                  "stackyard-endpoint-fraud-scorer", "stackyard-feature-store")
    result = _run_rule_tests(prod_plan, tmp_path, rule_names, [
        {"interval": "1m", "input_series": [
            {"series": f"DCGM_FI_DEV_XID_ERRORS{{{gpu}}}", "values": "79x20"},
            {"series": f"DCGM_FI_DEV_GPU_TEMP{{{gpu}}}", "values": "90x20"},
            {"series": 'stackyard_model_drift_score{job="stackyard-drift", endpoint="recsys-ranker"}',
             "values": "0.3x20"},
            {"series": 'stackyard_model_drift_score{job="stackyard-drift", endpoint="fraud-scorer"}',
             "values": "0.05x20"},
            # Materialization (every 15 minutes) last succeeded at time 0: stale after 40 minutes.
            {"series": 'kube_cronjob_status_last_successful_time{namespace="feast", cronjob="feast-materialize"}',
             "values": "0x60"},
        ], "alert_rule_test": [
            {"eval_time": "15m", "alertname": "GpuXidErrorFatal", "exp_alerts": [{"exp_labels": {
                "severity": "critical", "pool": "a10g-inference", "component": "gpu", "node": "ip-10-40-1-5",
                "gpu": "0"}}]},
            {"eval_time": "15m", "alertname": "GpuXidError", "exp_alerts": []},
            {"eval_time": "15m", "alertname": "GpuTemperatureHigh", "exp_alerts": [{"exp_labels": {
                "severity": "warning", "pool": "a10g-inference", "component": "gpu", "node": "ip-10-40-1-5",
                "gpu": "0"}}]},
            {"eval_time": "5m", "alertname": "EndpointDriftAboveThreshold", "exp_alerts": [{"exp_labels": {
                "severity": "warning", "endpoint": "recsys-ranker", "team": "recsys", "component": "drift"}}]},
            {"eval_time": "30m", "alertname": "FeatureMaterializationStale", "exp_alerts": []},
            {"eval_time": "50m", "alertname": "FeatureMaterializationStale", "exp_alerts": [{"exp_labels": {
                "severity": "warning", "component": "feature-store", "namespace": "feast",
                "cronjob": "feast-materialize"}}]},
        ]},
    ])
    assert result.returncode == 0, result.stdout + result.stderr
