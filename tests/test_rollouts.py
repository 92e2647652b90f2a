"""Endpoint rollouts: Flagger objects against Flagger's own CRD schemas, the spec's checks, and the gate's
PromQL under the real promtool (`check rules`, and `test rules` on synthetic breaches and healthy series).

One prod variant carries all three strategies: recsys-ranker (KServe Python server) as a canary,
fraud-scorer (KServe Python server) blue-green, image-tagger (Triton) in shadow.
"""

from __future__ import annotations

import copy
import json
import subprocess
import threading
import urllib.request
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from conftest import plan_for, require_tool, resources
from environments import loader
from monitoring_support import scrape_targets, spec_variant
from stacks import plan as offline_plan
from test_chart_values import problems as chart_value_problems
from test_monitoring_rules import write_rule_files
from test_object_schemas import CelResult, cel_rules, custom_object_errors, is_core

FLAGGER = "kubernetes:flagger.app/v1beta1:"
STRATEGIES = {"recsys-ranker": "canary", "fraud-scorer": "blueGreen", "image-tagger": "shadow"}


def with_rollouts(document: dict) -> None:
    document["versions"] = {**document.get("versions", {}), "flagger": "1.44.0"}
    document["serving"]["gateway"] = {"name": "ml-gateway", "namespace": "gateway"}
    endpoints = {endpoint["name"]: endpoint for endpoint in document["endpoints"]}
    endpoints["recsys-ranker"]["rollout"] = {"strategy": "canary", "stepWeights": [5, 25, 50]}
    endpoints["fraud-scorer"]["rollout"] = {"strategy": "blueGreen", "iterations": 4,
                                            "testWebhook": "http://acceptance.recsys.svc/fraud-scorer"}
    endpoints["image-tagger"]["rollout"] = {"strategy": "shadow", "maxDisagreement": 0.02, "failureLimit": 3}


@pytest.fixture(scope="module")
def rollout_spec(tmp_path_factory) -> Path:
    return spec_variant(tmp_path_factory.mktemp("rollouts"), "prod", with_rollouts)


@pytest.fixture(scope="module")
def rollout_plan(rollout_spec) -> dict:
    return plan_for(str(rollout_spec))


def flagger_objects(plan: dict, kind: str) -> dict[str, dict]:
    return {r["inputs"]["metadata"]["name"]: {"apiVersion": "flagger.app/v1beta1", "kind": kind, **r["inputs"]}
            for r in resources(plan, FLAGGER + kind)}


def test_every_custom_object_of_every_strategy_matches_its_crd_strictly_with_its_cel_rules(rollout_spec,
                                                                                           rollout_plan):
    """Canary and MetricTemplate against Flagger's CRDs, and the InferenceServices, PrometheusRules and
    ServiceMonitors the rollouts change against theirs, as tests/test_object_schemas.py does for shipped plans."""
    versions = dict(loader.load(str(rollout_spec)).versions.items())  # pin name -> version, for the CRD tags
    customs = [offline_plan.manifest(r) for r in rollout_plan["resources"]
               if offline_plan.is_manifest(r) and not is_core(offline_plan.manifest(r))]
    kinds = {obj["kind"] for obj in customs}
    assert {"Canary", "MetricTemplate", "InferenceService", "PrometheusRule", "ServiceMonitor"} <= kinds
    assert [error for obj in customs for error in custom_object_errors(obj, versions)] == []
    cel = CelResult()
    for obj in customs:
        cel_rules(obj, versions, cel)
    assert cel.errors == []
    # The check can fail: a misspelled analysis field, a metric provider Flagger does not know.
    canary = copy.deepcopy(flagger_objects(rollout_plan, "Canary")["recsys-ranker"])
    canary["spec"]["analysis"]["stepWeigths"] = [5]
    assert any("'stepWeigths' was unexpected" in e for e in custom_object_errors(canary, versions))
    template = copy.deepcopy(next(iter(flagger_objects(rollout_plan, "MetricTemplate").values())))
    template["spec"]["provider"]["type"] = "prom"
    assert any("'prom' is not one of" in e for e in custom_object_errors(template, versions))


