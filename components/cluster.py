"""The Kubernetes cluster, and the one Kubernetes provider every component uses.

Two modes: an EKS cluster created with pulumi-aws, or an existing cluster
reached by kubeconfig (the `local` environment). Either way `Cluster.provider`
is the only Kubernetes provider in the program.

The EKS cluster is private by default (a public endpoint needs an allow-list),
encrypts Secrets with its own KMS key, sends every control-plane log to
CloudWatch, trusts its OIDC issuer for IAM roles for service accounts, runs the
core add-ons at pinned versions and has a small system node group for
everything that is not a GPU workload.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.irsa import STS_AUDIENCE, irsa_role
from components.kms import kms_key
from components.node_group import SYSTEM_NODE_SELECTOR, assume_role_policy, launch_template, node_role
from components.ownership import Ownership
from environments import spec as env

CLUSTER_POLICY_ARN = "arn:aws:iam::aws:policy/AmazonEKSClusterPolicy"
EBS_CSI_POLICY_ARN = "arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"
EBS_CSI_SERVICE_ACCOUNT = ("kube-system", "ebs-csi-controller-sa")
SYSTEM_AMI_TYPE = "AL2023_x86_64_STANDARD"
# EKS creates /aws/eks/<name>/cluster with no expiry unless the group exists first.
CONTROL_PLANE_LOG_RETENTION_DAYS = 90

# EKS managed add-ons: (add-on name, key in `versions`, needs running nodes).
# vpc-cni and kube-proxy must exist before nodes can become Ready; coredns and
# the EBS CSI controller are Deployments that stay degraded until nodes exist.
ADDONS = (
    ("vpc-cni", "vpc_cni", False),
    ("kube-proxy", "kube_proxy", False),
    ("coredns", "coredns", True),
    ("aws-ebs-csi-driver", "aws_ebs_csi_driver", True),
)


@dataclass(frozen=True)
class ClusterArgs:
    cluster: env.Cluster
    cloud: env.Cloud
    versions: env.Versions
    ownership: Ownership


@dataclass(frozen=True)
class SubnetLayout:
    zone: str
    private_cidr: str
    public_cidr: str


def subnet_layout(vpc_cidr: str, zones: Sequence[str]) -> list[SubnetLayout]:
    """Split the VPC: one large private subnet per zone (nodes and pods use VPC IPs), one small public one.

    The VPC is cut into 8 blocks; zone i gets private block i, and the last
    block is cut into 8 again for the public subnets (load balancers, NAT).
    """
    network = ipaddress.ip_network(vpc_cidr)
    blocks = list(network.subnets(prefixlen_diff=3))
    public_blocks = list(blocks[-1].subnets(prefixlen_diff=3))
    if len(zones) > len(blocks) - 1:
        raise ValueError(f"at most {len(blocks) - 1} availability zones fit this layout, got {len(zones)}")
    return [SubnetLayout(zone, str(blocks[i]), str(public_blocks[i])) for i, zone in enumerate(zones)]


def subnet_tags(cluster_name: str, public: bool) -> dict[str, str]:
    """The tags the AWS load balancer controller uses to place internet-facing and internal load balancers."""
    role = "kubernetes.io/role/elb" if public else "kubernetes.io/role/internal-elb"
    return {role: "1", f"kubernetes.io/cluster/{cluster_name}": "shared"}


def cluster_encryption_policy(key_arn: str) -> str:
    """What the cluster role needs on its KMS key to envelope-encrypt Secrets."""
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ListGrants", "kms:DescribeKey"],
            "Resource": key_arn,
        }],
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
    """The cluster; on EKS also what other components build on.

    On EKS: `cluster_name` (the cluster name as an Output, so users of it wait for the
    cluster), `private_subnet_ids`, `security_group_id` (the cluster security
    group every node joins), and `oidc_provider_arn` / `oidc_issuer` for IRSA
    roles (`components.irsa.irsa_role`). For an existing cluster these are
    None: Stackyard creates no cloud resources there.
    """

    provider: k8s.Provider
    eks_cluster: Optional[aws.eks.Cluster]
    cluster_name: pulumi.Input[str]
    private_subnet_ids: Optional[pulumi.Output]
    security_group_id: Optional[pulumi.Output]
    oidc_provider_arn: Optional[pulumi.Output]
    oidc_issuer: Optional[pulumi.Output]

    def __init__(self, name: str, args: ClusterArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("stackyard:compute:Cluster", name, None, opts)
        self.eks_cluster = None
        self.cluster_name = args.cluster.name
        self.private_subnet_ids = self.security_group_id = None
        self.oidc_provider_arn = self.oidc_issuer = None
        if args.cluster.type == "existing":
            self.provider = k8s.Provider(
                f"{name}-k8s",
                kubeconfig=args.cluster.kubeconfig.path,
                context=args.cluster.kubeconfig.context,
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.register_outputs({})
            return
        self._build_eks(name, args)
        self.register_outputs({
            "endpoint": self.eks_cluster.endpoint,
            "oidcProviderArn": self.oidc_provider_arn,
            "oidcIssuer": self.oidc_issuer,
        })

    # --- EKS -----------------------------------------------------------------

    def _build_eks(self, name: str, args: ClusterArgs) -> None:
        spec = args.cluster
        tags = args.ownership.tags()
        child = pulumi.ResourceOptions(parent=self)
        self.private_subnet_ids = self._network(name, spec, tags)

        key = kms_key(f"{name}-secrets-key", f"Envelope encryption of {spec.name} Secrets", tags, parent=self,
                      protect=False)
        role = aws.iam.Role(f"{name}-role", assume_role_policy=assume_role_policy("eks.amazonaws.com"),
                            tags=tags, opts=child)
        role_policies = [
            aws.iam.RolePolicyAttachmentsExclusive(f"{name}-role-policies", role_name=role.name,
                                                   policy_arns=[CLUSTER_POLICY_ARN], opts=child),
            aws.iam.RolePolicy(f"{name}-role-encryption", role=role.id,
                               policy=key.arn.apply(cluster_encryption_policy), opts=child),
        ]
        log_group = aws.cloudwatch.LogGroup(f"{name}-control-plane-logs", name=f"/aws/eks/{spec.name}/cluster",
                                            retention_in_days=CONTROL_PLANE_LOG_RETENTION_DAYS, tags=tags, opts=child)
        self.eks_cluster = aws.eks.Cluster(
            f"{name}-eks",
            name=spec.name,
            role_arn=role.arn,
            version=args.versions.kubernetes,
            vpc_config=aws.eks.ClusterVpcConfigArgs(
                subnet_ids=self.private_subnet_ids,
                endpoint_private_access=True,
                endpoint_public_access=spec.endpoint_public_access,
                public_access_cidrs=list(spec.public_access_cidrs) if spec.endpoint_public_access else None,
            ),
            encryption_config=aws.eks.ClusterEncryptionConfigArgs(
                resources=["secrets"],
                provider=aws.eks.ClusterEncryptionConfigProviderArgs(key_arn=key.arn),
            ),
            # Access entries (not the aws-auth ConfigMap); the identity running
            # Pulumi becomes cluster admin so the Kubernetes provider can work.
            access_config=aws.eks.ClusterAccessConfigArgs(
                authentication_mode="API", bootstrap_cluster_creator_admin_permissions=True),
            enabled_cluster_log_types=list(spec.logging),
            # Standard support only: extended support silently multiplies the control-plane price.
            upgrade_policy=aws.eks.ClusterUpgradePolicyArgs(support_type="STANDARD"),
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*role_policies, log_group]),
        )
        self.cluster_name = self.eks_cluster.name
        self.security_group_id = self.eks_cluster.vpc_config.cluster_security_group_id
        self.oidc_issuer = self.eks_cluster.identities[0].oidcs[0].issuer
        oidc = aws.iam.OpenIdConnectProvider(f"{name}-oidc", url=self.oidc_issuer, client_id_lists=[STS_AUDIENCE],
                                             tags=tags, opts=child)
        self.oidc_provider_arn = oidc.arn

        before_nodes = [self._addon(name, addon, key_, args) for addon, key_, needs_nodes in ADDONS if not needs_nodes]
        system_nodes = self._system_node_group(name, args, before_nodes)
        after_nodes = [self._addon(name, addon, key_, args, depends_on=[system_nodes])
                       for addon, key_, needs_nodes in ADDONS if needs_nodes]

        # Everything applied through this provider (Helm releases wait for their
        # pods) needs somewhere to run: the system nodes and cluster DNS.
        self.provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=pulumi.Output.all(self.eks_cluster.endpoint, self.eks_cluster.certificate_authority.data).apply(
                lambda parts: kubeconfig(spec.name, parts[0], parts[1], args.cloud.region)),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[system_nodes, *after_nodes]),
        )

    def _network(self, name: str, spec: env.Cluster, tags: Mapping[str, str]) -> pulumi.Input:
        """The private subnets the control plane and nodes use: given, or a VPC created across the zones."""
        vpc_spec = spec.vpc
        if vpc_spec.subnet_ids is not None:
            return list(vpc_spec.subnet_ids.private)
        child = pulumi.ResourceOptions(parent=self)
        vpc = aws.ec2.Vpc(f"{name}-vpc", cidr_block=vpc_spec.cidr, enable_dns_hostnames=True, enable_dns_support=True,
                          tags={**tags, "Name": spec.name}, opts=child)
        gateway = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, tags={**tags, "Name": spec.name}, opts=child)
        public_routes = aws.ec2.RouteTable(
            f"{name}-public", vpc_id=vpc.id, routes=[{"cidr_block": "0.0.0.0/0", "gateway_id": gateway.id}],
            tags={**tags, "Name": f"{spec.name}-public"}, opts=child)
        private_ids = []
        for layout in subnet_layout(vpc_spec.cidr, vpc_spec.availability_zones):
            zone = layout.zone
            public = aws.ec2.Subnet(
                f"{name}-public-{zone}", vpc_id=vpc.id, cidr_block=layout.public_cidr, availability_zone=zone,
                map_public_ip_on_launch=False,
                tags={**tags, **subnet_tags(spec.name, public=True), "Name": f"{spec.name}-public-{zone}"}, opts=child)
            aws.ec2.RouteTableAssociation(f"{name}-public-{zone}", subnet_id=public.id,
                                          route_table_id=public_routes.id, opts=child)
            # One NAT gateway per zone: losing a zone does not cut the others off.
            address = aws.ec2.Eip(f"{name}-nat-{zone}", domain="vpc", tags={**tags, "Name": f"{spec.name}-nat-{zone}"},
                                  opts=child)
            nat = aws.ec2.NatGateway(f"{name}-nat-{zone}", allocation_id=address.id, subnet_id=public.id,
                                     tags={**tags, "Name": f"{spec.name}-{zone}"},
                                     opts=pulumi.ResourceOptions(parent=self, depends_on=[gateway]))
            private = aws.ec2.Subnet(
                f"{name}-private-{zone}", vpc_id=vpc.id, cidr_block=layout.private_cidr, availability_zone=zone,
                tags={**tags, **subnet_tags(spec.name, public=False), "Name": f"{spec.name}-private-{zone}"},
                opts=child)
            private_routes = aws.ec2.RouteTable(
                f"{name}-private-{zone}", vpc_id=vpc.id, routes=[{"cidr_block": "0.0.0.0/0", "nat_gateway_id": nat.id}],
                tags={**tags, "Name": f"{spec.name}-private-{zone}"}, opts=child)
            aws.ec2.RouteTableAssociation(f"{name}-private-{zone}", subnet_id=private.id,
                                          route_table_id=private_routes.id, opts=child)
            private_ids.append(private.id)
        return pulumi.Output.all(*private_ids)

    def _addon(self, name: str, addon: str, version_key: str, args: ClusterArgs,
               depends_on: Sequence[pulumi.Resource] = ()) -> aws.eks.Addon:
        service_account_role_arn = None
        if addon == "aws-ebs-csi-driver":
            namespace, service_account = EBS_CSI_SERVICE_ACCOUNT
            role = irsa_role(f"{name}-ebs-csi", self.oidc_provider_arn, self.oidc_issuer, namespace, service_account,
                             pulumi.ResourceOptions(parent=self), tags=args.ownership.tags())
            aws.iam.RolePolicyAttachmentsExclusive(f"{name}-ebs-csi-policies", role_name=role.name,
                                                   policy_arns=[EBS_CSI_POLICY_ARN],
                                                   opts=pulumi.ResourceOptions(parent=self))
            service_account_role_arn = role.arn
        return aws.eks.Addon(
            f"{name}-{addon}",
            cluster_name=self.eks_cluster.name,
            addon_name=addon,
            addon_version=getattr(args.versions, version_key),
            # EKS installs self-managed copies of the core add-ons at creation; take them over.
            resolve_conflicts_on_create="OVERWRITE",
            resolve_conflicts_on_update="OVERWRITE",
            service_account_role_arn=service_account_role_arn,
            tags=args.ownership.tags(),
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(depends_on)),
        )

    def _system_node_group(self, name: str, args: ClusterArgs,
                           depends_on: Sequence[pulumi.Resource]) -> aws.eks.NodeGroup:
        system = args.cluster.system_node_group
        tags = args.ownership.tags({"stackyard.dev/node-group": "system"})
        child = pulumi.ResourceOptions(parent=self)
        role = node_role(f"{name}-system", tags, child)
        template = launch_template(f"{name}-system", SYSTEM_AMI_TYPE, system.disk_size_gib, tags, child)
        return aws.eks.NodeGroup(
            f"{name}-system",
            cluster_name=self.eks_cluster.name,
            node_role_arn=role.role.arn,
            subnet_ids=self.private_subnet_ids,
            ami_type=SYSTEM_AMI_TYPE,
            version=args.versions.kubernetes,
            capacity_type="ON_DEMAND",
            instance_types=list(system.instance_types),
            scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                min_size=system.min_size, max_size=system.max_size, desired_size=system.desired_size),
            update_config=aws.eks.NodeGroupUpdateConfigArgs(max_unavailable=1),
            launch_template=aws.eks.NodeGroupLaunchTemplateArgs(id=template.id, version=template.latest_version.apply(str)),
            labels=dict(SYSTEM_NODE_SELECTOR),
            tags=tags,
            # cluster-autoscaler owns the desired size once the group exists.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[role.policies, *depends_on],
                                        ignore_changes=["scalingConfig.desiredSize"]),
        )
