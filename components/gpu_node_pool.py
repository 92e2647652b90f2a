"""One GPU node pool: an EKS managed node group, or a Karpenter NodePool and EC2NodeClass.

Whichever provisioner the spec chooses, the nodes carry the same labels
(`stackyard.dev/pool`, the accelerator model, `nvidia.com/gpu.present`) and the
same taint `nvidia.com/gpu=true:NoSchedule` that `gpu_scheduling()` tolerates
and selects, run a pinned GPU AMI, require IMDSv2 and have an encrypted gp3
root volume. A managed pool also carries the cluster-autoscaler node-template
tags on its Auto Scaling group, so it can scale up from zero nodes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional, Sequence

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.cluster import Cluster
from environments.gpu_scheduling import (ACCELERATOR_LABEL, GPU_PRESENT_LABEL, GPU_RESOURCE, POOL_LABEL,
                                       gpu_taint)
from components.karpenter import Karpenter
from components.node_group import (IMDS_HOP_LIMIT, ROOT_VOLUME_TYPE, launch_template, node_role,
                                   root_device_name)
from components.ownership import Ownership
from environments import spec as env
from environments.gpu_catalog import GpuInstanceType, catalog
from environments.naming import autoscaling_tag_slug

AUTOSCALER_TAG_PREFIX = "k8s.io/cluster-autoscaler"
# The EKS API spells taint effects in its own enum.
EKS_TAINT_EFFECTS = {"NoSchedule": "NO_SCHEDULE", "NoExecute": "NO_EXECUTE", "PreferNoSchedule": "PREFER_NO_SCHEDULE"}
EKS_CAPACITY_TYPES = {"on-demand": "ON_DEMAND", "spot": "SPOT"}


@dataclass(frozen=True)
class GpuNodePoolArgs:
    pool: env.NodePool
    cluster_name: str  # as text: tag keys and Karpenter settings embed it
    cluster: Cluster  # the EKS cluster the nodes join
    ownership: Ownership
    karpenter: Optional[Karpenter] = None  # the controller, for Karpenter pools


# --- pure builders -------------------------------------------------------------

def pool_instances(pool: env.NodePool) -> list[GpuInstanceType]:
    """The catalog entries of the pool's instance types (the spec checks guarantee they exist)."""
    return catalog().lookup(pool.instance_types)


def pool_taints(pool: env.NodePool) -> list[dict[str, str]]:
    """The taints of a GPU pool, in Kubernetes form. Every GPU pool carries the GPU taint."""
    return [gpu_taint()]


def node_labels(pool: env.NodePool) -> dict[str, str]:
    """The labels of every node of the pool; the pool's own labels cannot override Stackyard's."""
    accelerator = pool_instances(pool)[0].accelerator
    return {**pool.labels, POOL_LABEL: pool.name, ACCELERATOR_LABEL: accelerator, GPU_PRESENT_LABEL: "true"}


def eks_taints(taints: Sequence[Mapping[str, str]]) -> list[dict[str, str]]:
    return [{"key": t["key"], "value": t["value"], "effect": EKS_TAINT_EFFECTS[t["effect"]]} for t in taints]


def autoscaler_tags(cluster_name: str, labels: Mapping[str, str], taints: Sequence[Mapping[str, str]],
                    gpus_per_node: int) -> dict[str, str]:
    """cluster-autoscaler auto-discovery and node-template tags.

    With no node running, the autoscaler builds the would-be node from these
    tags: without the labels it cannot match the pods' node selector, without
    the taint it would think untolerating pods fit, and without the GPU
    resource it would never scale up for a pod that asks for `nvidia.com/gpu`.
    """
    template = f"{AUTOSCALER_TAG_PREFIX}/node-template"
    tags = {f"{AUTOSCALER_TAG_PREFIX}/enabled": "true", f"{AUTOSCALER_TAG_PREFIX}/{cluster_name}": "owned"}
    tags.update({f"{template}/label/{key}": value for key, value in labels.items()})
    tags.update({f"{template}/taint/{t['key']}": f"{t['value']}:{t['effect']}" for t in taints})
    tags[f"{template}/resources/{GPU_RESOURCE}"] = str(gpus_per_node)
    return tags


def node_template_tags(tags: Mapping[str, str]) -> dict[str, str]:
    """The node-template tags only: EKS adds the discovery tags to the Auto Scaling group itself."""
    return {key: value for key, value in tags.items() if key.startswith(f"{AUTOSCALER_TAG_PREFIX}/node-template/")}


def karpenter_ami_alias(ami: env.GpuAmi) -> str:
    """The EC2NodeClass AMI alias pinned to the spec's release, never `@latest`.

    AL2023 releases are `<kubernetes>-<yyyymmdd>` (alias al2023@v<yyyymmdd>);
    Bottlerocket releases are `<bottlerocket version>-<commit>` (alias bottlerocket@v<version>).
    Karpenter picks the NVIDIA variant of the family for GPU instance types.
    """
    version, _, build = ami.release_version.partition("-")
    if ami.is_bottlerocket:
        return f"bottlerocket@v{version}"
    return f"al2023@v{build}"


