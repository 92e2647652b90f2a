"""Secret hygiene: secrets that reach Stackyard appear in nothing it writes.

Distinctive values are seeded through every channel a secret arrives by:
Pulumi config secrets (the offline plan's placeholder, and a real-config run of
the program), the Secrets Manager answer the mocks give, the registry token and
credentials in the environment. Then every writing command runs on prod and
each file and output is searched for every value. A deliberately leaking writer
shows the search would notice.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest

from stacks import offline
from stacks import plan as offline_plan
from stacks.cli import main

SECRETS = {
    "config secret": "sy-leak-config-4f1d9a",
    "secrets manager": "sy-leak-secretsmanager-8c2e71",
    "registry token": "sy-leak-mlflowtoken-a93b05",
    "aws secret key": "sy-leak-awssecret-17e6cd",
    "config passphrase": "sy-leak-passphrase-5b7f20",
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


def every_output(folder: Path) -> dict[str, str]:
    """Run each writing command on prod; every file written and every command's console output."""
    console = {}
    commands = {
        "plan": ["plan", "prod", "--out", str(folder / "plan")],
        "policy-config": ["policy-config", "prod", "--output", str(folder / "policy-config.json")],
        "parity-json": ["parity", "staging", "prod", "--format", "json"],
        "parity-markdown": ["parity", "staging", "prod", "--format", "markdown"],
        **{f"audit-{fmt}": ["audit", "prod", "--format", fmt, "--output", str(folder / f"audit.{fmt}")]
           for fmt in ("table", "json", "sarif", "junit", "html")},
        "audit-stdout": ["audit", "prod", "--format", "json"],
    }
    for name, argv in commands.items():
        code, text = run(*argv)
        assert code in (0, 3), (name, text)
        console[f"console of {name}"] = text
    return {**written_files(folder), **console}


def test_no_seeded_secret_appears_in_any_output(seeded, tmp_path):
    outputs = every_output(tmp_path)
    assert {"plan/plan.json", "policy-config.json", "audit.sarif", "audit.html", "audit.junit"} <= set(outputs)
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
