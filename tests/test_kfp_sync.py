"""components/kfp_sync.py (what the registration Jobs run) against an in-memory KFP v2beta1 API on loopback.

The fake keeps pipelines, versions and recurring runs the way the API server
does and records every write, so the tests can say "nothing was created".
"""

from __future__ import annotations

import email.parser
import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

from components import kfp_sync

IR = b"pipelineInfo:\n  name: stackyard-training\n"


class FakeKfp:
    def __init__(self):
        self.pipelines: dict[str, dict] = {}
        self.versions: dict[str, dict] = {}
        self.runs: dict[str, dict] = {}
        self.one_off_runs: list[dict] = []  # POST /runs, as the retraining receiver creates them
        self.packages: dict[str, bytes] = {}  # version id -> the uploaded IR
        self.writes: list[str] = []


def _handler(state: FakeKfp):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _reply(self, body: dict, code: int = 200):
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _page(self, key: str, items: list, query: dict):
            # Two items a page, so the client has to follow next_page_token.
            start = int(query.get("page_token", ["0"])[0])
            page = {key: items[start:start + 2]}
            if start + 2 < len(items):
                page["next_page_token"] = str(start + 2)
            self._reply(page)

        def do_GET(self):
            url = urlparse(self.path)
            query = parse_qs(url.query)
            parts = url.path.removeprefix("/apis/v2beta1/").split("/")
            if parts == ["healthz"]:
                return self._reply({})
            if parts == ["pipelines"]:
                return self._page("pipelines", list(state.pipelines.values()), query)
            if len(parts) == 3 and parts[0] == "pipelines" and parts[2] == "versions":
                versions = [v for v in state.versions.values() if v["pipeline_id"] == parts[1]]
                return self._page("pipeline_versions", versions, query)
            if parts == ["recurringruns"]:
                return self._page("recurringRuns", list(state.runs.values()), query)
            self._reply({"error": "not found"}, 404)

        def do_POST(self):
            url = urlparse(self.path)
            query = parse_qs(url.query)
            length = int(self.headers.get("Content-Length", 0))
            raw = self.rfile.read(length)
            parts = url.path.removeprefix("/apis/v2beta1/").split("/")
            if parts == ["pipelines"]:
                body = json.loads(raw)
                pipeline = {"pipeline_id": str(uuid.uuid4()), "display_name": body["display_name"],
                            "name": body["name"]}
                state.pipelines[pipeline["pipeline_id"]] = pipeline
                state.writes.append(f"create pipeline {body['name']}")
                return self._reply(pipeline)
            if parts == ["pipelines", "upload_version"]:
                message = email.parser.BytesParser().parsebytes(
                    f"Content-Type: {self.headers['Content-Type']}\r\n\r\n".encode() + raw)
                form = {part.get_param("name", header="content-disposition"): [part.get_payload(decode=True)]
                        for part in message.get_payload()}
                version = {"pipeline_version_id": str(uuid.uuid4()), "pipeline_id": query["pipelineid"][0],
                           "display_name": query["display_name"][0], "name": query["name"][0]}
                state.versions[version["pipeline_version_id"]] = version
                state.packages[version["pipeline_version_id"]] = form["uploadfile"][0]
                state.writes.append(f"upload version {query['name'][0]}")
                return self._reply(version)
            if parts == ["runs"]:
                run = {**json.loads(raw), "run_id": str(uuid.uuid4())}
                state.one_off_runs.append(run)
                state.writes.append(f"create one-off run {run['display_name']}")
                return self._reply(run)
            if parts == ["recurringruns"]:
                body = json.loads(raw)
                run = {**body, "recurring_run_id": str(uuid.uuid4())}
                state.runs[run["recurring_run_id"]] = run
                state.writes.append(f"create run {body['display_name']}")
                return self._reply(run)
            self._reply({"error": "not found"}, 404)

        def do_DELETE(self):
            run_id = urlparse(self.path).path.rsplit("/", 1)[-1]
            run = state.runs.pop(run_id)
            state.writes.append(f"delete run {run['display_name']}")
            self._reply({})

    return Handler


@pytest.fixture
def kfp():
    state = FakeKfp()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, kfp_sync.KfpApi(f"http://127.0.0.1:{server.server_address[1]}", timeout=5)
    finally:
        server.shutdown()
        server.server_close()


def test_register_creates_the_pipeline_and_version_once(kfp):
    state, api = kfp
    first = kfp_sync.register(api, "train-recsys", "a" * 64, IR)
    assert first[2] is True
    assert state.writes == ["create pipeline train-recsys", f"upload version {'a' * 64}"]
    assert list(state.packages.values()) == [IR]

    state.writes.clear()
    again = kfp_sync.register(api, "train-recsys", "a" * 64, IR)
    assert state.writes == []  # re-running the Job registers nothing new
    assert again == (first[0], first[1], False)


