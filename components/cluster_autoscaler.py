"""cluster-autoscaler, installed when a spec has a managed (node group) GPU pool.

Managed node groups only grow when something raises their desired size: the
autoscaler does, reading each group's node-template tags to scale it up from
zero (components/gpu_node_pool.py). It finds the groups by the discovery tags
EKS puts on every managed node group's Auto Scaling group, and may only change
groups tagged as owned by this cluster.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.cluster import Cluster
from components.irsa import irsa_role
from components.node_group import SYSTEM_NODE_SELECTOR
from components.ownership import Ownership

NAMESPACE = "kube-system"
SERVICE_ACCOUNT = "cluster-autoscaler"
CHART_REPOSITORY = "https://kubernetes.github.io/autoscaler"


@dataclass(frozen=True)
class ClusterAutoscalerArgs:
    cluster_name: str
    region: str
    chart_version: str  # versions.clusterAutoscaler
    kubernetes_version: str  # versions.kubernetes: the autoscaler's minor version must match it
    cluster: Cluster
    ownership: Ownership


def image_tag(kubernetes_version: str) -> str:
    """cluster-autoscaler releases one minor per Kubernetes minor and supports only its own."""
    major, minor = kubernetes_version.split(".")[:2]
    return f"v{major}.{minor}.0"


def autoscaler_policy(cluster_name: str) -> str:
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "ScaleOwnedGroups", "Effect": "Allow",
             "Action": ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"],
             "Resource": "*",
             "Condition": {"StringEquals": {f"aws:ResourceTag/k8s.io/cluster-autoscaler/{cluster_name}": "owned"}}},
            {"Sid": "DiscoverGroups", "Effect": "Allow",
             "Action": ["autoscaling:DescribeAutoScalingGroups", "autoscaling:DescribeAutoScalingInstances",
                        "autoscaling:DescribeLaunchConfigurations", "autoscaling:DescribeScalingActivities",
                        "autoscaling:DescribeTags", "ec2:DescribeImages", "ec2:DescribeInstanceTypes",
                        "ec2:DescribeLaunchTemplateVersions", "ec2:GetInstanceTypesFromInstanceRequirements",
                        "eks:DescribeNodegroup"],
             "Resource": "*"},
        ],
    }, sort_keys=True)


def autoscaler_values(cluster_name: str, region: str, kubernetes_version: str, role_arn: str) -> dict:
    return {
        "cloudProvider": "aws",
        "awsRegion": region,
        "autoDiscovery": {"clusterName": cluster_name},
        "fullnameOverride": "cluster-autoscaler",
        "image": {"tag": image_tag(kubernetes_version)},
        "rbac": {"serviceAccount": {"name": SERVICE_ACCOUNT,
                                    "annotations": {"eks.amazonaws.com/role-arn": role_arn}}},
        "nodeSelector": dict(SYSTEM_NODE_SELECTOR),
        "extraArgs": {
            # Wasting the fewest GPUs matters more than anything else when choosing a group.
            "expander": "least-waste",
            "balance-similar-node-groups": True,
            "skip-nodes-with-system-pods": False,
        },
    }


class ClusterAutoscaler(pulumi.ComponentResource):
    def __init__(self, name: str, args: ClusterAutoscalerArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("stackyard:compute:ClusterAutoscaler", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        role = irsa_role(f"{name}-role", args.cluster.oidc_provider_arn, args.cluster.oidc_issuer, NAMESPACE,
                         SERVICE_ACCOUNT, child, tags=args.ownership.tags())
        permissions = aws.iam.RolePolicy(f"{name}-role", role=role.id, policy=autoscaler_policy(args.cluster_name),
                                         opts=child)
        self.release = k8s.helm.v3.Release(
            name,
            name="cluster-autoscaler",
            chart="cluster-autoscaler",
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=CHART_REPOSITORY),
            version=args.chart_version,
            namespace=NAMESPACE,
            values=role.arn.apply(
                lambda arn: autoscaler_values(args.cluster_name, args.region, args.kubernetes_version, arn)),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[permissions]),
        )
        self.register_outputs({})
