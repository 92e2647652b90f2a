"""KServe: the serving namespace the endpoints run in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional

import pulumi

from components.kube import namespace
from components.ownership import Ownership
from environments import spec as env


@dataclass(frozen=True)
class ServingArgs:
    serving: env.Serving
    versions: Mapping[str, str]
    ownership: Ownership


class Serving(pulumi.ComponentResource):
    def __init__(self, name: str, args: ServingArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("stackyard:serving:Serving", name, None, opts)
        self.namespace = namespace(f"{name}-ns", args.serving.namespace, args.ownership.labels("serving"),
                                   pulumi.ResourceOptions(parent=self))
        self.register_outputs({"namespace": args.serving.namespace})
