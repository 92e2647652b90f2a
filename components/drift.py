"""Kubernetes objects for drift detection: the payload logger sink and one drift-check CronJob per endpoint.

The sink (`payload-logger` in the serving namespace) is where every
InferenceService with payload logging sends its CloudEvents; the drift checks
(CronJob `drift-<endpoint>` in the monitoring namespace, on the endpoint's
`drift.schedule`) read rows from it and push `stackyard_model_drift_score`
to the Pushgateway, which Prometheus scrapes. The programs are in
drift_runtime/ and ship in ConfigMaps, so the image only needs python3.

Pure functions returning Kubernetes bodies in wire form; no Pulumi.
"""

from __future__ import annotations

import json
from typing import Any, Mapping, Optional

from components.alert_rules import drift_check_cronjob
from components.drift_runtime import DRIFT_CHECK, PAYLOAD_SINK, RETRAIN_RECEIVER, source
from components.pod_security import restricted_container_security_context, restricted_pod_security_context
from components.scrape_targets import PUSHGATEWAY_NAME, PUSHGATEWAY_PORT
from components.watchlist import PAYLOAD_LOGGER_NAME, EndpointWatch
from environments import spec as env
from environments.spec import Versions

SINK_PORT = 8080
CODE_DIR = "/opt/stackyard"
DATA_DIR = "/var/lib/payloads"
RUN_AS_USER = 1000


def payload_logger_url(serving_namespace: str) -> str:
    """What an InferenceService's `spec.predictor.logger.url` points at."""
    return f"http://{PAYLOAD_LOGGER_NAME}.{serving_namespace}.svc.cluster.local"


def pushgateway_url(monitoring_namespace: str) -> str:
    """Where batch jobs (the drift checks, the drift pipeline) push their metrics."""
    return f"http://{PUSHGATEWAY_NAME}.{monitoring_namespace}.svc.cluster.local:{PUSHGATEWAY_PORT}"


def default_job_image(versions: Versions) -> str:
    return f"docker.io/kserve/sklearnserver:{versions.kserve}"


def _code_volume(config_map: str) -> dict:
    return {"name": "code", "configMap": {"name": config_map}}


def _single_writer_server(name: str, namespace: str, labels: Mapping[str, str], image: str, container_name: str,
                          code: dict[str, str], args: list[str], port: int, resources: dict,
                          state: tuple[str, str, str], pod: Optional[dict] = None) -> dict[str, dict]:
    """ConfigMap, PersistentVolumeClaim, Deployment and Service of one of the standard-library servers
    Stackyard ships into pods: its program (`code`: the first file is the one run) in a ConfigMap, its
    state on a ReadWriteOnce volume (`state`: volume name, mount path, size), so it runs as one
    replica, replaced rather than rolled (Recreate); `pod` adds to the pod spec."""
    selector = {"app.kubernetes.io/name": name}
    all_labels = {**labels, **selector}
    metadata = {"name": name, "namespace": namespace, "labels": all_labels}
    probe = {"httpGet": {"path": "/healthz", "port": port}, "periodSeconds": 10}
    volume, mount_path, storage = state
    container = {
        "name": container_name,
        "image": image,
        "command": ["python", f"{CODE_DIR}/{next(iter(code))}"],
        "args": ["--port", str(port), *args],
        "env": [{"name": "PYTHONDONTWRITEBYTECODE", "value": "1"}],
        "ports": [{"name": "http", "containerPort": port}],
        "readinessProbe": probe,
        "livenessProbe": {**probe, "initialDelaySeconds": 10},
        "resources": resources,
        "securityContext": restricted_container_security_context(run_as_user=RUN_AS_USER),
        "volumeMounts": [{"name": "code", "mountPath": CODE_DIR, "readOnly": True},
                         {"name": volume, "mountPath": mount_path}],
    }
    return {
        "ConfigMap": {"metadata": {**metadata, "name": f"{name}-code"}, "data": code},
        "PersistentVolumeClaim": {"metadata": metadata, "spec": {
            "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": storage}}}},
        "Deployment": {"metadata": metadata, "spec": {
            "replicas": 1,  # one writer of the volume
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": selector},
            "template": {"metadata": {"labels": all_labels}, "spec": {
                **(pod or {}),
                "securityContext": restricted_pod_security_context(run_as_user=RUN_AS_USER, fs_group=RUN_AS_USER),
                "containers": [container],
                "volumes": [_code_volume(f"{name}-code"),
                            {"name": volume, "persistentVolumeClaim": {"claimName": name}}],
            }},
        }},
        "Service": {"metadata": metadata, "spec": {
            "selector": selector, "ports": [{"name": "http", "port": 80, "targetPort": port}]}},
    }


def payload_sink_objects(namespace: str, image: str, storage_gib: int, labels: Mapping[str, str]) -> dict[str, dict]:
    """ConfigMap, PersistentVolumeClaim, Deployment and Service of the sink, by kind."""
    return _single_writer_server(
        PAYLOAD_LOGGER_NAME, namespace, labels, image, "sink", {PAYLOAD_SINK: source(PAYLOAD_SINK)},
        ["--data", DATA_DIR], SINK_PORT,
        {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}},
        ("payloads", DATA_DIR, f"{storage_gib}Gi"))


