"""Kubeflow Pipelines: the installation and the pipelines registered in it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional

import pulumi

from components.kube import namespace
from components.ownership import Ownership
from environments import spec as env


@dataclass(frozen=True)
class KubeflowPipelinesArgs:
    kubeflow: env.KubeflowPipelines
    pipelines: tuple[env.Pipeline, ...]
    versions: Mapping[str, str]
    ownership: Ownership


class KubeflowPipelines(pulumi.ComponentResource):
    def __init__(self, name: str, args: KubeflowPipelinesArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("stackyard:pipelines:KubeflowPipelines", name, None, opts)
        self.namespace = namespace(f"{name}-ns", args.kubeflow.namespace, args.ownership.labels("pipelines"),
                                   pulumi.ResourceOptions(parent=self))
        self.register_outputs({"namespace": args.kubeflow.namespace})
