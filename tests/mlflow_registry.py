"""A real MLflow tracking server on loopback for the registry tests, seeded once per test session.

`seeded_registry()` starts `mlflow server` (SQLite backend, artifacts on local disk, loopback, a free
port), logs two versions of a small scikit-learn model and points the alias @champion at the older
one. conftest.py exposes it as the session fixture `mlflow_registry`: the server start and the
seeding cost seconds, so every test that needs a registry shares one.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from environments.spec import MODEL_CARD_TAG

MODEL = "ranker"
MODEL_CARD = "https://github.example.com/ml-platform/model-cards/blob/main/ranker/v{version}.md"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


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


def register_versions(uri: str, workdir: Path) -> dict:
    """Two versions of a real scikit-learn model, the two ways MLflow registers one.

    Version 1 is logged as an MLflow 3 LoggedModel (its registry source is a
    `models:/m-...` URI the registry resolves to a storage location); version 2
    is registered from a run's artifact path (its source is that path).
    """
    import mlflow
    import numpy as np
    from mlflow import MlflowClient
    from sklearn.linear_model import LogisticRegression

    features = np.array([[0.0], [1.0], [2.0], [3.0]])
    labels = np.array([0, 0, 1, 1])
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    previous_uri = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    try:
        with mlflow.start_run():
            mlflow.sklearn.log_model(LogisticRegression().fit(features, labels), name="model",
                                     registered_model_name=MODEL, pip_requirements=["scikit-learn"])
        with mlflow.start_run() as run:
            local = workdir / "model-v2"
            mlflow.sklearn.save_model(LogisticRegression(C=0.5).fit(features, labels), str(local),
                                      pip_requirements=["scikit-learn"])
            mlflow.log_artifacts(str(local), "model")
            client.create_model_version(MODEL, source=f"{run.info.artifact_uri}/model", run_id=run.info.run_id)
    finally:
        mlflow.set_tracking_uri(previous_uri)
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
             "--default-artifact-root", (workdir / "artifacts").as_uri(), "--no-serve-artifacts",
             "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
            stdout=output, stderr=subprocess.STDOUT, cwd=workdir)
    try:
        # The server and these imports each take seconds: overlap them.
        import mlflow  # noqa: F401
        import sklearn.linear_model  # noqa: F401

        wait_until_healthy(uri, server, log)
        versions = register_versions(uri, workdir)
        yield {"uri": uri, "versions": versions}
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
