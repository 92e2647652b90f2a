"""What the platform gives a pipeline step: GPU placement, platform endpoints, pinned images.

GPU placement is decided when the pipeline is compiled, not when it runs.
KFP writes a task's node selector, tolerations and accelerator limit into the
compiled IR as literals. kfp-kubernetes has `*_json` variants that take a run
parameter, but then the IR no longer says where a step runs, the pool name
cannot be checked against the spec's node pools, and a typo surfaces only as
a pod that never schedules. So each environment names its pool
in the spec (`pipelines[].gpu`), `pipelines/compile.py` compiles the pipeline
inside `gpu_placement(pool, count)`, and `place_on_gpu(task)` applies
`environments.gpu_scheduling.gpu_scheduling(pool, count)` to the task, the same
function the node pools and InferenceServices use. Outside `gpu_placement`
(an environment with no GPU pool, or a quick local compile) GPU steps run on
CPU and the pipeline stays valid.

A pipeline file is imported fresh for every compilation because kfp builds the
pipeline graph when `@dsl.pipeline` decorates the function, i.e. at import.
"""

from __future__ import annotations

import contextlib
from contextvars import ContextVar
from typing import Iterator, Optional

from environments.gpu_scheduling import GPU_RESOURCE, GpuScheduling, gpu_scheduling

# Pinned images of the steps. Lightweight components install their Python
# packages on top of these at run time (`packages_to_install`).
PYTHON_IMAGE = "docker.io/library/python:3.11.13-slim"
CUDA_PYTHON_IMAGE = "nvcr.io/nvidia/pytorch:25.04-py3"

# The ConfigMap the KubeflowPipelines component writes into the pipelines
# namespace, and the environment variables a step gets from it.
PLATFORM_CONFIGMAP = "stackyard-platform"
PLATFORM_ENV = {
    "MLFLOW_TRACKING_URI": "MLFLOW_TRACKING_URI",
    "PUSHGATEWAY_URL": "PUSHGATEWAY_URL",
    "STACKYARD_ENVIRONMENT": "STACKYARD_ENVIRONMENT",
}

_placement: ContextVar[Optional[GpuScheduling]] = ContextVar("stackyard_gpu_placement", default=None)


@contextlib.contextmanager
def gpu_placement(pool: str, count: int = 1) -> Iterator[GpuScheduling]:
    """Compile the pipelines imported inside this block with their GPU steps on `pool`."""
    token = _placement.set(gpu_scheduling(pool, count))
    try:
        yield _placement.get()
    finally:
        _placement.reset(token)


def place_on_gpu(task):
    """Put a kfp task on the compile-time GPU pool: accelerator limit, toleration, node selector."""
    from kfp import kubernetes

    placement = _placement.get()
    if placement is None:
        return task
    task.set_accelerator_type(GPU_RESOURCE).set_accelerator_limit(placement.count)
    for toleration in placement.tolerations:
        kubernetes.add_toleration(task, key=toleration["key"], operator=toleration["operator"],
                                  value=toleration["value"], effect=toleration["effect"])
    for key, value in placement.node_selector.items():
        kubernetes.add_node_selector(task, label_key=key, label_value=value)
    return task


def use_platform_endpoints(task):
    """Give a task the platform's endpoints (MLflow, Pushgateway) as environment variables."""
    from kfp import kubernetes

    kubernetes.use_config_map_as_env(task, config_map_name=PLATFORM_CONFIGMAP,
                                     config_map_key_to_env=dict(PLATFORM_ENV))
    return task
