"""Secret hygiene: secrets that reach Stackyard appear in nothing it writes.

Distinctive values are seeded through every channel a secret arrives by:
Pulumi config secrets (the offline plan's placeholder, and a real-config run of
the program), the Secrets Manager answer the mocks give, the registry token and
credentials in the environment; and the channels of hostile input: a spec
extending a symlink to a file outside the repository, a secret pasted into a
reference field, a password in a URL, a registry that echoes the Authorization
header. Then every writing command runs on prod and each file and output is
searched for every value. A deliberately leaking writer shows the search would
notice.
"""

from __future__ import annotations

import contextlib
import copy
import io
import http.server
import json
import shutil
import socketserver
import threading
from pathlib import Path

import pytest

from stacks import offline
from stacks import plan as offline_plan
from conftest import REPO
from stacks.cli import main

SECRETS = {
    "config secret": "sy-leak-config-4f1d9a",
    "secrets manager": "sy-leak-secretsmanager-8c2e71",
    "registry token": "sy-leak-mlflowtoken-a93b05",
    "aws secret key": "sy-leak-awssecret-17e6cd",
    "config passphrase": "sy-leak-passphrase-5b7f20",
    # Channels of hostile input (issue 18): a file outside the repository a spec links to, a value
    # pasted into a secret-reference field, a password in a URL's userinfo.
    "symlinked file": "sy-leak-symlinked-e40b7c",
    "reference field": "sy-leak-referencefield-2d9a66",
    "url userinfo": "sy-leak-userinfo-71c3f8",
}


@pytest.fixture
def seeded(monkeypatch):
    monkeypatch.setattr(offline, "SECRET_PLACEHOLDER", SECRETS["config secret"])
    monkeypatch.setitem(offline._INVOKE_RESULTS, "aws:secretsmanager/getSecretVersion:getSecretVersion",
                        {"secretString": SECRETS["secrets manager"]})
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", SECRETS["registry token"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRETS["aws secret key"])
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", SECRETS["config passphrase"])


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = main(list(argv))
    return code, out.getvalue()


def leaks(outputs: dict[str, str]) -> list[tuple[str, str]]:
    """(where, which secret) for every seeded value found in an output."""
    return [(where, channel) for where, text in outputs.items()
            for channel, value in SECRETS.items() if value in text]


def written_files(folder: Path) -> dict[str, str]:
    return {str(path.relative_to(folder)): path.read_text(encoding="utf-8", errors="replace")
            for path in sorted(folder.rglob("*")) if path.is_file()}


def every_output(folder: Path, monkeypatch) -> dict[str, str]:
    """Run each writing command on prod; every file written and every command's console output.

    The commands share one in-process plan per spec file (what a writer receives is the same either
    way): the test is about what the writers emit, and the first command plans for real."""
    console = {}
    built = {}
    build = offline_plan.build

    def build_once(spec, spec_file):
        if spec_file not in built:
            built[spec_file] = build(spec, spec_file)
        return copy.deepcopy(built[spec_file])

    monkeypatch.setattr(offline_plan, "build", build_once)
    commands = {
        "plan": ["plan", "prod", "--out", str(folder / "plan")],
        "policy-config": ["policy-config", "prod", "--output", str(folder / "policy-config.json")],
        "parity-json": ["parity", "staging", "prod", "--format", "json"],
        "parity-markdown": ["parity", "staging", "prod", "--format", "markdown"],
        **{f"audit-{fmt}": ["audit", "prod", "--format", fmt, "--output", str(folder / f"audit.{fmt}")]
           for fmt in ("table", "json", "sarif", "junit", "html")},
        "audit-stdout": ["audit", "prod", "--format", "json"],
        # The base side plans in a subprocess that inherits the seeded environment.
        "diff": ["diff", "prod", "--base", "HEAD", "--markdown", str(folder / "diff.md"),
                 "--json", str(folder / "diff.json")],
    }
    for name, argv in commands.items():
        code, text = run(*argv)
        assert code in (0, 3), (name, text)  # 3: prod's audit may report advisory-turned-mandatory findings
        console[f"console of {name}"] = text
    return {**written_files(folder), **console}


def test_no_seeded_secret_appears_in_any_output(seeded, tmp_path, monkeypatch):
    outputs = every_output(tmp_path, monkeypatch)
    assert {"plan/plan.json", "policy-config.json", "audit.sarif", "audit.html", "audit.junit", "diff.md",
            "diff.json"} <= set(outputs)
    assert any(name.startswith("plan/manifests/") for name in outputs)
    assert leaks(outputs) == []
    # The plan shows the secrets exist, masked.
    assert offline.SECRET in outputs["plan/plan.json"]


def test_real_config_secret_values_are_masked_in_the_recorded_graph(seeded):
    from environments import loader

    spec = loader.load("prod")
    names = sorted(offline_plan.config_secret_names(spec))
    assert names, "prod refers to config secrets"
    config = {"environment": spec.name, "specFile": str(loader.spec_path("prod").resolve()),
              **{name: SECRETS["config secret"] for name in names}}
    recorded = offline.record(spec.name, config, secret_keys=tuple(names))
    text = json.dumps([resource.as_plan_entry() for resource in recorded])
    assert leaks({"recorded graph": text}) == []


