"""The retraining receiver: Alertmanager's webhook for drift alerts starts one KFP run per alert episode.

Alertmanager POSTs its webhook payload (version 4) here when an endpoint's
EndpointDriftAboveThreshold alert fires. For each firing alert whose endpoint
has a retraining pipeline in the config, the receiver creates one run of that
pipeline through the KFP API server's v2beta1 REST API, with the parameters
the spec gives it, and records the run with the alert (the run's description
names the alert, its fingerprint and when it started; GET /v1/episodes lists
what was started). An episode is one alert from its `startsAt` until it
resolves: Alertmanager repeats its notification every repeat_interval, and
those repeats start nothing. Across episodes, an endpoint is retrained at most
once per `--min-interval-seconds` (the rate limit), so a flapping alert cannot
queue a run per flap.

    POST /alerts        an Alertmanager webhook payload
    GET  /v1/episodes   the episodes seen: alert, endpoint, run id or why none was started
    GET  /healthz

The config (JSON, from the ConfigMap) maps endpoint -> {"pipeline": NAME,
"parameters": {...}}. Standard library only; one file, shipped in a ConfigMap.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Optional
from urllib.parse import quote

DRIFT_ALERT = "EndpointDriftAboveThreshold"
API = "/apis/v2beta1"


class KfpRuns:
    """The two KFP calls the receiver makes: find a pipeline by name, create a run of it."""

    def __init__(self, base_url: str, timeout: float = 30.0):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def _call(self, method: str, path: str, body: Any = None) -> dict:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.base_url}{API}{path}", data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            return json.loads(response.read() or b"{}")

    def pipeline_id(self, name: str) -> str:
        predicate = json.dumps({"predicates": [{"key": "name", "operation": "EQUALS", "string_value": name}]})
        token = ""
        while True:
            page = self._call("GET", f"/pipelines?filter={quote(predicate)}&page_size=100&page_token={token}")
            for pipeline in page.get("pipelines") or []:
                if pipeline.get("name") == name or pipeline.get("display_name") == name:
                    return pipeline["pipeline_id"]
            token = page.get("next_page_token") or ""
            if not token:
                break
        raise LookupError(f"no pipeline named {name!r} in Kubeflow Pipelines at {self.base_url}")

    def create_run(self, pipeline: str, display_name: str, description: str, parameters: dict) -> str:
        # Without a pipeline_version_id the API server runs the pipeline's latest version (KFP 2.5.0,
        # resource_manager.go): the one the last `stackyard up` registered.
        run = self._call("POST", "/runs", {
            "display_name": display_name, "description": description,
            "pipeline_version_reference": {"pipeline_id": self.pipeline_id(pipeline)},
            "runtime_config": {"parameters": parameters}})
        return run["run_id"]


class Episodes:
    """Alert episodes seen and the runs they started; decides whether an alert starts a run."""

    def __init__(self, config: dict, kfp: KfpRuns, min_interval_seconds: float, state_file: Optional[Path] = None,
                 clock: Callable[[], float] = time.time):
        self.config = config
        self.kfp = kfp
        self.min_interval = min_interval_seconds
        self.state_file = state_file
        self.clock = clock
        self.lock = threading.Lock()
        self.seen: dict[str, dict] = {}  # episode key -> record
        self.last_run: dict[str, float] = {}  # endpoint -> when its last run was started
        if state_file is not None and state_file.exists():
            saved = json.loads(state_file.read_text())
            self.seen, self.last_run = saved["episodes"], saved["lastRun"]

    def _save(self) -> None:
        if self.state_file is not None:
            self.state_file.write_text(json.dumps({"episodes": self.seen, "lastRun": self.last_run}, indent=1))

    def handle(self, alert: dict) -> Optional[dict]:
        """The record of `alert`'s episode, starting its run if this is the episode's first firing."""
        labels = alert.get("labels") or {}
        endpoint = labels.get("endpoint", "")
        if alert.get("status") != "firing" or labels.get("alertname") != DRIFT_ALERT:
            return None
        key = f"{alert.get('fingerprint', '')}@{alert.get('startsAt', '')}"
        with self.lock:
            if key in self.seen:
                return self.seen[key]  # a repeat notification of an episode already handled
            record = {"alert": DRIFT_ALERT, "endpoint": endpoint, "fingerprint": alert.get("fingerprint", ""),
                      "startsAt": alert.get("startsAt", ""), "runId": None}
            target = self.config.get(endpoint)
            now = self.clock()
            if target is None:
                record["skipped"] = f"endpoint {endpoint!r} has no retraining pipeline"
            elif now - self.last_run.get(endpoint, float("-inf")) < self.min_interval:
                record["skipped"] = f"rate limit: {endpoint} was retrained less than {self.min_interval:g} s ago"
            else:
                description = (f"Retraining started by alert {DRIFT_ALERT} for endpoint {endpoint} "
                               f"(fingerprint {record['fingerprint']}, firing since {record['startsAt']})")
                record["pipeline"] = target["pipeline"]
                record["runId"] = self.kfp.create_run(target["pipeline"], f"retrain {endpoint} after drift",
                                                      description, dict(target.get("parameters") or {}))
                self.last_run[endpoint] = now
            self.seen[key] = record
            self._save()
            return record


def make_handler(episodes: Episodes):
    class Handler(BaseHTTPRequestHandler):
        def _reply(self, status: int, body: Any) -> None:
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_POST(self) -> None:
            if self.path != "/alerts":
                self._reply(404, {"error": "unknown path"})
                return
            try:
                payload = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"null")
            except ValueError:
                payload = None
            alerts = payload.get("alerts") if isinstance(payload, dict) else None
            if not isinstance(alerts, list):
                self._reply(400, {"error": "expected an Alertmanager webhook payload with `alerts`"})
                return
            try:
                records = [record for alert in alerts if isinstance(alert, dict)
                           for record in [episodes.handle(alert)] if record is not None]
            except (OSError, LookupError, ValueError) as error:  # LookupError: no such pipeline, no run_id
                # Alertmanager retries a failed webhook: the episode is not recorded, so the retry tries again.
                self._reply(502, {"error": f"could not start the retraining run: {error}"})
                return
            self._reply(200, {"episodes": records})

        def do_GET(self) -> None:
            if self.path == "/healthz":
                self._reply(200, {"status": "ok"})
            elif self.path == "/v1/episodes":
                with episodes.lock:
                    self._reply(200, {"episodes": list(episodes.seen.values())})
            else:
                self._reply(404, {"error": "unknown path"})

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def main(argv: Optional[list] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--config", type=Path, required=True, help="endpoint -> pipeline and parameters (JSON)")
    parser.add_argument("--kfp-api", default="http://ml-pipeline.kubeflow.svc.cluster.local:8888")
    parser.add_argument("--min-interval-seconds", type=float, default=6 * 3600)
    parser.add_argument("--state", type=Path, help="where episodes survive a restart (JSON)")
    args = parser.parse_args(argv)
    episodes = Episodes(json.loads(args.config.read_text()), KfpRuns(args.kfp_api), args.min_interval_seconds,
                        args.state)
    ThreadingHTTPServer(("0.0.0.0", args.port), make_handler(episodes)).serve_forever()


if __name__ == "__main__":
    main()