def ec2_node_class_spec(pool: env.NodePool, role_name: str, subnet_ids: Sequence[str], security_group_id: str,
                        tags: Mapping[str, str]) -> dict:
    """karpenter.k8s.aws/v1 EC2NodeClass spec: pinned AMI, IMDSv2, encrypted gp3 root volume."""
    return {
        "role": role_name,
        "amiSelectorTerms": [{"alias": karpenter_ami_alias(pool.ami)}],
        "subnetSelectorTerms": [{"id": subnet} for subnet in subnet_ids],
        "securityGroupSelectorTerms": [{"id": security_group_id}],
        "metadataOptions": {"httpEndpoint": "enabled", "httpProtocolIPv6": "disabled",
                            "httpPutResponseHopLimit": IMDS_HOP_LIMIT, "httpTokens": "required"},
        "blockDeviceMappings": [{
            "deviceName": root_device_name(pool.ami.type),
            "ebs": {"volumeSize": f"{pool.disk_size_gib}Gi", "volumeType": ROOT_VOLUME_TYPE,
                    "encrypted": True, "deleteOnTermination": True},
        }],
        "tags": dict(tags),
    }


def karpenter_node_pool_spec(pool: env.NodePool, node_class_name: str) -> dict:
    """karpenter.sh/v1 NodePool spec: the pool's instance types and capacity type, taint, labels and GPU limit.

    `limits` is the bound Karpenter enforces (in GPUs); `maxSize` is not a
    Karpenter setting (see stacks/cost.py for how the cost bound is derived).
    """
    return {
        "template": {
            "metadata": {"labels": node_labels(pool)},
            "spec": {
                "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": node_class_name},
                "taints": pool_taints(pool),
                "requirements": [
                    {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": list(pool.instance_types)},
                    {"key": "karpenter.sh/capacity-type", "operator": "In", "values": [pool.capacity_type]},
                    {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]},
                    {"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]},
                ],
                "expireAfter": pool.disruption.expire_after,
            },
        },
        "limits": {GPU_RESOURCE: str(pool.gpu_limit)},
        "disruption": {"consolidationPolicy": pool.disruption.consolidation_policy,
                       "consolidateAfter": pool.disruption.consolidate_after},
    }


# --- the component -------------------------------------------------------------

class GpuNodePool(pulumi.ComponentResource):
    def __init__(self, name: str, args: GpuNodePoolArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("stackyard:compute:GpuNodePool", name, None, opts)
        pool = args.pool
        self.tags = args.ownership.tags({"stackyard.dev/pool": pool.name})
        if pool.provisioner == "karpenter":
            self._karpenter(name, args)
        else:
            self._managed(name, args)
        self.register_outputs({"pool": pool.name})

    def _managed(self, name: str, args: GpuNodePoolArgs) -> None:
        pool = args.pool
        child = pulumi.ResourceOptions(parent=self)
        labels = node_labels(pool)
        taints = pool_taints(pool)
        scaling_tags = autoscaler_tags(args.cluster_name, labels, taints, pool_instances(pool)[0].gpus)
        role = node_role(name, self.tags, child)
        template = launch_template(name, pool.ami.type, pool.disk_size_gib, self.tags, child)
        self.node_group = aws.eks.NodeGroup(
            name,
            cluster_name=args.cluster.cluster_name,
            node_role_arn=role.role.arn,
            subnet_ids=args.cluster.private_subnet_ids,
            ami_type=pool.ami.type,
            release_version=pool.ami.release_version,
            capacity_type=EKS_CAPACITY_TYPES[pool.capacity_type],
            instance_types=list(pool.instance_types),
            scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                min_size=pool.min_size, max_size=pool.max_size, desired_size=pool.desired_size),
            update_config=aws.eks.NodeGroupUpdateConfigArgs(max_unavailable=1),
            launch_template=aws.eks.NodeGroupLaunchTemplateArgs(id=template.id,
                                                                version=template.latest_version.apply(str)),
            labels=labels,
            taints=eks_taints(taints),
            tags={**self.tags, **scaling_tags},
            # cluster-autoscaler owns the desired size once the group exists.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[role.policies],
                                        ignore_changes=["scalingConfig.desiredSize"]),
        )
        # EKS does not copy node group tags to its Auto Scaling group, which is
        # where cluster-autoscaler reads the node template from.
        group_name = self.node_group.resources.apply(lambda resources: resources[0].autoscaling_groups[0].name)
        for key, value in node_template_tags(scaling_tags).items():
            aws.autoscaling.Tag(
                f"{name}-asg-{autoscaling_tag_slug(key.removeprefix(AUTOSCALER_TAG_PREFIX + '/node-template/'))}",
                autoscaling_group_name=group_name,
                tag=aws.autoscaling.TagTagArgs(key=key, value=value, propagate_at_launch=False),
                opts=child,
            )

    def _karpenter(self, name: str, args: GpuNodePoolArgs) -> None:
        pool = args.pool
        if args.karpenter is None:
            raise ValueError(f"pool {pool.name!r} uses Karpenter but no Karpenter controller was given")
        cluster = args.cluster
        after_controller = pulumi.ResourceOptions(parent=self, depends_on=[args.karpenter.release])
        node_class_spec = pulumi.Output.all(args.karpenter.node_role_name, cluster.private_subnet_ids,
                                            cluster.security_group_id).apply(
            lambda parts: ec2_node_class_spec(pool, parts[0], parts[1], parts[2], self.tags))
        self.node_class = k8s.apiextensions.CustomResource(
            f"{name}-node-class",
            api_version="karpenter.k8s.aws/v1",
            kind="EC2NodeClass",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=pool.name, labels=args.ownership.labels("gpu-node-pool")),
            spec=node_class_spec,
            opts=after_controller,
        )
        self.node_pool = k8s.apiextensions.CustomResource(
            f"{name}-node-pool",
            api_version="karpenter.sh/v1",
            kind="NodePool",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=pool.name, labels=args.ownership.labels("gpu-node-pool")),
            spec=karpenter_node_pool_spec(pool, node_class_name=pool.name),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[args.karpenter.release, self.node_class]),
        )
