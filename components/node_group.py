"""What every EKS worker node needs, GPU or not: an IAM role with exactly the
managed policies EKS nodes need, and a hardened launch template.

The system node group (components/cluster.py) and the managed GPU pools
(components/gpu_node_pool.py) share these, and Karpenter's EC2NodeClass uses
the same constants, so every node in the cluster is hardened the same way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Mapping, Optional

import pulumi
import pulumi_aws as aws

# Exactly what the kubelet, the VPC CNI and image pulls from ECR need; anything
# else a pod needs comes from its own IRSA role, never from the node.
NODE_POLICY_ARNS = (
    "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
    "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
    "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
)

# IMDSv2 only, and a hop limit of 1 so that containers (one network hop away
# from the host) cannot reach the node's instance credentials; host-network
# daemons such as the VPC CNI are unaffected.
IMDS_HOP_LIMIT = 1
ROOT_VOLUME_TYPE = "gp3"

# The system node group's nodes carry this label; cluster controllers (Karpenter,
# cluster-autoscaler) select it so they never run on nodes they may remove.
SYSTEM_NODE_LABEL = "stackyard.dev/node-role"
SYSTEM_NODE_SELECTOR = {SYSTEM_NODE_LABEL: "system"}


def assume_role_policy(service: str) -> str:
    """The trust policy letting an AWS service (eks.amazonaws.com, ec2.amazonaws.com) assume a role."""
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
    }, sort_keys=True)


def root_device_name(ami_type: str) -> str:
    """The block device that holds images and pod data: Bottlerocket keeps it on its second volume."""
    return "/dev/xvdb" if ami_type.startswith("BOTTLEROCKET") else "/dev/xvda"


def launch_template_args(ami_type: str, disk_size_gib: int, tags: Mapping[str, str]) -> dict:
    """Keyword arguments of the aws.ec2.LaunchTemplate of a managed node group.

    No image id: the node group's AMI type and pinned release version choose the
    AMI, so EKS keeps managing the bootstrap user data.
    """
    return {
        "metadata_options": {
            "http_endpoint": "enabled",
            "http_tokens": "required",
            "http_put_response_hop_limit": IMDS_HOP_LIMIT,
        },
        "block_device_mappings": [{
            "device_name": root_device_name(ami_type),
            # Encrypted with the account's EBS key: the autoscaling service-linked
            # role can use it without a key policy grant.
            "ebs": {"volume_size": disk_size_gib, "volume_type": ROOT_VOLUME_TYPE,
                    "encrypted": "true", "delete_on_termination": "true"},
        }],
        "tag_specifications": [{"resource_type": kind, "tags": dict(tags)}
                               for kind in ("instance", "volume", "network-interface")],
        "update_default_version": True,
        "tags": dict(tags),
    }


@dataclass(frozen=True)
class NodeRole:
    role: aws.iam.Role
    policies: aws.iam.RolePolicyAttachmentsExclusive  # nodes must not start before these are attached


def node_role(name: str, tags: Mapping[str, str], opts: pulumi.ResourceOptions) -> NodeRole:
    """An EC2 role with exactly NODE_POLICY_ARNS attached (any other attachment is removed)."""
    role = aws.iam.Role(f"{name}-node-role", assume_role_policy=assume_role_policy("ec2.amazonaws.com"),
                        tags=dict(tags), opts=opts)
    policies = aws.iam.RolePolicyAttachmentsExclusive(f"{name}-node-policies", role_name=role.name,
                                                      policy_arns=list(NODE_POLICY_ARNS), opts=opts)
    return NodeRole(role, policies)


def launch_template(name: str, ami_type: str, disk_size_gib: int, tags: Mapping[str, str],
                    opts: Optional[pulumi.ResourceOptions] = None) -> aws.ec2.LaunchTemplate:
    return aws.ec2.LaunchTemplate(f"{name}-lt", **launch_template_args(ami_type, disk_size_gib, tags), opts=opts)
