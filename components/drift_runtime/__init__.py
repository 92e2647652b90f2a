"""Programs that run in the cluster for drift detection, shipped to it in ConfigMaps.

`payload_sink.py` receives the payloads KServe's logger sends and keeps the
feature rows; `drift_check.py` compares recent rows to a reference and pushes
the drift score to the Pushgateway; `retrain_receiver.py` takes Alertmanager's drift alerts and
starts the retraining runs in Kubeflow Pipelines. Each is a single file that need only the
Python standard library, so any image with python3 runs them.
"""

from __future__ import annotations

from pathlib import Path

RUNTIME_DIR = Path(__file__).resolve().parent
PAYLOAD_SINK = "payload_sink.py"
DRIFT_CHECK = "drift_check.py"
RETRAIN_RECEIVER = "retrain_receiver.py"


def source(filename: str) -> str:
    """The source of one of the programs, as it is shipped in a ConfigMap."""
    return (RUNTIME_DIR / filename).read_text()
