"""The objects that register compiled pipelines in KFP and keep their recurring runs: plain manifests.

Pure data, no Pulumi. Per compiled pipeline version: an immutable ConfigMap
holding the IR (`pipeline-<name>-<version[:10]>`) and a Job
(`register-<name>-<version[:10]>`) that uploads it. Per schedule: a ConfigMap
with the recurring run's definition (pipeline, version, cron, parameters).
One Job (`sync-recurring-runs-<digest>`) makes KFP's managed recurring runs
equal to those definitions. All Jobs run components/kfp_sync.py, shipped in
its own content-addressed ConfigMap. Names carry content hashes, so an
unchanged spec and unchanged code give identical objects and nothing runs.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Mapping

from components.pod_security import restricted_container_security_context, restricted_pod_security_context

SYNC_IMAGE = "docker.io/library/python:3.11.13-slim"
SERVICE_ACCOUNT = "kfp-registration"
SCRIPT_FILE = "kfp_sync.py"
SCRIPT_DIR = "/opt/stackyard"
IR_DIR = "/etc/stackyard/pipeline"
RUNS_DIR = "/etc/stackyard/recurring-runs"
ROLE_LABEL = "stackyard.dev/kfp-object"


def short_digest(text: str, length: int = 10) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


@dataclass(frozen=True)
class RegistrationContext:
    namespace: str
    environment: str
    labels: Mapping[str, str]
    api_url: str  # the KFP API server, from inside the cluster
    script_configmap: str


def _meta(context: RegistrationContext, name: str, role: str, extra_labels: Mapping[str, str] = (),
          annotations: Mapping[str, str] = ()) -> dict:
    meta: dict[str, Any] = {"name": name, "namespace": context.namespace,
                            "labels": {**context.labels, ROLE_LABEL: role, **dict(extra_labels)}}
    if annotations:
        meta["annotations"] = dict(annotations)
    return meta


def script_configmap(namespace: str, labels: Mapping[str, str], script: str) -> dict:
    """The sync program, named by its content so a Job always runs the code it was created with."""
    return {"apiVersion": "v1", "kind": "ConfigMap", "immutable": True,
            "metadata": {"name": f"kfp-sync-{short_digest(script)}", "namespace": namespace,
                         "labels": {**labels, ROLE_LABEL: "sync-program"}},
            "data": {SCRIPT_FILE: script}}


def pipeline_configmap(context: RegistrationContext, pipeline: str, version: str, ir_yaml: str,
                       source: str, function: str) -> dict:
    """The compiled IR of one pipeline version: what the plan shows and the registration Job uploads."""
    return {"apiVersion": "v1", "kind": "ConfigMap", "immutable": True,
            "metadata": _meta(context, f"pipeline-{pipeline}-{version[:10]}", "pipeline-version",
                              {"stackyard.dev/pipeline": pipeline},
                              {"stackyard.dev/pipeline-version": version,
                               "stackyard.dev/pipeline-source": f"{source}:{function}"}),
            "data": {"pipeline.yaml": ir_yaml}}


def _job(context: RegistrationContext, name: str, role: str, labels: Mapping[str, str], annotations: Mapping[str, str],
         args: list[str], mounts: list[tuple[str, str, dict]]) -> dict:
    """A Job running kfp_sync.py with `args`; `mounts` are (volume name, mount path, volume source)."""
    volumes = [("sync-program", SCRIPT_DIR, {"configMap": {"name": context.script_configmap}}), *mounts]
    return {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": _meta(context, name, role, labels, annotations),
        "spec": {
            "backoffLimit": 3,
            "activeDeadlineSeconds": 1800,
            "template": {
                "metadata": {"labels": {**context.labels, ROLE_LABEL: role, **dict(labels)}},
                "spec": {
                    "serviceAccountName": SERVICE_ACCOUNT,
                    "automountServiceAccountToken": False,  # it talks to KFP, not to Kubernetes
                    "restartPolicy": "Never",
                    "securityContext": restricted_pod_security_context(run_as_user=65534),
                    "containers": [{
                        "name": "kfp-sync",
                        "image": SYNC_IMAGE,
                        "command": ["python", f"{SCRIPT_DIR}/{SCRIPT_FILE}"],
                        "args": args,
                        "env": [{"name": "KFP_API_URL", "value": context.api_url},
                                {"name": "PYTHONDONTWRITEBYTECODE", "value": "1"}],
                        "volumeMounts": [{"name": volume, "mountPath": path, "readOnly": True}
                                         for volume, path, _ in volumes],
                        "securityContext": restricted_container_security_context(),
                        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
                    }],
                    "volumes": [{"name": volume, **source} for volume, _, source in volumes],
                },
            },
        },
    }


def registration_job(context: RegistrationContext, pipeline: str, version: str, ir_configmap: str) -> dict:
    """Upload one pipeline version (no-op when KFP has it): one Job per (pipeline, version)."""
    return _job(context, f"register-{pipeline}-{version[:10]}", "register-version",
                {"stackyard.dev/pipeline": pipeline}, {"stackyard.dev/pipeline-version": version},
                ["register", "--pipeline", pipeline, "--version", version, "--ir", f"{IR_DIR}/pipeline.yaml",
                 "--description", f"managed by Stackyard ({context.environment})"],
                [("pipeline-ir", IR_DIR, {"configMap": {"name": ir_configmap}})])


def recurring_run(pipeline: str, schedule: str, version: str, cron: str, parameters: Mapping[str, Any],
                  enabled: bool) -> dict:
    """What one recurring run in KFP must be: the kfp_sync.py definition format."""
    return {"pipeline": pipeline, "schedule": schedule, "version": version, "cron": cron,
            "parameters": dict(sorted(parameters.items())), "enabled": enabled}


def recurring_run_key(definition: Mapping[str, Any]) -> str:
    return f"{definition['pipeline']}--{definition['schedule']}.json"


def recurring_run_configmap(context: RegistrationContext, definition: Mapping[str, Any]) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": _meta(context, f"recurring-run-{definition['pipeline']}-{definition['schedule']}",
                              "recurring-run", {"stackyard.dev/pipeline": definition["pipeline"],
                                                "stackyard.dev/schedule": definition["schedule"]}),
            "data": {recurring_run_key(definition): json.dumps(definition, indent=2, sort_keys=True) + "\n"}}


def recurring_runs_job(context: RegistrationContext, definitions: list[Mapping[str, Any]],
                       configmaps: list[str]) -> dict:
    """Make KFP's Stackyard-managed recurring runs equal to `definitions` (also when there are none)."""
    digest = short_digest(json.dumps(sorted(definitions, key=recurring_run_key), sort_keys=True)
                          + context.environment)
    source = ({"projected": {"sources": [{"configMap": {"name": name}} for name in configmaps]}}
              if configmaps else {"emptyDir": {}})
    return _job(context, f"sync-recurring-runs-{digest}", "sync-recurring-runs", {},
                {"stackyard.dev/recurring-runs": str(len(definitions))},
                ["recurring-runs", "--environment", context.environment, "--runs", RUNS_DIR],
                [("recurring-runs", RUNS_DIR, source)])
