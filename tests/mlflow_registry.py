"""A real MLflow tracking server on loopback for the registry tests, seeded once per test session.

`seeded_registry()` starts `mlflow server` (SQLite backend, artifacts recorded under an S3 prefix,
loopback, a free port), registers two versions of a model and points the alias @champion at the
older one. conftest.py exposes it as the session fixture `mlflow_registry`: the server start and the
seeding cost seconds, so every test that needs a registry shares one.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import free_port
from environments.spec import MODEL_CARD_TAG

MODEL = "ranker"
MODEL_CARD = "https://github.example.com/ml-platform/model-cards/blob/main/ranker/v{version}.md"


def wait_until_healthy(url: str, server: subprocess.Popen, log: Path, deadline_seconds: float = 180) -> None:
    deadline = time.monotonic() + deadline_seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"mlflow server exited with {server.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"mlflow server not healthy after {deadline_seconds} s:\n{log.read_text()[-3000:]}")


# Model sources are untrusted and must be s3://, gs:// or https:// with a concrete prefix (never the
# file:// a local artifact root gives), so the server records an S3 prefix; nothing is uploaded.
ARTIFACT_ROOT = "s3://stackyard-test-models/mlflow"


def register_versions(uri: str) -> dict:
    """Two versions of a model stored under ARTIFACT_ROOT, the two ways MLflow registers one.

    Version 1 is an MLflow 3 LoggedModel (its registry source is a `models:/m-...`
    URI the registry resolves to the logged model's storage location); version 2
    is registered from a run's artifact path (its source is that path).
    """
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiment = client.create_experiment("ranker-training")
    client.create_registered_model(MODEL)
    logged = client.create_logged_model(experiment, name="model")
    client.create_model_version(MODEL, source=f"models:/{logged.model_id}", model_id=logged.model_id)
    run = client.create_run(experiment)
    client.create_model_version(MODEL, source=f"{run.info.artifact_uri}/model", run_id=run.info.run_id)
    for version in ("1", "2"):
        client.set_model_version_tag(MODEL, version, MODEL_CARD_TAG, MODEL_CARD.format(version=version))
    client.set_registered_model_alias(MODEL, "champion", "1")
    return {version: {"source": client.get_model_version(MODEL, version).source,
                      "storage": client.get_model_version_download_uri(MODEL, version),
                      "run_id": client.get_model_version(MODEL, version).run_id}
            for version in ("1", "2")}


@contextlib.contextmanager
def seeded_registry(workdir: Path):
    """A running MLflow tracking server with model `ranker` versions 1 and 2, alias @champion -> 1."""
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    mlflow_cli = Path(sys.executable).parent / "mlflow"
    log = workdir / "server.log"
    with log.open("w") as output:
        server = subprocess.Popen(
            [str(mlflow_cli), "server", "--backend-store-uri", f"sqlite:///{workdir / 'mlflow.db'}",
             "--default-artifact-root", ARTIFACT_ROOT, "--no-serve-artifacts",
             "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
            stdout=output, stderr=subprocess.STDOUT, cwd=workdir)
    try:
        import mlflow  # noqa: F401 - seconds to import: overlapped with the server's start

        wait_until_healthy(uri, server, log)
        versions = register_versions(uri)
        yield {"uri": uri, "versions": versions}
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
