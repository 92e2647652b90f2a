"""Training: validate data -> train -> evaluate -> register in MLflow if good enough -> model card.

Run parameters (what a schedule in the spec sets): `model_name`, the MLflow
registered model; `min_accuracy`, the accuracy on held-out data a model must
reach to be registered; `dataset_uri`, a Parquet or CSV file (s3:// or a
path; empty means a built-in synthetic data set, so the pipeline runs on a
fresh cluster); `label_column`.

The training step is the GPU step: it lands on the environment's GPU pool
through `place_on_gpu` (see pipelines/platform.py for why the pool is a
compile-time setting) and trains XGBoost on CUDA when a GPU is present.

A registered model gets the alias `challenger`; promoting it to `champion`
stays a human decision. Each component is a self-contained function (kfp
ships its source into the step's container), so imports live inside it.
"""

# No `from __future__ import annotations`: kfp reads the annotations as types.
from typing import NamedTuple

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Markdown, Metrics, Model, Output

from pipelines.platform import CUDA_PYTHON_IMAGE, PYTHON_IMAGE, place_on_gpu, use_platform_endpoints

DATA_PACKAGES = ["pandas==2.2.3", "pyarrow==20.0.0", "scikit-learn==1.6.1", "s3fs==2025.5.1"]
TRAIN_PACKAGES = ["pandas==2.2.3", "pyarrow==20.0.0", "scikit-learn==1.6.1", "xgboost==3.0.2"]
MLFLOW_PACKAGES = ["mlflow==3.1.1", "pandas==2.2.3", "pyarrow==20.0.0", "scikit-learn==1.6.1", "xgboost==3.0.2"]


@dsl.component(base_image=PYTHON_IMAGE, packages_to_install=DATA_PACKAGES)
def validate_data(dataset_uri: str, label_column: str, min_rows: int,
                  train_data: Output[Dataset], test_data: Output[Dataset],
                  reference_stats: Output[Artifact]):
    """Check the data set, split it, and record the training distribution drift checks compare to."""
    import json

    import numpy as np
    import pandas as pd
    from sklearn.datasets import make_classification
    from sklearn.model_selection import train_test_split

    if dataset_uri:
        reader = pd.read_parquet if dataset_uri.endswith(".parquet") else pd.read_csv
        frame = reader(dataset_uri)
    else:
        features, labels = make_classification(n_samples=5000, n_features=8, n_informative=5, random_state=7)
        frame = pd.DataFrame(features, columns=[f"f{i}" for i in range(features.shape[1])])
        frame[label_column] = labels

    problems = []
    if label_column not in frame.columns:
        problems.append(f"no label column {label_column!r} (columns: {sorted(frame.columns)})")
    elif frame[label_column].isna().any():
        problems.append(f"{int(frame[label_column].isna().sum())} rows have no label")
    elif frame[label_column].nunique() < 2:
        problems.append("the label has a single class")
    if len(frame) < min_rows:
        problems.append(f"expected at least {min_rows} rows, found {len(frame)}")
    feature_columns = [c for c in frame.columns if c != label_column]
    non_numeric = [c for c in feature_columns if not pd.api.types.is_numeric_dtype(frame[c])]
    if non_numeric:
        problems.append(f"non-numeric features {non_numeric}")
    if problems:
        raise ValueError("data validation failed: " + "; ".join(problems))

    train, test = train_test_split(frame, test_size=0.2, random_state=7, stratify=frame[label_column])
    train.to_parquet(train_data.path, index=False)
    test.to_parquet(test_data.path, index=False)

    stats = {"rows": len(train), "label": label_column, "features": {}}
    for column in feature_columns:
        edges = np.unique(np.quantile(train[column], np.linspace(0, 1, 11)))
        counts, _ = np.histogram(train[column], bins=edges)
        stats["features"][column] = {"edges": edges.tolist(), "fractions": (counts / counts.sum()).tolist()}
    with open(reference_stats.path, "w") as handle:
        json.dump(stats, handle, indent=2, sort_keys=True)
    train_data.metadata["rows"] = len(train)
    test_data.metadata["rows"] = len(test)


@dsl.component(base_image=CUDA_PYTHON_IMAGE, packages_to_install=TRAIN_PACKAGES)
def train_model(train_data: Input[Dataset], label_column: str, model: Output[Model]):
    """Gradient-boosted trees; on CUDA when the step was given a GPU."""
    import os

    import joblib
    import pandas as pd
    from xgboost import XGBClassifier

    frame = pd.read_parquet(train_data.path)
    gpus = os.environ.get("NVIDIA_VISIBLE_DEVICES", "")
    device = "cuda" if gpus and gpus not in ("void", "none") else "cpu"
    classifier = XGBClassifier(n_estimators=300, max_depth=6, learning_rate=0.1, tree_method="hist",
                               device=device, random_state=7)
    classifier.fit(frame.drop(columns=[label_column]), frame[label_column])
    classifier.set_params(device="cpu")  # serving runs on CPU
    joblib.dump(classifier, model.path)
    model.metadata.update({"framework": "xgboost", "trained_on": device})


