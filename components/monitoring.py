"""Monitoring: Prometheus, Alertmanager and Grafana for everything the platform runs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional

import pulumi

from components.kube import namespace
from components.ownership import Ownership
from environments import spec as env


@dataclass(frozen=True)
class MonitoringArgs:
    monitoring: env.Monitoring
    versions: Mapping[str, str]
    ownership: Ownership


class Monitoring(pulumi.ComponentResource):
    def __init__(self, name: str, args: MonitoringArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("stackyard:monitoring:Monitoring", name, None, opts)
        self.namespace = namespace(f"{name}-ns", args.monitoring.namespace, args.ownership.labels("monitoring"),
                                   pulumi.ResourceOptions(parent=self))
        self.register_outputs({"namespace": args.monitoring.namespace})
