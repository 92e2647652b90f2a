"""GPU software on the cluster: the NVIDIA device plugin and the DCGM exporter.

The device plugin is what makes `nvidia.com/gpu` schedulable: without it a GPU
node advertises no GPUs and every GPU pod stays Pending. It tolerates exactly
the taints of the pools it serves and runs only on their nodes (selected by
`stackyard.dev/pool`). Bottlerocket's NVIDIA AMIs run their own device plugin,
so pools on Bottlerocket are left out of it.

The DCGM exporter publishes GPU metrics on every GPU node. Its Service is
created here rather than by the chart so that the scrape contract the
monitoring component relies on is explicit and visible in the plan:
namespace `kube-system`, label `app.kubernetes.io/name=dcgm-exporter`, port
`metrics` (9400).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s

from components.gpu_node_pool import pool_taints
from environments.gpu_scheduling import POOL_LABEL
from components.ownership import Ownership
from environments import spec as env

NAMESPACE = "kube-system"

DEVICE_PLUGIN_NAME = "nvidia-device-plugin"
DEVICE_PLUGIN_REPOSITORY = "https://nvidia.github.io/k8s-device-plugin"

DCGM_EXPORTER_NAME = "dcgm-exporter"
DCGM_EXPORTER_REPOSITORY = "https://nvidia.github.io/dcgm-exporter/helm-charts"
DCGM_EXPORTER_SELECTOR = {"app.kubernetes.io/name": DCGM_EXPORTER_NAME,
                          "app.kubernetes.io/instance": DCGM_EXPORTER_NAME}
DCGM_METRICS_PORT_NAME = "metrics"
DCGM_METRICS_PORT = 9400


@dataclass(frozen=True)
class GpuSoftwareArgs:
    pools: tuple[env.NodePool, ...]
    versions: env.Versions
    ownership: Ownership


def tolerations_for(pools: Sequence[env.NodePool]) -> list[dict[str, str]]:
    """One `Equal` toleration per distinct taint of the pools: exactly those, nothing broader."""
    seen: list[dict[str, str]] = []
    for pool in pools:
        for taint in pool_taints(pool):
            toleration = {"key": taint["key"], "operator": "Equal", "value": taint["value"], "effect": taint["effect"]}
            if toleration not in seen:
                seen.append(toleration)
    return seen


def pool_affinity(pools: Sequence[env.NodePool]) -> dict:
    """Required node affinity to the nodes of `pools`."""
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{
        "matchExpressions": [{"key": POOL_LABEL, "operator": "In", "values": sorted(p.name for p in pools)}],
    }]}}}


def device_plugin_pools(pools: Sequence[env.NodePool]) -> list[env.NodePool]:
    """The pools whose AMI does not bring its own device plugin."""
    return [pool for pool in pools if pool.ami is not None and not pool.ami.ships_device_plugin]


def device_plugin_values(pools: Sequence[env.NodePool]) -> dict:
    return {
        "fullnameOverride": DEVICE_PLUGIN_NAME,
        "tolerations": tolerations_for(pools),
        "affinity": pool_affinity(pools),
        "priorityClassName": "system-node-critical",
        "gfd": {"enabled": False},
    }


def dcgm_exporter_values(pools: Sequence[env.NodePool]) -> dict:
    return {
        "fullnameOverride": DCGM_EXPORTER_NAME,
        "tolerations": tolerations_for(pools),
        "affinity": pool_affinity(pools),
        # The Service below is the scrape target; ServiceMonitors belong to the monitoring component.
        "service": {"enable": False},
        "serviceMonitor": {"enabled": False},
    }


class GpuSoftware(pulumi.ComponentResource):
    def __init__(self, name: str, args: GpuSoftwareArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("stackyard:compute:GpuSoftware", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        plugin_pools = device_plugin_pools(args.pools)
        self.device_plugin = None
        if plugin_pools:
            self.device_plugin = k8s.helm.v3.Release(
                f"{name}-device-plugin",
                name=DEVICE_PLUGIN_NAME,
                chart=DEVICE_PLUGIN_NAME,
                repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=DEVICE_PLUGIN_REPOSITORY),
                version=args.versions.nvidia_device_plugin,
                namespace=NAMESPACE,
                values=device_plugin_values(plugin_pools),
                opts=child,
            )
        self.dcgm_exporter = k8s.helm.v3.Release(
            f"{name}-dcgm-exporter",
            name=DCGM_EXPORTER_NAME,
            chart=DCGM_EXPORTER_NAME,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=DCGM_EXPORTER_REPOSITORY),
            version=args.versions.dcgm_exporter,
            namespace=NAMESPACE,
            values=dcgm_exporter_values(args.pools),
            opts=child,
        )
        self.dcgm_service = k8s.core.v1.Service(
            f"{name}-dcgm-exporter",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=DCGM_EXPORTER_NAME, namespace=NAMESPACE,
                labels=args.ownership.labels("gpu-metrics", extra={"app.kubernetes.io/name": DCGM_EXPORTER_NAME})),
            spec=k8s.core.v1.ServiceSpecArgs(
                selector=dict(DCGM_EXPORTER_SELECTOR),
                ports=[k8s.core.v1.ServicePortArgs(name=DCGM_METRICS_PORT_NAME, port=DCGM_METRICS_PORT,
                                                   target_port=DCGM_METRICS_PORT, protocol="TCP")],
            ),
            opts=child,
        )
        self.register_outputs({})
