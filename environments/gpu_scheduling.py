"""How a GPU workload lands on a GPU pool: the one function serving and pipelines use.

GPU pools carry the taint `nvidia.com/gpu=true:NoSchedule` and the label
`stackyard.dev/pool=<name>`. A pod that asks for GPUs must (1) put
`nvidia.com/gpu` in its limits (the device plugin ignores requests), (2)
tolerate that taint, and (3) select its pool, or it never schedules (or lands
on the wrong pool). Keeping all three in one function means the pools, the
InferenceServices and the pipeline steps cannot drift apart.

Pure data, no Pulumi: the dicts are in Kubernetes wire form (camelCase).
"""

from __future__ import annotations

from dataclasses import dataclass

GPU_RESOURCE = "nvidia.com/gpu"
GPU_TAINT_KEY = "nvidia.com/gpu"
GPU_TAINT_VALUE = "true"
GPU_TAINT_EFFECT = "NoSchedule"
POOL_LABEL = "stackyard.dev/pool"
GPU_PRESENT_LABEL = "nvidia.com/gpu.present"
# cluster-autoscaler's AWS provider treats nodes with this label as GPU nodes
# (it waits for the device plugin before judging them unready); value e.g. nvidia-a10g.
ACCELERATOR_LABEL = "k8s.amazonaws.com/accelerator"


def gpu_taint() -> dict[str, str]:
    """The taint every GPU pool carries, in Kubernetes form."""
    return {"key": GPU_TAINT_KEY, "value": GPU_TAINT_VALUE, "effect": GPU_TAINT_EFFECT}


def gpu_toleration() -> dict[str, str]:
    """The toleration matching exactly `gpu_taint()`."""
    return {"key": GPU_TAINT_KEY, "operator": "Equal", "value": GPU_TAINT_VALUE, "effect": GPU_TAINT_EFFECT}


@dataclass(frozen=True)
class GpuScheduling:
    """What a pod spec needs to run on `pool` with `count` GPUs."""

    pool: str
    count: int

    @property
    def limits(self) -> dict[str, str]:
        return {GPU_RESOURCE: str(self.count)}

    @property
    def tolerations(self) -> list[dict[str, str]]:
        return [gpu_toleration()]

    @property
    def node_selector(self) -> dict[str, str]:
        return {POOL_LABEL: self.pool}


def gpu_scheduling(pool: str, count: int = 1) -> GpuScheduling:
    if count < 1:
        raise ValueError(f"a GPU workload needs at least one GPU, got {count}")
    return GpuScheduling(pool=pool, count=count)
