"""Drift: score a sample on an endpoint, compare it to the training reference, publish the score.

Run parameters: `endpoint`, the serving endpoint (InferenceService) to check;
`threshold`, the drift score above which the run reports drift; `model_name`
and `model_alias`, the MLflow model whose training reference to compare with
(default: the model named like the endpoint, alias `champion`); `sample_uri`,
recent inputs as Parquet or CSV (empty: a sample drawn from the reference
itself, which measures the pipeline, not the traffic); `sample_size`;
`serving_namespace`.

The score is the largest population stability index (PSI) over the features.
It is published as the Prometheus gauge `stackyard_model_drift_score` with an
`endpoint` label through the Pushgateway (the Monitoring component alerts on
it), and as a KFP metric of the run.
"""

# No `from __future__ import annotations`: kfp reads the annotations as types.
from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Metrics, Output

from pipelines.platform import PYTHON_IMAGE, use_platform_endpoints

@dsl.component(base_image=PYTHON_IMAGE, packages_to_install=["mlflow==3.1.1"])
def load_reference(endpoint: str, model_name: str, model_alias: str, reference_stats: Output[Artifact]):
    """The feature distribution the served model was trained on (written by the training pipeline)."""
    import shutil

    import mlflow
    from mlflow import MlflowClient

    name = model_name or endpoint
    version = MlflowClient().get_model_version_by_alias(name, model_alias)
    uri = version.tags.get("stackyard.reference_stats")
    if not uri:
        raise ValueError(f"model {name}@{model_alias} (version {version.version}) has no training reference; "
                         "register it with the training pipeline")
    shutil.copyfile(mlflow.artifacts.download_artifacts(artifact_uri=uri), reference_stats.path)
    reference_stats.metadata.update({"model": name, "version": version.version})


@dsl.component(base_image=PYTHON_IMAGE, packages_to_install=["pandas==2.2.3", "pyarrow==20.0.0", "s3fs==2025.5.1"])
def score_sample(endpoint: str, serving_namespace: str, sample_uri: str, sample_size: int,
                 reference_stats: Input[Artifact], sample: Output[Dataset]):
    """Send a sample of inputs to the endpoint (KServe open inference protocol) and keep the predictions."""
    import json
    import urllib.request

    import numpy as np
    import pandas as pd

    with open(reference_stats.path) as handle:
        reference = json.load(handle)
    features = sorted(reference["features"])
    if sample_uri:
        reader = pd.read_parquet if sample_uri.endswith(".parquet") else pd.read_csv
        frame = reader(sample_uri)[features]
        frame = frame.sample(n=min(sample_size, len(frame)), random_state=7)
    else:
        generator = np.random.default_rng(7)
        columns = {}
        for name in features:
            edges = np.asarray(reference["features"][name]["edges"])
            bins = generator.choice(len(edges) - 1, size=sample_size, p=reference["features"][name]["fractions"])
            columns[name] = generator.uniform(edges[bins], edges[bins + 1])
        frame = pd.DataFrame(columns)

    url = f"http://{endpoint}-predictor.{serving_namespace}.svc.cluster.local/v2/models/{endpoint}/infer"
    predictions = []
    for start in range(0, len(frame), 100):
        batch = frame.iloc[start:start + 100]
        body = {"inputs": [{"name": "input-0", "shape": list(batch.shape), "datatype": "FP64",
                            "data": batch.to_numpy().ravel().tolist()}]}
        request = urllib.request.Request(url, data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(request, timeout=30) as response:
            predictions.extend(json.load(response)["outputs"][0]["data"])
    frame["prediction"] = predictions
    frame.to_parquet(sample.path, index=False)


@dsl.component(base_image=PYTHON_IMAGE, packages_to_install=["pandas==2.2.3", "pyarrow==20.0.0"])
def compare_distributions(sample: Input[Dataset], reference_stats: Input[Artifact],
                          metrics: Output[Metrics]) -> float:
    """Population stability index per feature against the training bins; the score is the largest."""
    import json

    import numpy as np
    import pandas as pd

    with open(reference_stats.path) as handle:
        reference = json.load(handle)
    frame = pd.read_parquet(sample.path)
    worst = 0.0
    for name, stats in sorted(reference["features"].items()):
        edges = np.asarray(stats["edges"], dtype=float)
        expected = np.clip(np.asarray(stats["fractions"], dtype=float), 1e-6, None)
        # Values outside the training range count in the outermost bins.
        counts, _ = np.histogram(np.clip(frame[name], edges[0], edges[-1]), bins=edges)
        actual = np.clip(counts / max(counts.sum(), 1), 1e-6, None)
        psi = float(np.sum((actual - expected) * np.log(actual / expected)))
        metrics.log_metric(f"psi_{name}", psi)
        worst = max(worst, psi)
    metrics.log_metric("drift_score", worst)
    return worst


@dsl.component(base_image=PYTHON_IMAGE)
def publish_drift_score(endpoint: str, drift_score: float, threshold: float, metrics: Output[Metrics]) -> bool:
    """Push `stackyard_model_drift_score{endpoint=...}` to the Pushgateway; True when above threshold."""
    import os
    import urllib.parse
    import urllib.request

    metric, job = "stackyard_model_drift_score", "stackyard-drift"
    metrics.log_metric(metric, drift_score)
    metrics.log_metric("threshold", threshold)
    gateway = os.environ.get("PUSHGATEWAY_URL", "")
    if gateway:
        body = (f"# TYPE {metric} gauge\n{metric} {drift_score}\n"
                f"# TYPE {metric}_threshold gauge\n{metric}_threshold {threshold}\n")
        # The grouping key becomes labels: job="stackyard-drift", endpoint="<endpoint>".
        url = f"{gateway.rstrip('/')}/metrics/job/{job}/endpoint/{urllib.parse.quote(endpoint, safe='')}"
        request = urllib.request.Request(url, data=body.encode(), method="PUT",
                                         headers={"Content-Type": "text/plain; version=0.0.4"})
        urllib.request.urlopen(request, timeout=30).close()
    else:
        print("PUSHGATEWAY_URL is not set (monitoring disabled): the score is only a KFP metric")
    drifted = drift_score > threshold
    print(f"endpoint {endpoint}: drift score {drift_score:.4f}, threshold {threshold}, drifted: {drifted}")
    return drifted


@dsl.pipeline(name="stackyard-drift",
              description="Score a sample on an endpoint, compare it to the training reference, publish the drift score.")
def drift_pipeline(endpoint: str, threshold: float = 0.2, model_name: str = "", model_alias: str = "champion",
                   sample_uri: str = "", sample_size: int = 1000, serving_namespace: str = "serving"):
    reference = use_platform_endpoints(load_reference(endpoint=endpoint, model_name=model_name,
                                                      model_alias=model_alias))
    scored = score_sample(endpoint=endpoint, serving_namespace=serving_namespace, sample_uri=sample_uri,
                          sample_size=sample_size, reference_stats=reference.outputs["reference_stats"])
    comparison = compare_distributions(sample=scored.outputs["sample"],
                                       reference_stats=reference.outputs["reference_stats"])
    use_platform_endpoints(publish_drift_score(endpoint=endpoint, drift_score=comparison.outputs["Output"],
                                               threshold=threshold))