def test_the_flagger_release_sets_only_values_its_chart_reads(rollout_plan):
    (release,) = [r["inputs"] for r in resources(rollout_plan, "kubernetes:helm.sh/v3:Release")
                  if r["inputs"].get("chart") == "flagger"]
    assert chart_value_problems(release) == []
    assert chart_value_problems({**release, "values": {"meshProvidr": "gatewayapi:v1"}}) == [
        "flagger 1.44.0 does not read meshProvidr"]


def test_each_strategy_becomes_its_flagger_analysis(rollout_plan):
    canaries = flagger_objects(rollout_plan, "Canary")
    canary = canaries["recsys-ranker"]["spec"]
    assert canary["analysis"]["stepWeights"] == [5, 25, 50] and "iterations" not in canary["analysis"]
    blue_green = canaries["fraud-scorer"]["spec"]["analysis"]
    assert blue_green["iterations"] == 4 and "stepWeights" not in blue_green and "mirror" not in blue_green
    (hook,) = blue_green["webhooks"]  # the candidate's tests, before every check
    assert (hook["type"], hook["url"]) == ("rollout", "http://acceptance.recsys.svc/fraud-scorer")
    assert hook["metadata"]["candidateUrl"] == "http://fraud-scorer-rollout-canary.serving.svc.cluster.local"
    shadow = canaries["image-tagger"]["spec"]["analysis"]
    assert shadow["mirror"] is True and shadow["threshold"] == 3
    assert {m["name"]: m["thresholdRange"]["max"] for m in shadow["metrics"]} == {
        "error-ratio": 0.005, "latency-p99": 0.4, "disagreement-ratio": 0.02}
    for name, body in canaries.items():
        spec = body["spec"]
        assert spec["provider"] == "gatewayapi:v1"
        assert spec["targetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": f"{name}-predictor"}
        assert spec["service"]["gatewayRefs"] == [{"name": "ml-gateway", "namespace": "gateway"}]
        assert spec["service"]["name"] == f"{name}-rollout"  # not KServe's own `<name>-predictor` Service


def test_rollout_endpoints_get_no_kserve_ingress_and_flagger_is_installed(rollout_plan):
    services = {r["inputs"]["metadata"]["name"]: r["inputs"]
                for r in resources(rollout_plan, "kubernetes:serving.kserve.io/v1beta1:InferenceService")}
    for name in STRATEGIES:
        assert services[name]["metadata"]["labels"]["networking.kserve.io/visibility"] == "cluster-local"
    assert "networking.kserve.io/visibility" not in services["support-summarizer"]["metadata"]["labels"]
    (release,) = [r["inputs"] for r in resources(rollout_plan, "kubernetes:helm.sh/v3:Release")
                  if r["inputs"].get("chart") == "flagger"]
    assert release["version"] == "1.44.0" and release["values"]["meshProvider"] == "gatewayapi:v1"
    policies = {(r["inputs"]["metadata"]["namespace"], r["inputs"]["metadata"]["name"]): r["inputs"]["spec"]
                for r in resources(rollout_plan, "kubernetes:networking.k8s.io/v1:NetworkPolicy")}
    gateway = policies[("serving", "allow-rollout-gateway")]["ingress"][0]
    assert gateway["from"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "gateway"}}}]
    flagger = policies[("monitoring", "allow-flagger")]
    assert flagger["podSelector"] == {"matchLabels": {"app.kubernetes.io/name": "prometheus"}}
    assert flagger["ingress"][0]["ports"] == [{"protocol": "TCP", "port": 9090}]
    monitors = {target["metadata"]["name"] for target in scrape_targets(rollout_plan)}
    assert "payload-logger" in monitors  # the shadow disagreement counters are scraped


def test_prod_with_rollouts_passes_every_mandatory_policy_rule(rollout_spec, rollout_plan):
    from policies.audit import audit_plan

    spec = loader.load(str(rollout_spec))
    document, _ = loader.load_document(str(rollout_spec))
    report = audit_plan(spec, document, rollout_plan, spec_file=rollout_spec)
    assert [(f.rule.id, report.display(f.subject), f.message) for f in report.evaluation.blocking] == []


# --- the spec's checks: one located message per mistake ------------------------------

