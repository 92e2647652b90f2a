"""The drift programs as they run in the cluster: the payload sink receives KServe logger CloudEvents over
HTTP, the drift check reads rows back from it and pushes its score to a Pushgateway stand-in, and promtool
accepts what it pushed."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from components.drift_runtime import RUNTIME_DIR
from components.drift_runtime.drift_check import psi
from components.drift_runtime.payload_sink import feature_rows
from conftest import free_port, require_tool

SINK = RUNTIME_DIR / "payload_sink.py"
CHECK = RUNTIME_DIR / "drift_check.py"
REQUEST = "org.kubeflow.serving.inference.request"
RESPONSE = "org.kubeflow.serving.inference.response"


@pytest.fixture
def sink(tmp_path):
    port = free_port()
    process = subprocess.Popen([sys.executable, str(SINK), "--port", str(port), "--data", str(tmp_path / "rows"),
                                "--reference-size", "200"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            urllib.request.urlopen(url + "/healthz", timeout=1).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"payload sink did not start: {process.stdout.read().decode()}")
            time.sleep(0.1)
    yield url
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture
def pushgateway():
    """Records what is PUT to it, like a Pushgateway's /metrics/job/... API."""
    pushes: list[tuple[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_PUT(self):
            pushes.append((self.path, self.rfile.read(int(self.headers["Content-Length"])).decode()))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", pushes
    server.shutdown()
    server.server_close()


def post_event(sink_url: str, endpoint: str, body, event_type: str = REQUEST) -> int:
    request = urllib.request.Request(sink_url + "/", data=json.dumps(body).encode(), method="POST", headers={
        "Content-Type": "application/json", "ce-specversion": "1.0", "ce-id": "1", "ce-source": "http://localhost",
        "ce-type": event_type, "ce-inferenceservicename": endpoint, "ce-namespace": "serving"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def send_traffic(sink_url: str, endpoint: str, requests: int, shift: float, seed: int, v2: bool = False) -> None:
    rng = random.Random(seed)
    for _ in range(requests):
        rows = [[rng.gauss(shift, 1), rng.gauss(0, 1), rng.choice(["web", "app"])] for _ in range(10)]
        if v2:
            numeric = [[x, y] for x, y, _ in rows]
            body = {"inputs": [{"name": "features", "shape": [10, 2], "datatype": "FP32", "data": numeric}]}
        else:
            body = {"instances": rows}
        assert post_event(sink_url, endpoint, body) == 200
        assert post_event(sink_url, endpoint, {"predictions": [1] * 10}, RESPONSE) == 200


def run_check(sink_url: str, pushgateway_url: str, endpoint: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(CHECK), "--endpoint", endpoint, "--sink", sink_url,
                           "--pushgateway", pushgateway_url, "--window", "300"],
                          capture_output=True, text=True, timeout=60)


def pushed_values(body: str) -> dict[str, float]:
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
            for line in body.splitlines() if line and not line.startswith("#")}


def test_shifted_inputs_push_a_high_drift_score(sink, pushgateway):
    pushgateway_url, pushes = pushgateway
    send_traffic(sink, "recsys-ranker", 20, shift=0.0, seed=1)  # 200 rows: the reference
    send_traffic(sink, "recsys-ranker", 30, shift=2.0, seed=2)  # 300 live rows, feature 0 moved by 2 sigma
    result = run_check(sink, pushgateway_url, "recsys-ranker")
    assert result.returncode == 0, result.stderr
    (path, body), = pushes
    assert path == "/metrics/job/stackyard-drift/endpoint/recsys-ranker/source/payloads"
    values = pushed_values(body)
    assert values['stackyard_drift_check_samples{window="live"}'] == 300
    assert values['stackyard_drift_check_samples{window="reference"}'] == 200
    assert values['stackyard_drift_feature_psi{feature="0"}'] > 1.0
    assert values['stackyard_drift_feature_psi{feature="1"}'] < 0.2
    assert values["stackyard_model_drift_score"] == values['stackyard_drift_feature_psi{feature="0"}']

    promtool = require_tool("promtool", "prometheus")
    lint = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_unchanged_inputs_push_a_low_drift_score(sink, pushgateway):
    pushgateway_url, pushes = pushgateway
    send_traffic(sink, "fraud-scorer", 20, shift=0.0, seed=3, v2=True)
    send_traffic(sink, "fraud-scorer", 30, shift=0.0, seed=4, v2=True)
    assert run_check(sink, pushgateway_url, "fraud-scorer").returncode == 0
    assert pushed_values(pushes[0][1])["stackyard_model_drift_score"] < 0.1


def test_a_reference_put_by_training_replaces_the_first_rows(sink, pushgateway):
    pushgateway_url, pushes = pushgateway
    send_traffic(sink, "support-summarizer", 20, shift=5.0, seed=5)  # odd first traffic becomes the reference...
    rng = random.Random(6)
    training = [[rng.gauss(0, 1), rng.gauss(0, 1), rng.choice(["web", "app"])] for _ in range(200)]
    request = urllib.request.Request(sink + "/v1/endpoints/support-summarizer/reference", method="PUT",
                                     data=json.dumps({"rows": training}).encode())
    urllib.request.urlopen(request, timeout=5).close()  # ...until training puts the real one
    send_traffic(sink, "support-summarizer", 30, shift=0.0, seed=7)
    assert run_check(sink, pushgateway_url, "support-summarizer").returncode == 0
    assert pushed_values(pushes[0][1])["stackyard_model_drift_score"] < 0.1


def test_too_few_rows_push_only_sample_counts(sink, pushgateway):
    pushgateway_url, pushes = pushgateway
    send_traffic(sink, "image-tagger", 3, shift=0.0, seed=8)
    assert run_check(sink, pushgateway_url, "image-tagger").returncode == 0
    values = pushed_values(pushes[0][1])
    assert "stackyard_model_drift_score" not in values
    assert values['stackyard_drift_check_samples{window="live"}'] == 30


def test_the_check_fails_when_the_sink_is_unreachable(pushgateway):
    pushgateway_url, pushes = pushgateway
    result = run_check(f"http://127.0.0.1:{free_port()}", pushgateway_url, "recsys-ranker")
    assert result.returncode == 1 and "cannot read rows" in result.stderr
    assert pushes == []


def test_the_sink_rejects_events_without_a_valid_endpoint(sink):
    assert post_event(sink, "", {"instances": [[1]]}) == 400
    assert post_event(sink, "../etc", {"instances": [[1]]}) == 400
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(sink + "/v1/endpoints/..%2Fetc/recent", timeout=5)
    assert error.value.code == 404


def test_feature_rows_of_v1_and_v2_requests():
    assert feature_rows({"instances": [[1, 2], [3, 4]]}) == [[1, 2], [3, 4]]
    assert feature_rows({"instances": [{"age": 3}]}) == [{"age": 3}]
    assert feature_rows({"inputs": [{"name": "x", "shape": [2, 2], "datatype": "FP32", "data": [1, 2, 3, 4]}]}) == \
        [[1, 2], [3, 4]]
    assert feature_rows({"inputs": [{"name": "a", "shape": [2], "data": [1, 2]},
                                    {"name": "b", "shape": [2], "data": ["x", "y"]}]}) == \
        [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]
    assert feature_rows({"predictions": [1]}) == []


def test_psi_is_zero_for_identical_samples_and_grows_with_the_shift():
    rng = random.Random(9)
    reference = [rng.gauss(0, 1) for _ in range(2000)]
    assert psi(reference, list(reference)) == pytest.approx(0, abs=1e-9)
    small, large = psi(reference, [x + 0.3 for x in reference]), psi(reference, [x + 1.5 for x in reference])
    assert 0 < small < large
    assert psi(["a"] * 50 + ["b"] * 50, ["a"] * 90 + ["b"] * 10) > 0.2