def test_a_new_version_goes_into_the_same_pipeline(kfp):
    state, api = kfp
    pipeline_id, _, _ = kfp_sync.register(api, "train-recsys", "a" * 64, IR)
    state.writes.clear()
    second_pipeline_id, _, created = kfp_sync.register(api, "train-recsys", "b" * 64, IR + b"# changed\n")
    assert created and second_pipeline_id == pipeline_id
    assert state.writes == [f"upload version {'b' * 64}"]
    assert len(state.pipelines) == 1 and len(state.versions) == 2


def test_listing_follows_pages(kfp):
    state, api = kfp
    for index in range(5):
        kfp_sync.register(api, f"pipeline-{index}", "c" * 64, IR)
    assert kfp_sync.find_pipeline(api, "pipeline-4") is not None  # on the third page


def _definition(schedule="nightly", **changes):
    definition = {"pipeline": "train-recsys", "schedule": schedule, "version": "a" * 64, "cron": "0 2 * * *",
                  "parameters": {"min_accuracy": 0.82, "model_name": "recsys-ranker"}, "enabled": True}
    return {**definition, **changes}


def test_recurring_runs_are_created_with_the_spec_parameters_then_left_alone(kfp):
    state, api = kfp
    kfp_sync.register(api, "train-recsys", "a" * 64, IR)
    report = kfp_sync.sync_recurring_runs(api, "prod", [_definition()])
    assert report["created"] == ["train-recsys-nightly"]
    (run,) = state.runs.values()
    assert run["runtime_config"]["parameters"] == {"min_accuracy": 0.82, "model_name": "recsys-ranker"}
    assert run["trigger"]["cron_schedule"]["cron"] == "0 0 2 * * *"  # KFP's six fields, seconds first
    assert run["mode"] == "ENABLE"
    version_id = next(iter(state.versions))
    assert run["pipeline_version_reference"]["pipeline_version_id"] == version_id

    state.writes.clear()
    report = kfp_sync.sync_recurring_runs(api, "prod", [_definition()])
    assert state.writes == [] and report["kept"] == ["train-recsys-nightly"]


def test_a_changed_schedule_is_replaced_and_a_removed_one_deleted(kfp):
    state, api = kfp
    kfp_sync.register(api, "train-recsys", "a" * 64, IR)
    kfp_sync.sync_recurring_runs(api, "prod", [_definition(), _definition("weekly", cron="0 6 * * 1")])
    state.writes.clear()
    kfp_sync.sync_recurring_runs(api, "prod", [_definition(parameters={"model_name": "x", "min_accuracy": 0.9})])
    assert sorted(state.writes) == ["create run train-recsys-nightly", "delete run train-recsys-nightly",
                                    "delete run train-recsys-weekly"]
    (run,) = state.runs.values()
    assert run["runtime_config"]["parameters"] == {"model_name": "x", "min_accuracy": 0.9}


def test_runs_made_by_people_or_other_environments_are_not_touched(kfp):
    state, api = kfp
    state.runs["manual"] = {"recurring_run_id": "manual", "display_name": "adhoc", "description": "mine"}
    state.runs["staging"] = {"recurring_run_id": "staging", "display_name": "x",
                             "description": "managed-by stackyard staging train-recsys/nightly 0123"}
    kfp_sync.sync_recurring_runs(api, "prod", [])
    assert set(state.runs) == {"manual", "staging"}


def test_a_run_for_an_unregistered_version_fails_clearly(kfp):
    _, api = kfp
    with pytest.raises(kfp_sync.KfpApiError, match="has no version"):
        kfp_sync.sync_recurring_runs(api, "prod", [_definition()])


def test_command_line_register_and_sync(kfp, tmp_path, capsys):
    state, api = kfp
    ir = tmp_path / "pipeline.yaml"
    ir.write_bytes(IR)
    assert kfp_sync.main(["--api", api.base_url, "register", "--pipeline", "train-recsys",
                          "--version", "a" * 64, "--ir", str(ir)]) == 0
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / "train-recsys--nightly.json").write_text(json.dumps(_definition()))
    assert kfp_sync.main(["--api", api.base_url, "recurring-runs", "--environment", "prod", "--runs", str(runs)]) == 0
    assert "train-recsys-nightly" in capsys.readouterr().out
    assert len(state.runs) == 1


def test_the_job_program_needs_only_the_standard_library():
    """The Jobs run it with a plain Python image: any third-party import would fail in the cluster."""
    import ast
    import inspect
    import sys

    tree = ast.parse(inspect.getsource(kfp_sync))
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module}
    assert imported - {"__future__"} <= set(sys.stdlib_module_names), imported - set(sys.stdlib_module_names)