def test_kubernetes_secrets_in_manifests_are_masked():
    resource = {"type": "kubernetes:core/v1:Secret", "inputs": {
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "n"},
        "stringData": {"token": SECRETS["registry token"]}, "data": {"key": "c2VjcmV0"}}}
    body = offline_plan.manifest(resource)
    assert body["stringData"] == {"token": offline.SECRET} and body["data"] == {"key": offline.SECRET}


def test_a_leaking_writer_is_caught(seeded, tmp_path, monkeypatch):
    honest = offline_plan.to_json
    monkeypatch.setattr(offline_plan, "to_json",
                        lambda plan: honest(plan) + f"// debug: {SECRETS['aws secret key']}\n")
    code, _ = run("plan", "prod", "--out", str(tmp_path / "plan"))
    assert code == 0
    assert leaks(written_files(tmp_path)) == [("plan/plan.json", "aws secret key")]


class _Registry(http.server.BaseHTTPRequestHandler):
    """Just enough of MLflow's REST API for `stackyard lock`: every model resolves to version 3, approved
    (prod locks approved versions only)."""

    authorizations: list[str] = []

    def do_GET(self):  # noqa: N802 - the http.server hook
        from urllib.parse import parse_qs, urlparse

        type(self).authorizations.append(self.headers.get("Authorization", ""))
        url = urlparse(self.path)
        query = {key: values[0] for key, values in parse_qs(url.query).items()}
        name = query.get("name", "model")
        if url.path.endswith("/get-download-uri"):
            body = {"artifact_uri": f"s3://models/{name}/3"}
        else:
            body = {"model_version": {"name": name, "version": "3", "run_id": "f" * 32,
                                      "source": f"s3://models/{name}/3", "tags": [
                                          {"key": "stackyard.approval.by", "value": "reviewer@example.com"},
                                          {"key": "stackyard.approval.at", "value": "2026-11-30T10:00:00Z"},
                                          {"key": "stackyard.approval.evidence",
                                           "value": f"https://evals.example.com/{name}/3"}]}}
        payload = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


def test_registry_token_is_not_in_the_lock(seeded, tmp_path):
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Registry)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        shutil.copy(REPO / "environments" / "base.yaml", tmp_path / "base.yaml")
        spec = tmp_path / "prod.yaml"
        spec.write_text((REPO / "environments" / "prod.yaml").read_text().replace(
            "https://mlflow.example.com", f"http://127.0.0.1:{server.server_address[1]}"))
        code, text = run("lock", str(spec))
    finally:
        server.shutdown()
        server.server_close()
    assert code == 0, text
    assert f"Bearer {SECRETS['registry token']}" in _Registry.authorizations  # the token did reach the registry
    outputs = {**written_files(tmp_path), "console of lock": text}
    assert "prod.lock.yaml" in outputs
    assert leaks(outputs) == []


class _EchoingRegistry(_Registry):
    """A registry that refuses every request, quoting the request's Authorization header back."""

    def do_GET(self):  # noqa: N802 - the http.server hook
        payload = json.dumps({"error_code": "PERMISSION_DENIED",
                              "message": f"token rejected: Authorization: {self.headers.get('Authorization')}"}).encode()
        self.send_response(403)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


def _prod_copy(folder: Path, old: str = "", new: str = "") -> Path:
    shutil.copy(REPO / "environments" / "base.yaml", folder / "base.yaml")
    text = (REPO / "environments" / "prod.yaml").read_text()
    assert old in text
    spec = folder / "prod.yaml"
    spec.write_text(text.replace(old, new))
    return spec


def test_a_registry_echoing_the_authorization_header_does_not_leak_the_token(seeded, tmp_path):
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _EchoingRegistry)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        spec = _prod_copy(tmp_path, "https://mlflow.example.com", f"http://127.0.0.1:{server.server_address[1]}")
        code, text = run("lock", str(spec))
    finally:
        server.shutdown()
        server.server_close()
    assert code == 2 and "refused" in text, text
    assert "Authorization" in text  # the echo was printed, without the token
    assert leaks({**written_files(tmp_path), "console of lock": text}) == []


def test_symlinked_files_reference_fields_and_url_userinfo_never_reach_an_output(seeded, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secrets.yaml").write_text(f"apiVersion: stackyard.dev/v1\nkind: {SECRETS['symlinked file']}\n")
    cases = {}
    linked = tmp_path / "linked"
    linked.mkdir()
    spec = _prod_copy(linked)
    (linked / "base.yaml").unlink()
    (linked / "base.yaml").symlink_to(outside / "secrets.yaml")
    cases["symlinked extends"] = spec
    reference = tmp_path / "reference"
    reference.mkdir()
    cases["reference field"] = _prod_copy(reference, "config: mlflowToken", f"arn: '{SECRETS['reference field']}'")
    userinfo = tmp_path / "userinfo"
    userinfo.mkdir()
    cases["url userinfo"] = _prod_copy(userinfo, "https://mlflow.example.com",
                                       f"https://admin:{SECRETS['url userinfo']}@mlflow.example.com")
    outputs = {}
    for name, path in cases.items():
        for command in (["validate", str(path)], ["plan", str(path), "--out", str(path.parent / "plan")],
                        ["audit", str(path), "--format", "json"], ["lock", str(path)]):
            code, text = run(*command)
            assert code == 2, (name, command, text)
            outputs[f"console of {command[0]} ({name})"] = text
        outputs.update({f"{name}: {file}": body for file, body in written_files(path.parent).items()
                        if not file.endswith(".yaml")})
    assert leaks(outputs) == []