@pytest.mark.parametrize("change, field, message", [
    (lambda e: e.update(rollout={"strategy": "canary"}), "endpoints[0].rollout.stepWeights",
     "missing required field 'stepWeights'"),
    (lambda e: e.update(rollout={"strategy": "canary", "stepWeights": [10, 50, 20]}),
     "endpoints[0].rollout.stepWeights[2]", "found 20 after 50"),
    (lambda e: e.update(rollout={"strategy": "blueGreen", "stepWeights": [10], "testWebhook": "http://t"}),
     "endpoints[0].rollout.stepWeights", "stepWeights are for strategy canary"),
    (lambda e: e.update(rollout={"strategy": "blueGreen"}), "endpoints[0].rollout.testWebhook",
     "missing required field 'testWebhook' for strategy blueGreen"),
    (lambda e: e.update(rollout={"strategy": "canary", "stepWeights": [10], "maxDisagreement": 0.1}),
     "endpoints[0].rollout.maxDisagreement", "maxDisagreement is for strategy shadow"),
    (lambda e: e.update(rollout={"strategy": "shadow"}, payloadLogging=False), "endpoints[0].payloadLogging",
     "payloadLogging: true for strategy shadow"),
    (lambda e: e.update(rollout={"strategy": "shadow"}, deploymentMode="Serverless"),
     "endpoints[0].rollout", "needs deploymentMode RawDeployment"),
    (lambda e: e.update(rollout={"strategy": "shadow"}, canary={"trafficPercent": 10}),
     "endpoints[0].canary", "either `canary`"),
])
def test_bad_rollouts_are_refused_with_file_line_and_field(tmp_path, capsys, change, field, message):
    from stacks.cli import main

    def edit(document):
        with_rollouts(document)
        document["versions"]["knative"] = "v1.16.0"
        change(document["endpoints"][0])

    path = spec_variant(tmp_path, "prod", edit)
    assert main(["validate", str(path)]) == 2
    stderr = capsys.readouterr().err
    line = next(line for line in stderr.splitlines() if message in line)
    assert f"{path.name}:" in line and f"$.{field}:" in line, stderr
    assert "Traceback" not in stderr


def test_a_rollout_needs_a_gateway_monitoring_and_a_pinned_flagger(tmp_path, capsys):
    from stacks.cli import main

    def edit(document):
        with_rollouts(document)
        del document["serving"]["gateway"], document["versions"]["flagger"]

    assert main(["validate", str(spec_variant(tmp_path, "prod", edit))]) == 2
    stderr = capsys.readouterr().err
    assert "set serving.gateway" in stderr and "missing required field 'flagger'" in stderr


# --- the gate under promtool ----------------------------------------------------------

