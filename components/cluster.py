"""The Kubernetes cluster, and the one Kubernetes provider every component uses.

Two modes: an EKS cluster created with pulumi-aws, or an existing cluster
reached by kubeconfig (the `local` environment). Either way `Cluster.provider`
is the only Kubernetes provider in the program.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Mapping, Optional

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.ownership import Ownership
from environments import spec as env


@dataclass(frozen=True)
class ClusterArgs:
    cluster: env.Cluster
    cloud: env.Cloud
    versions: Mapping[str, str]
    ownership: Ownership


def assume_role_policy(service: str) -> str:
    """The trust policy letting an AWS service (eks.amazonaws.com, ec2.amazonaws.com) assume a role."""
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
    }, sort_keys=True)


def kubeconfig(cluster_name: str, endpoint: str, ca_data: str, region: str) -> str:
    """A kubeconfig that authenticates with `aws eks get-token` (no static credentials)."""
    return json.dumps({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster_name, "cluster": {"server": endpoint, "certificate-authority-data": ca_data}}],
        "contexts": [{"name": cluster_name, "context": {"cluster": cluster_name, "user": cluster_name}}],
        "current-context": cluster_name,
        "users": [{"name": cluster_name, "user": {"exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": "aws",
            "args": ["eks", "get-token", "--cluster-name", cluster_name, "--region", region],
        }}}],
    }, sort_keys=True)


class Cluster(pulumi.ComponentResource):
    provider: k8s.Provider
    eks_cluster: Optional[aws.eks.Cluster]

    def __init__(self, name: str, args: ClusterArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("stackyard:compute:Cluster", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.eks_cluster = None
        if args.cluster.type == "existing":
            self.provider = k8s.Provider(
                f"{name}-k8s",
                kubeconfig=args.cluster.kubeconfig.path,
                context=args.cluster.kubeconfig.context,
                opts=child,
            )
            self.register_outputs({})
            return

        role = aws.iam.Role(
            f"{name}-role",
            assume_role_policy=assume_role_policy("eks.amazonaws.com"),
            managed_policy_arns=["arn:aws:iam::aws:policy/AmazonEKSClusterPolicy"],
            tags=args.ownership.tags(),
            opts=child,
        )
        self.eks_cluster = aws.eks.Cluster(
            f"{name}-eks",
            name=args.cluster.name,
            role_arn=role.arn,
            version=args.versions["kubernetes"],
            vpc_config=aws.eks.ClusterVpcConfigArgs(
                subnet_ids=list(args.cluster.vpc.subnet_ids.private) if args.cluster.vpc and args.cluster.vpc.subnet_ids else [],
                endpoint_private_access=True,
                endpoint_public_access=args.cluster.endpoint_public_access,
                public_access_cidrs=list(args.cluster.public_access_cidrs) or None,
            ),
            enabled_cluster_log_types=list(args.cluster.logging),
            tags=args.ownership.tags(),
            opts=child,
        )
        self.provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=pulumi.Output.all(self.eks_cluster.endpoint, self.eks_cluster.certificate_authority.data).apply(
                lambda parts: kubeconfig(args.cluster.name, parts[0], parts[1], args.cloud.region)),
            opts=child,
        )
        self.register_outputs({"endpoint": self.eks_cluster.endpoint})