DRIFT_CHECK_CODE = "drift-check-code"


def drift_check_code_config_map(monitoring_namespace: str, labels: Mapping[str, str]) -> dict:
    return {"metadata": {"name": DRIFT_CHECK_CODE, "namespace": monitoring_namespace, "labels": dict(labels)},
            "data": {DRIFT_CHECK: source(DRIFT_CHECK)}}


def drift_check_cronjob_body(endpoint: EndpointWatch, monitoring_namespace: str, image: str,
                             labels: Mapping[str, str]) -> dict:
    name = drift_check_cronjob(endpoint.name)
    all_labels = {**labels, "app.kubernetes.io/name": "drift-check", "stackyard.dev/endpoint": endpoint.name}
    container = {
        "name": "drift-check",
        "image": image,
        "command": ["python", f"{CODE_DIR}/{DRIFT_CHECK}"],
        "args": ["--endpoint", endpoint.name, "--sink", payload_logger_url(endpoint.namespace),
                 "--pushgateway", pushgateway_url(monitoring_namespace)],
        "env": [{"name": "PYTHONDONTWRITEBYTECODE", "value": "1"}],
        "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}},
        "securityContext": restricted_container_security_context(run_as_user=RUN_AS_USER),
        "volumeMounts": [{"name": "code", "mountPath": CODE_DIR, "readOnly": True}],
    }
    return {
        "metadata": {"name": name, "namespace": monitoring_namespace, "labels": all_labels},
        "spec": {
            "schedule": endpoint.drift.schedule,
            "concurrencyPolicy": "Forbid",
            "successfulJobsHistoryLimit": 1,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {"spec": {
                "backoffLimit": 1,
                "activeDeadlineSeconds": 900,
                "template": {"metadata": {"labels": all_labels}, "spec": {
                    "restartPolicy": "Never",
                    "securityContext": restricted_pod_security_context(run_as_user=RUN_AS_USER, fs_group=RUN_AS_USER),
                    "containers": [container],
                    "volumes": [_code_volume(DRIFT_CHECK_CODE)],
                }},
            }},
        },
    }


# --- drift-triggered retraining ---------------------------------------------------

RETRAIN_RECEIVER_NAME = "retrain-receiver"
RETRAIN_PORT = 8080
RETRAIN_STATE_DIR = "/var/lib/retrain"
TRAINED_MODEL_PARAMETER = "model_name"  # the training pipeline's parameter naming the model it registers


def retraining_targets(endpoints: tuple[env.Endpoint, ...], pipelines: tuple[env.Pipeline, ...]
                       ) -> dict[str, dict[str, Any]]:
    """Endpoint -> {"pipeline", "parameters"}: what retrains the model of each endpoint with drift detection.

    An endpoint's training pipeline is the one with a schedule whose `model_name`
    parameter is the endpoint's registered model; the run gets that schedule's
    parameters, so a retraining run trains exactly what the nightly one does.
    """
    targets = {}
    for endpoint in endpoints:
        if not endpoint.drift.enabled:
            continue
        for pipeline in pipelines:
            schedule = next((s for s in pipeline.schedules
                             if s.parameters.get(TRAINED_MODEL_PARAMETER) == endpoint.model.name), None)
            if schedule is not None:
                targets[endpoint.name] = {"pipeline": pipeline.name, "parameters": dict(schedule.parameters)}
                break
    return targets


def retrain_receiver_url(monitoring_namespace: str) -> str:
    """Where Alertmanager's webhook for drift alerts posts."""
    return f"http://{RETRAIN_RECEIVER_NAME}.{monitoring_namespace}.svc.cluster.local/alerts"


def retrain_receiver_objects(namespace: str, image: str, targets: Mapping[str, Mapping[str, Any]], kfp_api: str,
                             labels: Mapping[str, str]) -> dict[str, dict]:
    """ConfigMap (program and targets), PersistentVolumeClaim (episodes), Deployment and Service, by kind.

    The episodes survive a restart, so a repeat notification after one starts no second run;
    Alertmanager retries while the one replica restarts."""
    code = {RETRAIN_RECEIVER: source(RETRAIN_RECEIVER),
            "targets.json": json.dumps(dict(targets), indent=2, sort_keys=True)}
    return _single_writer_server(
        RETRAIN_RECEIVER_NAME, namespace, labels, image, "receiver", code,
        ["--config", f"{CODE_DIR}/targets.json", "--kfp-api", kfp_api, "--state", f"{RETRAIN_STATE_DIR}/episodes.json"],
        RETRAIN_PORT, {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}},
        ("state", RETRAIN_STATE_DIR, "1Gi"),
        pod={"automountServiceAccountToken": False})  # it talks to Kubeflow Pipelines, not to Kubernetes
