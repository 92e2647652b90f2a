"""Drift-triggered retraining: Alertmanager routes drift alerts to the receiver (real amtool), and the
receiver starts exactly one run per alert episode in a fake KFP API on loopback."""

from __future__ import annotations

import json
import subprocess
import threading
import urllib.error
import urllib.request
from http.server import ThreadingHTTPServer
from types import SimpleNamespace

import pytest
import yaml

from components import alertmanager_config
from components.drift_runtime.retrain_receiver import Episodes, KfpRuns, make_handler
from conftest import require_tool
from environments import loader
from test_kfp_sync import FakeKfp, _handler

PARAMETERS = {"model_name": "recsys-ranker", "min_accuracy": 0.82}


def drift_alert(starts_at: str, fingerprint: str = "4f1c2b7a9e0d3c15") -> dict:
    return {"status": "firing", "fingerprint": fingerprint, "startsAt": starts_at,
            "labels": {"alertname": "EndpointDriftAboveThreshold", "endpoint": "recsys-ranker",
                       "severity": "warning", "team": "recsys", "component": "drift"}}


@pytest.fixture
def receiver(tmp_path):
    """The fake KFP API with pipeline train-recsys, and the receiver in front of it, both on loopback."""
    state = FakeKfp()
    state.pipelines["p-1"] = {"pipeline_id": "p-1", "name": "train-recsys", "display_name": "train-recsys"}
    state.pipelines["p-2"] = {"pipeline_id": "p-2", "name": "drift-recsys", "display_name": "drift-recsys"}
    state.pipelines["p-3"] = {"pipeline_id": "p-3", "name": "other", "display_name": "other"}
    kfp_server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    clock = {"now": 1_000_000.0}
    episodes = Episodes({"recsys-ranker": {"pipeline": "train-recsys", "parameters": PARAMETERS}},
                        KfpRuns(f"http://127.0.0.1:{kfp_server.server_address[1]}", timeout=5),
                        min_interval_seconds=6 * 3600, state_file=tmp_path / "episodes.json",
                        clock=lambda: clock["now"])
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(episodes))
    for each in (kfp_server, server):
        threading.Thread(target=each.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"

    def post(body: bytes) -> dict:
        request = urllib.request.Request(f"{url}/alerts", data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.loads(response.read())

    def fire(*alerts: dict) -> dict:
        return post(json.dumps({"version": "4", "status": "firing", "receiver": "stackyard-retrain",
                                "alerts": list(alerts)}).encode())


    try:
        yield SimpleNamespace(kfp=state, fire=fire, post=post, clock=clock, state_file=tmp_path / "episodes.json")
    finally:
        for each in (server, kfp_server):
            each.shutdown()
            each.server_close()


def test_an_alert_fired_twice_in_one_episode_starts_exactly_one_run(receiver):
    state, fire, clock, state_file = receiver.kfp, receiver.fire, receiver.clock, receiver.state_file
    first = fire(drift_alert("2026-12-01T09:00:00Z"))
    clock["now"] += 4 * 3600  # Alertmanager's repeat notification, four hours on
    again = fire(drift_alert("2026-12-01T09:00:00Z"))
    (run,) = state.one_off_runs
    assert run["pipeline_version_reference"] == {"pipeline_id": "p-1"}
    assert run["runtime_config"] == {"parameters": PARAMETERS}
    assert "EndpointDriftAboveThreshold" in run["description"] and "4f1c2b7a9e0d3c15" in run["description"]
    assert first["episodes"][0]["runId"] == run["run_id"] == again["episodes"][0]["runId"]
    recorded = json.loads(state_file.read_text())["episodes"]
    assert [(e["fingerprint"], e["startsAt"], e["runId"]) for e in recorded.values()] == [
        ("4f1c2b7a9e0d3c15", "2026-12-01T09:00:00Z", run["run_id"])]
    # A restarted receiver reads the episodes back: the next repeat starts nothing either.
    restarted = Episodes({"recsys-ranker": {"pipeline": "train-recsys", "parameters": PARAMETERS}},
                         KfpRuns("http://127.0.0.1:9", timeout=1), 6 * 3600, state_file, clock=lambda: clock["now"])
    assert restarted.handle(drift_alert("2026-12-01T09:00:00Z"))["runId"] == run["run_id"]
    assert len(state.one_off_runs) == 1


def test_a_new_episode_is_rate_limited_then_retrains(receiver):
    state, fire, clock = receiver.kfp, receiver.fire, receiver.clock
    fire(drift_alert("2026-12-01T09:00:00Z"))
    clock["now"] += 3600
    limited = fire(drift_alert("2026-12-01T10:00:00Z"))  # resolved and fired again within the hour
    assert limited["episodes"][0]["runId"] is None and "rate limit" in limited["episodes"][0]["skipped"]
    clock["now"] += 6 * 3600
    fire(drift_alert("2026-12-01T17:00:00Z"))
    assert len(state.one_off_runs) == 2


def test_a_payload_that_is_not_alertmanagers_is_refused(receiver):
    with pytest.raises(urllib.error.HTTPError) as refused:
        receiver.post(b'{"alerts": "none"}')
    assert refused.value.code == 400


def test_resolved_other_and_unconfigured_alerts_start_nothing(receiver):
    state, fire = receiver.kfp, receiver.fire
    other = drift_alert("2026-12-01T09:00:00Z")
    other["labels"]["endpoint"] = "fraud-scorer"
    resolved = {**drift_alert("2026-12-01T08:00:00Z"), "status": "resolved"}
    unrelated = {**drift_alert("2026-12-01T08:00:00Z"), "labels": {"alertname": "GpuIdle"}}
    answer = fire(other, resolved, unrelated)
    assert state.one_off_runs == []
    assert answer["episodes"][0]["skipped"] == "endpoint 'fraud-scorer' has no retraining pipeline"


def test_amtool_routes_drift_alerts_to_the_receiver_and_to_the_people(tmp_path):
    amtool = require_tool("amtool", "prometheus-alertmanager")
    receivers = loader.load("prod").monitoring.receivers
    text = alertmanager_config.render(receivers, {r.name: "https://hooks.example.com/x" for r in receivers},
                                      retrain_url="http://retrain-receiver.monitoring.svc.cluster.local/alerts")
    path = tmp_path / "alertmanager.yaml"
    path.write_text(text)
    check = subprocess.run([amtool, "check-config", str(path)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr

    def routed(*labels: str) -> set[str]:
        out = subprocess.run([amtool, "config", "routes", "test", f"--config.file={path}", *labels],
                             capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        return set(out.stdout.strip().split(","))

    assert routed("alertname=EndpointDriftAboveThreshold", "severity=warning", "endpoint=recsys-ranker") == {
        alertmanager_config.RETRAIN_RECEIVER, "ml-platform-slack"}
    assert alertmanager_config.RETRAIN_RECEIVER not in routed("alertname=EndpointUnavailable", "severity=critical")
    assert yaml.safe_load(text)["receivers"][1]["webhook_configs"][0]["send_resolved"] is False


def test_prod_runs_the_receiver_with_the_training_pipeline_of_each_drifting_endpoint():
    """recsys-ranker (drift on) is trained by train-recsys's nightly schedule (model_name: recsys-ranker);
    fraud-scorer has drift on but no pipeline trains fraud-xgb, so it is not retrained."""
    from components.drift_runtime import RETRAIN_RECEIVER, source
    from conftest import plan_for, resources

    plan = plan_for("prod")
    (config_map,) = [r["inputs"] for r in resources(plan, "kubernetes:core/v1:ConfigMap")
                     if r["inputs"]["metadata"]["name"] == "retrain-receiver-code"]
    assert json.loads(config_map["data"]["targets.json"]) == {
        "recsys-ranker": {"pipeline": "train-recsys", "parameters": PARAMETERS}}
    assert config_map["data"][RETRAIN_RECEIVER] == source(RETRAIN_RECEIVER)
    (deployment,) = [r["inputs"] for r in resources(plan, "kubernetes:apps/v1:Deployment")
                     if r["inputs"]["metadata"]["name"] == "retrain-receiver"]
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--kfp-api") + 1] == "http://ml-pipeline.kubeflow.svc.cluster.local:8888"
    assert not [r for r in resources(plan_for("dev"), "kubernetes:apps/v1:Deployment")
                if r["inputs"]["metadata"]["name"] == "retrain-receiver"]