@dsl.component(base_image=PYTHON_IMAGE, packages_to_install=TRAIN_PACKAGES)
def evaluate_model(model: Input[Model], test_data: Input[Dataset], label_column: str,
                   metrics: Output[Metrics]) -> NamedTuple("Evaluation", accuracy=float, roc_auc=float):
    """Accuracy and ROC AUC on the held-out split."""
    from collections import namedtuple

    import joblib
    import pandas as pd
    from sklearn.metrics import accuracy_score, roc_auc_score

    classifier = joblib.load(model.path)
    frame = pd.read_parquet(test_data.path)
    features, labels = frame.drop(columns=[label_column]), frame[label_column]
    accuracy = float(accuracy_score(labels, classifier.predict(features)))
    roc_auc = float(roc_auc_score(labels, classifier.predict_proba(features)[:, 1]))
    metrics.log_metric("accuracy", accuracy)
    metrics.log_metric("roc_auc", roc_auc)
    return namedtuple("Evaluation", ["accuracy", "roc_auc"])(accuracy, roc_auc)


@dsl.component(base_image=PYTHON_IMAGE, packages_to_install=MLFLOW_PACKAGES)
def register_model(model: Input[Model], reference_stats: Input[Artifact], model_name: str,
                   accuracy: float, roc_auc: float) -> str:
    """Log the model and its training reference to MLflow and register it; returns the new version."""
    import joblib
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_experiment(model_name)  # MLFLOW_TRACKING_URI comes from the platform ConfigMap
    with mlflow.start_run(run_name=f"{model_name}-training") as run:
        mlflow.log_metrics({"accuracy": accuracy, "roc_auc": roc_auc})
        mlflow.log_artifact(reference_stats.path, artifact_path="reference")
        info = mlflow.sklearn.log_model(joblib.load(model.path), name="model",
                                        registered_model_name=model_name)
    version = str(info.registered_model_version)
    client = MlflowClient()
    client.set_model_version_tag(model_name, version, "stackyard.reference_stats",
                                 f"runs:/{run.info.run_id}/reference/{reference_stats.path.rsplit('/', 1)[-1]}")
    client.set_registered_model_alias(model_name, "challenger", version)
    return version


@dsl.component(base_image=PYTHON_IMAGE, packages_to_install=["mlflow==3.1.1"])
def write_model_card(model_name: str, model_version: str, accuracy: float, roc_auc: float,
                     min_accuracy: float, dataset_uri: str, card: Output[Markdown]):
    """A model card on the registered version (its MLflow description) and as a KFP artifact."""
    from mlflow import MlflowClient

    text = "\n".join([
        f"# {model_name} version {model_version}",
        "",
        "| | |",
        "|---|---|",
        f"| accuracy (held-out 20%) | {accuracy:.4f} |",
        f"| ROC AUC | {roc_auc:.4f} |",
        f"| registration threshold | accuracy >= {min_accuracy} |",
        f"| training data | {dataset_uri or 'synthetic demo data set'} |",
        "| alias | challenger (promote to champion after review) |",
        "",
        "Intended use: ranking candidates for the serving endpoint of the same name.",
        "Drift reference: `reference/` artifacts of the training run.",
    ])
    with open(card.path, "w") as handle:
        handle.write(text + "\n")
    MlflowClient().update_model_version(model_name, model_version, description=text)


@dsl.pipeline(name="stackyard-training",
              description="Validate data, train, evaluate, register in MLflow above a threshold, write the model card.")
def training_pipeline(model_name: str, min_accuracy: float = 0.8, dataset_uri: str = "",
                      label_column: str = "label"):
    data = validate_data(dataset_uri=dataset_uri, label_column=label_column, min_rows=1000)
    train = place_on_gpu(train_model(train_data=data.outputs["train_data"], label_column=label_column))
    evaluation = evaluate_model(model=train.outputs["model"], test_data=data.outputs["test_data"],
                                label_column=label_column)
    with dsl.If(evaluation.outputs["accuracy"] >= min_accuracy, name="accurate-enough"):
        registered = use_platform_endpoints(register_model(
            model=train.outputs["model"], reference_stats=data.outputs["reference_stats"],
            model_name=model_name, accuracy=evaluation.outputs["accuracy"],
            roc_auc=evaluation.outputs["roc_auc"]))
        use_platform_endpoints(write_model_card(
            model_name=model_name, model_version=registered.output,
            accuracy=evaluation.outputs["accuracy"], roc_auc=evaluation.outputs["roc_auc"],
            min_accuracy=min_accuracy, dataset_uri=dataset_uri))
