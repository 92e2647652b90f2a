"""The Karpenter controller, installed only when a spec has a Karpenter GPU pool.

The controller gets its own IAM role through IRSA, scoped to instances tagged
for this cluster; the nodes it launches get a node role with exactly the EKS
node policies and an EC2_LINUX access entry; an SQS queue fed by EventBridge
tells it about spot interruptions and scheduled maintenance so it can drain
nodes before AWS takes them away. The NodePools and EC2NodeClasses themselves
belong to the pools (components/gpu_node_pool.py).
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
from components.node_group import SYSTEM_NODE_SELECTOR, node_role
from components.ownership import Ownership

NAMESPACE = "kube-system"
SERVICE_ACCOUNT = "karpenter"
CHART_REPOSITORY = "oci://public.ecr.aws/karpenter"

# The events Karpenter drains nodes ahead of (EventBridge rule name suffix -> pattern).
INTERRUPTION_EVENTS = {
    "scheduled-change": {"source": ["aws.health"], "detail-type": ["AWS Health Event"]},
    "spot-interruption": {"source": ["aws.ec2"], "detail-type": ["EC2 Spot Instance Interruption Warning"]},
    "rebalance": {"source": ["aws.ec2"], "detail-type": ["EC2 Instance Rebalance Recommendation"]},
    "instance-state-change": {"source": ["aws.ec2"], "detail-type": ["EC2 Instance State-change Notification"]},
}


@dataclass(frozen=True)
class KarpenterArgs:
    cluster_name: str
    region: str
    version: str  # versions.karpenter: both Helm charts (CRDs and controller)
    cluster: Cluster
    ownership: Ownership


def controller_policy(cluster_name: str, region: str, node_role_arn: str, queue_arn: str) -> str:
    """What the controller may do: launch and terminate only instances tagged for this cluster."""
    ec2 = f"arn:aws:ec2:{region}"
    owned = {f"aws:RequestTag/kubernetes.io/cluster/{cluster_name}": "owned",
             "aws:RequestTag/eks:eks-cluster-name": cluster_name}
    launched = [f"{ec2}:*:{kind}/*" for kind in
                ("fleet", "instance", "volume", "network-interface", "launch-template", "spot-instances-request")]
    profile = "arn:aws:iam::*:instance-profile/*"
    statements = [
        {"Sid": "AllowScopedEC2InstanceAccessActions", "Effect": "Allow",
         "Action": ["ec2:RunInstances", "ec2:CreateFleet"],
         "Resource": [f"{ec2}::image/*", f"{ec2}::snapshot/*", f"{ec2}:*:security-group/*", f"{ec2}:*:subnet/*",
                      f"{ec2}:*:capacity-reservation/*"]},
        {"Sid": "AllowScopedEC2LaunchTemplateAccessActions", "Effect": "Allow",
         "Action": ["ec2:RunInstances", "ec2:CreateFleet"], "Resource": f"{ec2}:*:launch-template/*",
         "Condition": {"StringEquals": {f"aws:ResourceTag/kubernetes.io/cluster/{cluster_name}": "owned"},
                       "StringLike": {"aws:ResourceTag/karpenter.sh/nodepool": "*"}}},
        {"Sid": "AllowScopedEC2InstanceActionsWithTags", "Effect": "Allow",
         "Action": ["ec2:RunInstances", "ec2:CreateFleet", "ec2:CreateLaunchTemplate"], "Resource": launched,
         "Condition": {"StringEquals": owned, "StringLike": {"aws:RequestTag/karpenter.sh/nodepool": "*"}}},
        {"Sid": "AllowScopedResourceCreationTagging", "Effect": "Allow", "Action": "ec2:CreateTags",
         "Resource": launched,
         "Condition": {"StringEquals": {**owned, "ec2:CreateAction": ["RunInstances", "CreateFleet",
                                                                       "CreateLaunchTemplate"]},
                       "StringLike": {"aws:RequestTag/karpenter.sh/nodepool": "*"}}},
        {"Sid": "AllowScopedResourceTagging", "Effect": "Allow", "Action": "ec2:CreateTags",
         "Resource": f"{ec2}:*:instance/*",
         "Condition": {"StringEquals": {f"aws:ResourceTag/kubernetes.io/cluster/{cluster_name}": "owned"},
                       "StringLike": {"aws:ResourceTag/karpenter.sh/nodepool": "*"},
                       "ForAllValues:StringEquals": {"aws:TagKeys": ["eks:eks-cluster-name", "karpenter.sh/nodeclaim",
                                                                     "Name"]}}},
        {"Sid": "AllowScopedDeletion", "Effect": "Allow",
         "Action": ["ec2:TerminateInstances", "ec2:DeleteLaunchTemplate"],
         "Resource": [f"{ec2}:*:instance/*", f"{ec2}:*:launch-template/*"],
         "Condition": {"StringEquals": {f"aws:ResourceTag/kubernetes.io/cluster/{cluster_name}": "owned"},
                       "StringLike": {"aws:ResourceTag/karpenter.sh/nodepool": "*"}}},
        {"Sid": "AllowRegionalReadActions", "Effect": "Allow",
         "Action": ["ec2:DescribeCapacityReservations", "ec2:DescribeImages", "ec2:DescribeInstances",
                    "ec2:DescribeInstanceTypeOfferings", "ec2:DescribeInstanceTypes", "ec2:DescribeLaunchTemplates",
                    "ec2:DescribeSecurityGroups", "ec2:DescribeSpotPriceHistory", "ec2:DescribeSubnets"],
         "Resource": "*", "Condition": {"StringEquals": {"aws:RequestedRegion": region}}},
        {"Sid": "AllowSSMReadActions", "Effect": "Allow", "Action": "ssm:GetParameter",
         "Resource": f"arn:aws:ssm:{region}::parameter/aws/service/*"},
        {"Sid": "AllowPricingReadActions", "Effect": "Allow", "Action": "pricing:GetProducts", "Resource": "*"},
        {"Sid": "AllowInterruptionQueueActions", "Effect": "Allow",
         "Action": ["sqs:DeleteMessage", "sqs:GetQueueUrl", "sqs:ReceiveMessage"], "Resource": queue_arn},
        {"Sid": "AllowPassingInstanceRole", "Effect": "Allow", "Action": "iam:PassRole", "Resource": node_role_arn,
         "Condition": {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}},
        {"Sid": "AllowScopedInstanceProfileCreationActions", "Effect": "Allow",
         "Action": ["iam:CreateInstanceProfile", "iam:TagInstanceProfile"], "Resource": profile,
         "Condition": {"StringEquals": {**owned, "aws:RequestTag/topology.kubernetes.io/region": region},
                       "StringLike": {"aws:RequestTag/karpenter.k8s.aws/ec2nodeclass": "*"}}},
        {"Sid": "AllowScopedInstanceProfileActions", "Effect": "Allow",
         "Action": ["iam:AddRoleToInstanceProfile", "iam:RemoveRoleFromInstanceProfile", "iam:DeleteInstanceProfile",
                    "iam:TagInstanceProfile"],
         "Resource": profile,
         "Condition": {"StringEquals": {f"aws:ResourceTag/kubernetes.io/cluster/{cluster_name}": "owned",
                                        "aws:ResourceTag/topology.kubernetes.io/region": region},
                       "StringLike": {"aws:ResourceTag/karpenter.k8s.aws/ec2nodeclass": "*"}}},
        {"Sid": "AllowInstanceProfileReadActions", "Effect": "Allow",
         "Action": ["iam:GetInstanceProfile", "iam:ListInstanceProfiles"], "Resource": "*"},
        {"Sid": "AllowAPIServerEndpointDiscovery", "Effect": "Allow", "Action": "eks:DescribeCluster",
         "Resource": f"arn:aws:eks:{region}:*:cluster/{cluster_name}"},
    ]
    return json.dumps({"Version": "2012-10-17", "Statement": statements}, sort_keys=True)


def interruption_queue_policy(queue_arn: str) -> str:
    """EventBridge (and SQS itself) may deliver to the queue; nothing else, and only over TLS."""
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "EventBridgeDelivers", "Effect": "Allow", "Action": "sqs:SendMessage", "Resource": queue_arn,
             "Principal": {"Service": ["events.amazonaws.com", "sqs.amazonaws.com"]}},
            {"Sid": "DenyHTTP", "Effect": "Deny", "Action": "sqs:*", "Resource": queue_arn, "Principal": "*",
             "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
        ],
    }, sort_keys=True)


def controller_values(cluster_name: str, queue_name: str, role_arn: str) -> dict:
    return {
        "settings": {"clusterName": cluster_name, "interruptionQueue": queue_name},
        "serviceAccount": {"name": SERVICE_ACCOUNT, "annotations": {"eks.amazonaws.com/role-arn": role_arn}},
        "replicas": 2,
        # The controller must never run on nodes it may remove.
        "nodeSelector": dict(SYSTEM_NODE_SELECTOR),
        "controller": {"resources": {"requests": {"cpu": "1", "memory": "1Gi"},
                                     "limits": {"cpu": "1", "memory": "1Gi"}}},
    }


class Karpenter(pulumi.ComponentResource):
    """`node_role_name` (for EC2NodeClass.spec.role) and `release` (NodePools depend on it) are what pools use."""

    def __init__(self, name: str, args: KarpenterArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("stackyard:compute:Karpenter", name, None, opts)
        tags = args.ownership.tags()
        child = pulumi.ResourceOptions(parent=self)
        cluster = args.cluster

        nodes = node_role(name, tags, child)
        self.node_role_name = nodes.role.name
        access = aws.eks.AccessEntry(f"{name}-node-access", cluster_name=cluster.cluster_name,
                                     principal_arn=nodes.role.arn, type="EC2_LINUX", tags=tags, opts=child)

        queue = aws.sqs.Queue(f"{name}-interruptions", message_retention_seconds=300, sqs_managed_sse_enabled=True,
                              tags=tags, opts=child)
        aws.sqs.QueuePolicy(f"{name}-interruptions", queue_url=queue.url,
                            policy=queue.arn.apply(interruption_queue_policy), opts=child)
        for event, pattern in INTERRUPTION_EVENTS.items():
            rule = aws.cloudwatch.EventRule(f"{name}-{event}", event_pattern=json.dumps(pattern, sort_keys=True),
                                            tags=tags, opts=child)
            aws.cloudwatch.EventTarget(f"{name}-{event}", rule=rule.name, arn=queue.arn, opts=child)

        controller_role = irsa_role(f"{name}-controller", cluster.oidc_provider_arn, cluster.oidc_issuer, NAMESPACE,
                                    SERVICE_ACCOUNT, child, tags=tags)
        controller_permissions = aws.iam.RolePolicy(
            f"{name}-controller", role=controller_role.id,
            policy=pulumi.Output.all(nodes.role.arn, queue.arn).apply(
                lambda parts: controller_policy(args.cluster_name, args.region, parts[0], parts[1])),
            opts=child)

        # CRDs from their own chart: Helm never upgrades the CRDs a chart ships in crds/.
        crds = k8s.helm.v3.Release(
            f"{name}-crd", name="karpenter-crd", chart=f"{CHART_REPOSITORY}/karpenter-crd", version=args.version,
            namespace=NAMESPACE, opts=child)
        self.release = k8s.helm.v3.Release(
            f"{name}-controller",
            name="karpenter",
            chart=f"{CHART_REPOSITORY}/karpenter",
            version=args.version,
            namespace=NAMESPACE,
            skip_crds=True,
            values=pulumi.Output.all(queue.name, controller_role.arn).apply(
                lambda parts: controller_values(args.cluster_name, parts[0], parts[1])),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[crds, access, controller_permissions, nodes.policies]),
        )
        self.register_outputs({"nodeRoleName": self.node_role_name})
