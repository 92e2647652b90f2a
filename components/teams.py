"""Team namespaces: one per `teams` entry, with a GPU quota and container defaults.

The ResourceQuota caps the GPUs a team's pods may request at `gpuQuota`
(extended resources such as `nvidia.com/gpu` can only be quota'd on requests);
the LimitRange gives containers that state no CPU or memory sensible defaults,
so nothing lands on a node unbounded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_kubernetes as k8s

from environments.gpu_scheduling import GPU_RESOURCE
from components.kube import namespace
from components.ownership import Ownership
from environments import spec as env
from environments.naming import label_value

GPU_QUOTA_NAME = "gpu-quota"
LIMIT_RANGE_NAME = "container-defaults"
CONTAINER_DEFAULT_REQUESTS = {"cpu": "250m", "memory": "512Mi"}
CONTAINER_DEFAULT_LIMITS = {"cpu": "1", "memory": "2Gi"}


@dataclass(frozen=True)
class TeamsArgs:
    teams: tuple[env.Team, ...]
    ownership: Ownership


def team_labels(ownership: Ownership, team: env.Team) -> dict[str, str]:
    """The platform's ownership labels, with the team's own owner and cost center."""
    return ownership.labels("team", team=team.name, extra={
        "stackyard.dev/owner": label_value(team.owner),
        "stackyard.dev/cost-center": label_value(team.cost_center or ownership.cost_center),
    })


def gpu_quota_spec(team: env.Team) -> dict:
    return {"hard": {f"requests.{GPU_RESOURCE}": str(team.gpu_quota)}}


def limit_range_spec() -> dict:
    return {"limits": [{"type": "Container", "defaultRequest": dict(CONTAINER_DEFAULT_REQUESTS),
                        "default": dict(CONTAINER_DEFAULT_LIMITS)}]}


class Teams(pulumi.ComponentResource):
    def __init__(self, name: str, args: TeamsArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("stackyard:compute:Teams", name, None, opts)
        for team in args.teams:
            labels = team_labels(args.ownership, team)
            ns = namespace(f"{name}-{team.name}", team.name, labels, pulumi.ResourceOptions(parent=self))
            in_namespace = pulumi.ResourceOptions(parent=self, depends_on=[ns])
            k8s.core.v1.ResourceQuota(
                f"{name}-{team.name}-gpu-quota",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=GPU_QUOTA_NAME, namespace=team.name, labels=labels),
                spec=gpu_quota_spec(team),
                opts=in_namespace,
            )
            k8s.core.v1.LimitRange(
                f"{name}-{team.name}-limits",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=LIMIT_RANGE_NAME, namespace=team.name, labels=labels),
                spec=limit_range_spec(),
                opts=in_namespace,
            )
        self.register_outputs({"namespaces": [team.name for team in args.teams]})
