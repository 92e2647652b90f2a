"""The payload logger sink: keeps the feature rows of the requests KServe's logger sends it.

KServe's logger (InferenceService `spec.predictor.logger`) POSTs every request
and every successful response as a binary-mode CloudEvent: the payload is the
body, `ce-type` says request or response, `ce-inferenceservicename` names the
endpoint. This sink keeps the feature rows of requests (V1 `instances` or V2
`inputs`), one JSON line per row in hourly files per endpoint, and serves them
back to the drift checks:

    POST /                                   a CloudEvent from KServe's logger
    GET  /v1/endpoints/<name>/recent?limit=N the newest N rows
    GET  /v1/endpoints/<name>/reference      the reference rows
    PUT  /v1/endpoints/<name>/reference      replace them: {"rows": [...]}, e.g. a training sample
    GET  /metrics                            shadow-rollout comparisons, Prometheus text format
    GET  /healthz

During a shadow rollout the candidate (pods `<name>-predictor-<hash>-<id>`) answers
a mirrored copy of each request that the stable version (`<name>-predictor-primary-...`)
answers. The logger names the answering pod in `ce-source` and keeps the request's
id (its X-Request-Id) in `ce-id`, so the sink pairs the two answers to one request
and counts, per endpoint, the pairs compared and the pairs whose predictions differ
(stackyard_shadow_comparisons_total, stackyard_shadow_disagreements_total): the
rollout gate's disagreement ratio.

Until a reference is PUT, the first `--reference-size` rows an endpoint receives
become its reference. Standard library only; one file, shipped in a ConfigMap.
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Optional
from urllib.parse import parse_qs, urlparse

REQUEST_EVENT = "org.kubeflow.serving.inference.request"
RESPONSE_EVENT = "org.kubeflow.serving.inference.response"
PRIMARY_POD_MARK = "-predictor-primary-"  # Flagger's copy of the predictor: the stable version
PENDING_ANSWERS = 10000  # unpaired answers kept; the oldest goes first
_ENDPOINT = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")
_ROUTE = re.compile(r"^/v1/endpoints/([^/]+)/(recent|reference)\Z")
_HOUR_FILE = "rows-%Y%m%d%H.jsonl"


def _flatten(data: Any) -> list:
    if isinstance(data, list):
        return [item for element in data for item in _flatten(element)]
    return [data]


def feature_rows(body: Any) -> list:
    """The feature rows of a V1 (`instances`) or V2 (`inputs`) inference request body."""
    if isinstance(body, dict) and isinstance(body.get("instances"), list):
        return [row if isinstance(row, (list, dict)) else [row] for row in body["instances"]]
    if isinstance(body, dict) and isinstance(body.get("inputs"), list):
        tensors = [t for t in body["inputs"] if isinstance(t, dict) and "data" in t]
        if len(tensors) == 1:
            data = _flatten(tensors[0]["data"])
            shape = tensors[0].get("shape") or [len(data)]
            width = 1
            for size in shape[1:]:
                width *= int(size)
            return [data[i:i + width] for i in range(0, len(data), width)]
        columns = {t.get("name", str(i)): _flatten(t["data"]) for i, t in enumerate(tensors)}
        length = min((len(values) for values in columns.values()), default=0)
        return [{name: values[i] for name, values in columns.items()} for i in range(length)]
    return []


class RowStore:
    """Rows per endpoint on disk: hourly JSON-lines files plus a reference file."""

    def __init__(self, root: Path, reference_size: int, retention_hours: int):
        self.root = root
        self.reference_size = reference_size
        self.retention_hours = retention_hours
        self.lock = threading.Lock()

    def _dir(self, endpoint: str) -> Path:
        path = self.root / endpoint
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _reference_count(self, directory: Path) -> int:
        reference = directory / "reference.jsonl"
        return sum(1 for _ in reference.open()) if reference.exists() else 0

    def append(self, endpoint: str, rows: list) -> None:
        now = time.time()
        lines = "".join(json.dumps(row, separators=(",", ":")) + "\n" for row in rows)
        with self.lock:
            directory = self._dir(endpoint)
            hour_file = directory / time.strftime(_HOUR_FILE, time.gmtime(now))
            if not hour_file.exists():
                self._prune(directory, now)
            with hour_file.open("a") as out:
                out.write(lines)
            if not (directory / "reference.pinned").exists():
                missing = self.reference_size - self._reference_count(directory)
                if missing > 0:
                    with (directory / "reference.jsonl").open("a") as out:
                        out.write("".join(json.dumps(row, separators=(",", ":")) + "\n" for row in rows[:missing]))

    def _prune(self, directory: Path, now: float) -> None:
        oldest = time.strftime(_HOUR_FILE, time.gmtime(now - self.retention_hours * 3600))
        for path in directory.glob("rows-*.jsonl"):
            if path.name < oldest:
                path.unlink()

    def recent(self, endpoint: str, limit: int) -> list:
        rows: list = []
        with self.lock:
            for path in sorted(self._dir(endpoint).glob("rows-*.jsonl"), reverse=True):
                lines = path.read_text().splitlines()
                rows = [json.loads(line) for line in lines[-(limit - len(rows)):]] + rows
                if len(rows) >= limit:
                    break
        return rows

    def reference(self, endpoint: str) -> list:
        with self.lock:
            path = self._dir(endpoint) / "reference.jsonl"
            return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def set_reference(self, endpoint: str, rows: list) -> None:
        with self.lock:
            directory = self._dir(endpoint)
            (directory / "reference.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
            (directory / "reference.pinned").write_text("")


def answer(body: Any) -> Any:
    """What a response says, without what differs between two servers anyway (ids, timings)."""
    if isinstance(body, dict) and "predictions" in body:
        return body["predictions"]
    if isinstance(body, dict) and isinstance(body.get("outputs"), list):
        return [{"name": t.get("name"), "data": t.get("data")} for t in body["outputs"] if isinstance(t, dict)]
    return body


class ShadowComparisons:
    """Pairs the stable and the candidate answer to one request and counts the pairs that differ."""

    def __init__(self, pending_limit: int = PENDING_ANSWERS):
        self.pending: "collections.OrderedDict[tuple[str, str], tuple[str, Any]]" = collections.OrderedDict()
        self.pending_limit = pending_limit
        self.compared: dict[str, int] = {}
        self.differed: dict[str, int] = {}
        self.lock = threading.Lock()

    def add(self, endpoint: str, request_id: str, source_pod: str, body: Any) -> None:
        role = "stable" if PRIMARY_POD_MARK in source_pod else "candidate"
        key = (endpoint, request_id)
        with self.lock:
            other = self.pending.pop(key, None)
            if other is None or other[0] == role:
                self.pending[key] = (role, answer(body))
                while len(self.pending) > self.pending_limit:
                    self.pending.popitem(last=False)
                return
            self.compared[endpoint] = self.compared.get(endpoint, 0) + 1
            self.differed.setdefault(endpoint, 0)
            if other[1] != answer(body):
                self.differed[endpoint] += 1

    def exposition(self) -> str:
        with self.lock:
            lines = []
            for metric, counts, help_text in (
                    ("stackyard_shadow_comparisons_total", self.compared, "Mirrored requests answered by both"),
                    ("stackyard_shadow_disagreements_total", self.differed, "Of those, answers that differ")):
                lines += [f"# HELP {metric} {help_text}", f"# TYPE {metric} counter"]
                lines += [f'{metric}{{endpoint="{endpoint}"}} {count}' for endpoint, count in sorted(counts.items())]
        return "\n".join(lines) + "\n"


def make_handler(store: RowStore, shadow: Optional[ShadowComparisons] = None):
    shadow = shadow if shadow is not None else ShadowComparisons()

    class Handler(BaseHTTPRequestHandler):
        def _reply(self, status: int, body: Optional[dict] = None) -> None:
            payload = json.dumps(body or {}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _body(self) -> Any:
            length = int(self.headers.get("Content-Length") or 0)
            return json.loads(self.rfile.read(length) or b"null")

        def _route(self) -> Optional[tuple[str, str]]:
            match = _ROUTE.match(urlparse(self.path).path)
            if not match or not _ENDPOINT.match(match.group(1)):
                self._reply(404, {"error": "unknown path"})
                return None
            return match.group(1), match.group(2)

        def do_POST(self) -> None:
            endpoint = self.headers.get("ce-inferenceservicename", "")
            if not _ENDPOINT.match(endpoint):
                self._reply(400, {"error": "missing or invalid ce-inferenceservicename header"})
                return
            try:
                body = self._body()
            except ValueError:
                self._reply(400, {"error": "body is not JSON"})
                return
            if self.headers.get("ce-type") == REQUEST_EVENT:
                rows = feature_rows(body)
                if rows:
                    store.append(endpoint, rows)
            elif self.headers.get("ce-type") == RESPONSE_EVENT and self.headers.get("ce-id"):
                shadow.add(endpoint, self.headers["ce-id"], self.headers.get("ce-source", ""), body)
            self._reply(200, {})

        def do_GET(self) -> None:
            if self.path == "/healthz":
                self._reply(200, {"status": "ok"})
                return
            if self.path == "/metrics":
                payload = shadow.exposition().encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                return
            route = self._route()
            if route is None:
                return
            endpoint, what = route
            if what == "recent":
                limit = int(parse_qs(urlparse(self.path).query).get("limit", ["1000"])[0])
                self._reply(200, {"rows": store.recent(endpoint, max(1, limit))})
            else:
                self._reply(200, {"rows": store.reference(endpoint)})

        def do_PUT(self) -> None:
            route = self._route()
            if route is None:
                return
            endpoint, what = route
            body = self._body()
            if what != "reference" or not isinstance(body, dict) or not isinstance(body.get("rows"), list):
                self._reply(400, {"error": 'expected {"rows": [...]} at /v1/endpoints/<name>/reference'})
                return
            store.set_reference(endpoint, body["rows"])
            self._reply(200, {"rows": len(body["rows"])})

        def log_message(self, format: str, *args: Any) -> None:  # one line per request is too much
            pass

    return Handler


def main(argv: Optional[list] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--data", type=Path, required=True, help="directory for the rows (a volume)")
    parser.add_argument("--reference-size", type=int, default=1000)
    parser.add_argument("--retention-hours", type=int, default=168)
    args = parser.parse_args(argv)
    store = RowStore(args.data, args.reference_size, args.retention_hours)
    server = ThreadingHTTPServer(("", args.port), make_handler(store))
    print(f"payload sink listening on :{server.server_address[1]}, rows in {args.data}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