def promtool_test(plan: dict, directory: Path, endpoint: str, tests: list[dict]) -> None:
    promtool = require_tool("promtool", "prometheus")
    files = write_rule_files(plan, directory, strip_annotations=True,
                             only=(f"stackyard-endpoint-{endpoint}", f"stackyard-rollout-{endpoint}"))
    assert len(files) == 2
    check = subprocess.run([promtool, "check", "rules", *map(str, files)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    test_file = directory / "tests.yaml"
    test_file.write_text(yaml.safe_dump({"rule_files": [str(f) for f in files], "evaluation_interval": "1m",
                                         "tests": tests}, sort_keys=False))
    result = subprocess.run([promtool, "test", "rules", str(test_file)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


MINUTES = 30
CANDIDATE_POD = "-predictor-7c9d5f8b6d-x2kqp"
PRIMARY_POD = "-predictor-primary-6b7f9c4d5-q8w2n"


def gate_labels(endpoint: str, team: str) -> dict:
    return {"severity": "warning", "endpoint": endpoint, "team": team, "component": "rollout",
            "namespace": "serving"}


def kserve_series(endpoint: str, pod: str, fast: int, total: int, available: int = 2) -> list[dict]:
    """A KServe Python server's pod: per minute `fast` requests under 100 ms of `total`; its Deployment."""
    selector = f'namespace="serving", inferenceservice="{endpoint}", pod="{endpoint}{pod}"'
    series = [{"series": f'request_predict_seconds_bucket{{{selector}, le="{le}"}}',
               "values": f"0+{count}x{MINUTES}"} for le, count in (("0.1", fast), ("0.25", total), ("+Inf", total))]
    series.append({"series": f"request_predict_seconds_count{{{selector}}}", "values": f"0+{total}x{MINUTES}"})
    if pod == CANDIDATE_POD:
        deployment = f'namespace="serving", deployment="{endpoint}-predictor"'
        series += [{"series": f"kube_deployment_spec_replicas{{{deployment}}}", "values": f"2x{MINUTES}"},
                   {"series": f"kube_deployment_status_replicas_available{{{deployment}}}",
                    "values": f"{available}x{MINUTES}"}]
    return series


def gate_test(series: list[dict], endpoint: str, team: str, fires: bool) -> dict:
    expected = [{"exp_labels": gate_labels(endpoint, team)}] if fires else []
    return {"interval": "1m", "input_series": series,
            "alert_rule_test": [{"eval_time": "20m", "alertname": "RolloutGateBreached", "exp_alerts": expected}]}


def rollback_cases(endpoint: str, team: str) -> list[dict]:
    """Flagger marks the rollout failed (2): a critical alert; succeeded (1): none."""
    status = f'flagger_canary_status{{namespace="serving", name="{endpoint}-predictor"}}'
    labels = {"severity": "critical", "endpoint": endpoint, "team": team, "component": "rollout"}
    return [
        {"interval": "1m", "input_series": [{"series": status, "values": "0x5 2x5"}], "alert_rule_test": [
            {"eval_time": "3m", "alertname": "RolloutRolledBack", "exp_alerts": []},
            {"eval_time": "8m", "alertname": "RolloutRolledBack", "exp_alerts": [{"exp_labels": labels}]}]},
        {"interval": "1m", "input_series": [{"series": status, "values": "0x5 1x5"}], "alert_rule_test": [
            {"eval_time": "8m", "alertname": "RolloutRolledBack", "exp_alerts": []}]},
    ]


def test_canary_gate_and_rollback_fire_on_a_breach_not_on_healthy_series(rollout_plan, tmp_path):
    """recsys-ranker (p99 under 150 ms, 99.9%): half the candidate's requests over 100 ms breach; a slow
    *stable* version beside a fast candidate does not (the gate reads the candidate's pods only)."""
    slow_candidate = kserve_series("recsys-ranker", CANDIDATE_POD, 50, 100)
    unavailable = kserve_series("recsys-ranker", CANDIDATE_POD, 100, 100, available=1)
    healthy = kserve_series("recsys-ranker", CANDIDATE_POD, 100, 100) + \
        kserve_series("recsys-ranker", PRIMARY_POD, 10, 100)
    # While Flagger's `-primary` copy serves and the original idles at zero, the endpoint is up.
    stable_serving = [{"series": 'kube_deployment_status_replicas_available{namespace="serving", '
                                 'deployment="recsys-ranker-predictor"}', "values": f"0x{MINUTES}"},
                      {"series": 'kube_deployment_status_replicas_available{namespace="serving", '
                                 'deployment="recsys-ranker-predictor-primary"}', "values": f"3x{MINUTES}"}]
    promtool_test(rollout_plan, tmp_path, "recsys-ranker", [
        gate_test(slow_candidate, "recsys-ranker", "recsys", True),
        gate_test(unavailable, "recsys-ranker", "recsys", True),
        gate_test(healthy, "recsys-ranker", "recsys", False),
        {"interval": "1m", "input_series": stable_serving, "alert_rule_test": [
            {"eval_time": "20m", "alertname": "EndpointUnavailable", "exp_alerts": []}]},
        *rollback_cases("recsys-ranker", "recsys"),
    ])


def test_blue_green_gate_and_rollback_fire_on_a_breach_not_on_healthy_series(rollout_plan, tmp_path):
    promtool_test(rollout_plan, tmp_path, "fraud-scorer", [
        gate_test(kserve_series("fraud-scorer", CANDIDATE_POD, 100, 100, available=0), "fraud-scorer", "recsys",
                  True),
        gate_test(kserve_series("fraud-scorer", CANDIDATE_POD, 90, 100), "fraud-scorer", "recsys", True),
        gate_test(kserve_series("fraud-scorer", CANDIDATE_POD, 100, 100), "fraud-scorer", "recsys", False),
        *rollback_cases("fraud-scorer", "recsys"),
    ])


def triton_series(failed: int, disagreements: int, p99_us: int = 100000) -> list[dict]:
    selector = f'namespace="serving", inferenceservice="image-tagger", pod="image-tagger{CANDIDATE_POD}"'
    return [
        {"series": f"nv_inference_request_success{{{selector}}}", "values": f"0+{100 - failed}x{MINUTES}"},
        {"series": f"nv_inference_request_failure{{{selector}}}", "values": f"0+{failed}x{MINUTES}"},
        {"series": f'nv_inference_request_summary_us{{{selector}, quantile="0.99"}}', "values": f"{p99_us}x{MINUTES}"},
        {"series": 'stackyard_shadow_comparisons_total{endpoint="image-tagger"}', "values": f"0+100x{MINUTES}"},
        {"series": 'stackyard_shadow_disagreements_total{endpoint="image-tagger"}',
         "values": f"0+{disagreements}x{MINUTES}"},
    ]


def test_shadow_gate_and_rollback_fire_when_the_candidate_disagrees_fails_or_is_slow(rollout_plan, tmp_path):
    """image-tagger (Triton, 99.5%, p99 400 ms, at most 2% disagreement)."""
    promtool_test(rollout_plan, tmp_path, "image-tagger", [
        gate_test(triton_series(failed=0, disagreements=10), "image-tagger", "vision", True),
        gate_test(triton_series(failed=5, disagreements=0), "image-tagger", "vision", True),
        gate_test(triton_series(failed=0, disagreements=0, p99_us=900000), "image-tagger", "vision", True),
        gate_test(triton_series(failed=0, disagreements=1), "image-tagger", "vision", False),
        *rollback_cases("image-tagger", "vision"),
    ])


# --- the payload sink pairs stable and candidate answers ---------------------------------

def test_the_payload_sink_counts_shadow_disagreements(tmp_path):
    from components.drift_runtime.payload_sink import RowStore, make_handler

    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(RowStore(tmp_path, 10, 24)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"

    def answer(request_id: str, pod: str, predictions: list) -> None:
        request = urllib.request.Request(url, data=json.dumps({"predictions": predictions}).encode(), headers={
            "ce-type": "org.kubeflow.serving.inference.response", "ce-id": request_id, "ce-source": pod,
            "ce-inferenceservicename": "image-tagger", "Content-Type": "application/json"})
        urllib.request.urlopen(request, timeout=5).read()

    try:
        answer("r1", f"image-tagger{PRIMARY_POD}", [1])
        answer("r1", f"image-tagger{CANDIDATE_POD}", [1])  # agrees
        answer("r2", f"image-tagger{CANDIDATE_POD}", [0])
        answer("r2", f"image-tagger{PRIMARY_POD}", [1])  # differs, either order
        answer("r3", f"image-tagger{PRIMARY_POD}", [1])  # no candidate answer yet: not compared
        with urllib.request.urlopen(f"{url}/metrics", timeout=5) as response:
            text = response.read().decode()
    finally:
        server.shutdown()
        server.server_close()
    assert 'stackyard_shadow_comparisons_total{endpoint="image-tagger"} 2' in text
    assert 'stackyard_shadow_disagreements_total{endpoint="image-tagger"} 1' in text


def test_rollout_status_shows_strategy_steps_gate_and_locked_version(tmp_path, capsys):
    from stacks.cli import main

    path = spec_variant(tmp_path, "prod", with_rollouts)
    assert main(["rollout", "status", str(path), "recsys-ranker"]) == 0
    out = capsys.readouterr().out
    assert "canary every 5m, rollback after 2 failed" in out and "5% -> 25% -> 50% -> 100%" in out
    assert "error-ratio <= 0.001, latency-slow-ratio <= 0.01" in out and "recsys-ranker v7" in out
    assert "kubectl get canaries -n serving recsys-ranker" in out and "fraud-scorer" not in out
    assert main(["rollout", "status", str(path), "nope"]) == 2
