"""The pure builders behind the compute components: labels, taints and tolerations,
autoscaler tags, launch templates, IAM policy documents, network layout, quotas."""

from __future__ import annotations

import ipaddress
import json

import pytest

from components import cluster, cluster_autoscaler, gpu_node_pool, gpu_software, irsa, karpenter, node_group, teams
from environments.gpu_scheduling import GPU_RESOURCE, POOL_LABEL, gpu_scheduling, gpu_taint
from components.ownership import Ownership
from environments.spec import GpuAmi, NodePool, Team

AL2023 = GpuAmi(type="AL2023_x86_64_NVIDIA", release_version="1.33.0-20250519")
BOTTLEROCKET = GpuAmi(type="BOTTLEROCKET_x86_64_NVIDIA", release_version="1.39.1-5c1bc5f2")


def pool(name="a10g", instance_types=("g5.xlarge", "g5.2xlarge"), ami=AL2023, **overrides) -> NodePool:
    return NodePool(name=name, instance_types=instance_types, max_size=4, ami=ami, **overrides)


def tolerates(tolerations: list[dict], taint: dict) -> bool:
    """Kubernetes' rule: a toleration matches a taint by key, effect (empty = any) and operator."""
    for toleration in tolerations:
        if toleration.get("effect") and toleration["effect"] != taint["effect"]:
            continue
        if toleration.get("operator", "Equal") == "Exists":
            if not toleration.get("key") or toleration["key"] == taint["key"]:
                return True
        elif toleration.get("key") == taint["key"] and toleration.get("value") == taint.get("value"):
            return True
    return False


# --- labels, taints, tolerations ------------------------------------------------

def test_pool_nodes_carry_pool_accelerator_and_gpu_present_labels():
    labels = gpu_node_pool.node_labels(pool(labels={"team": "vision"}))
    assert labels == {"team": "vision", "stackyard.dev/pool": "a10g",
                      "k8s.amazonaws.com/accelerator": "nvidia-a10g", "nvidia.com/gpu.present": "true"}


def test_pool_labels_cannot_override_the_pool_label():
    labels = gpu_node_pool.node_labels(pool(labels={POOL_LABEL: "somewhere-else"}))
    assert labels[POOL_LABEL] == "a10g"


def test_gpu_scheduling_lands_on_the_pool_it_names():
    target = pool()
    scheduling = gpu_scheduling(target.name, 1)
    labels = gpu_node_pool.node_labels(target)
    assert scheduling.node_selector.items() <= labels.items()
    assert all(tolerates(scheduling.tolerations, taint) for taint in gpu_node_pool.pool_taints(target))


def test_eks_taints_use_the_eks_effect_enum():
    assert gpu_node_pool.eks_taints([gpu_taint()]) == [
        {"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}]


def test_device_plugin_tolerates_exactly_the_pool_taints():
    pools = [pool("a"), pool("b", instance_types=("g6.xlarge",))]
    tolerations = gpu_software.tolerations_for(pools)
    assert tolerations == [{"key": "nvidia.com/gpu", "operator": "Equal", "value": "true", "effect": "NoSchedule"}]
    assert all(tolerates(tolerations, taint) for p in pools for taint in gpu_node_pool.pool_taints(p))
    # Exactly: nothing broader than the pools' taints.
    assert not tolerates(tolerations, {"key": "dedicated", "value": "infra", "effect": "NoSchedule"})
    assert not tolerates(tolerations, {"key": "nvidia.com/gpu", "value": "true", "effect": "NoExecute"})


def test_device_plugin_runs_only_on_pools_without_a_built_in_plugin():
    al2023, bottlerocket = pool("al"), pool("br", ami=BOTTLEROCKET)
    assert gpu_software.device_plugin_pools([al2023, bottlerocket]) == [al2023]
    values = gpu_software.device_plugin_values([al2023])
    terms = values["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert terms == [{"matchExpressions": [{"key": POOL_LABEL, "operator": "In", "values": ["al"]}]}]


def test_dcgm_exporter_leaves_scraping_to_the_service_contract():
    values = gpu_software.dcgm_exporter_values([pool()])
    assert values["serviceMonitor"] == {"enabled": False} and values["service"] == {"enable": False}
    assert gpu_software.DCGM_EXPORTER_SELECTOR["app.kubernetes.io/name"] == "dcgm-exporter"
    assert (gpu_software.DCGM_METRICS_PORT_NAME, gpu_software.DCGM_METRICS_PORT) == ("metrics", 9400)


# --- cluster-autoscaler ----------------------------------------------------------

def test_autoscaler_tags_let_a_pool_scale_from_zero():
    target = pool()
    tags = gpu_node_pool.autoscaler_tags("stackyard-prod", gpu_node_pool.node_labels(target),
                                         gpu_node_pool.pool_taints(target), gpus_per_node=1)
    prefix = "k8s.io/cluster-autoscaler/node-template"
    assert tags["k8s.io/cluster-autoscaler/enabled"] == "true"
    assert tags["k8s.io/cluster-autoscaler/stackyard-prod"] == "owned"
    assert tags[f"{prefix}/label/stackyard.dev/pool"] == "a10g"
    assert tags[f"{prefix}/label/k8s.amazonaws.com/accelerator"] == "nvidia-a10g"
    assert tags[f"{prefix}/taint/nvidia.com/gpu"] == "true:NoSchedule"
    assert tags[f"{prefix}/resources/{GPU_RESOURCE}"] == "1"
    assert all(len(key) <= 128 and len(value) <= 256 for key, value in tags.items())  # AWS tag limits
    template_only = gpu_node_pool.node_template_tags(tags)
    assert "k8s.io/cluster-autoscaler/enabled" not in template_only
    assert set(template_only) == {key for key in tags if key.startswith(prefix)}


def test_autoscaler_may_only_scale_groups_owned_by_its_cluster():
    document = json.loads(cluster_autoscaler.autoscaler_policy("stackyard-prod"))
    scale = next(s for s in document["Statement"] if "autoscaling:SetDesiredCapacity" in s["Action"])
    assert scale["Condition"] == {
        "StringEquals": {"aws:ResourceTag/k8s.io/cluster-autoscaler/stackyard-prod": "owned"}}
    read = next(s for s in document["Statement"] if s is not scale)
    assert all(":Describe" in action or ":Get" in action for action in read["Action"])


def test_autoscaler_image_follows_the_kubernetes_minor():
    assert cluster_autoscaler.image_tag("1.33") == "v1.33.0"
    assert cluster_autoscaler.image_tag("1.31.4") == "v1.31.0"


# --- AMIs and launch templates ----------------------------------------------------

@pytest.mark.parametrize("ami, alias", [(AL2023, "al2023@v20250519"), (BOTTLEROCKET, "bottlerocket@v1.39.1")])
def test_karpenter_ami_alias_is_pinned_to_the_release(ami, alias):
    assert gpu_node_pool.karpenter_ami_alias(ami) == alias
    assert "latest" not in alias


@pytest.mark.parametrize("ami_type, device", [("AL2023_x86_64_NVIDIA", "/dev/xvda"),
                                              ("BOTTLEROCKET_x86_64_NVIDIA", "/dev/xvdb")])
def test_launch_template_requires_imdsv2_and_encrypts_the_root_volume(ami_type, device):
    args = node_group.launch_template_args(ami_type, 200, {"stackyard.dev/team": "ml"})
    assert args["metadata_options"] == {"http_endpoint": "enabled", "http_tokens": "required",
                                        "http_put_response_hop_limit": 1}
    (mapping,) = args["block_device_mappings"]
    assert mapping["device_name"] == device
    assert mapping["ebs"] == {"volume_size": 200, "volume_type": "gp3", "encrypted": "true",
                              "delete_on_termination": "true"}
    assert "image_id" not in args  # the node group's AMI type and pinned release choose the AMI
    assert {spec["resource_type"] for spec in args["tag_specifications"]} >= {"instance", "volume"}


def test_ec2_node_class_mirrors_the_launch_template_hardening():
    target = pool("a100", instance_types=("p4d.24xlarge",), provisioner="karpenter", gpu_limit=16,
                  disk_size_gib=500)
    spec = gpu_node_pool.ec2_node_class_spec(target, "node-role", ["subnet-1", "subnet-2"], "sg-1", {"a": "b"})
    assert spec["amiSelectorTerms"] == [{"alias": "al2023@v20250519"}]
    assert spec["metadataOptions"]["httpTokens"] == "required"
    assert spec["metadataOptions"]["httpPutResponseHopLimit"] == node_group.IMDS_HOP_LIMIT
    assert spec["blockDeviceMappings"] == [{"deviceName": "/dev/xvda", "ebs": {
        "volumeSize": "500Gi", "volumeType": "gp3", "encrypted": True, "deleteOnTermination": True}}]
    assert spec["subnetSelectorTerms"] == [{"id": "subnet-1"}, {"id": "subnet-2"}]
    assert spec["securityGroupSelectorTerms"] == [{"id": "sg-1"}]


def test_karpenter_node_pool_limits_gpus_and_matches_the_pool():
    target = pool("a100", instance_types=("p4d.24xlarge",), provisioner="karpenter", gpu_limit=16,
                  capacity_type="spot")
    spec = gpu_node_pool.karpenter_node_pool_spec(target, "a100")
    assert spec["limits"] == {"nvidia.com/gpu": "16"}
    assert spec["template"]["spec"]["taints"] == [gpu_taint()]
    assert spec["template"]["metadata"]["labels"][POOL_LABEL] == "a100"
    requirements = {r["key"]: r["values"] for r in spec["template"]["spec"]["requirements"]}
    assert requirements["node.kubernetes.io/instance-type"] == ["p4d.24xlarge"]
    assert requirements["karpenter.sh/capacity-type"] == ["spot"]
    assert spec["disruption"] == {"consolidationPolicy": "WhenEmpty", "consolidateAfter": "10m"}
    assert spec["template"]["spec"]["expireAfter"] == "720h"


# --- IAM ------------------------------------------------------------------------

def test_nodes_get_exactly_the_eks_node_policies():
    assert sorted(node_group.NODE_POLICY_ARNS) == [
        "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
        "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
        "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
    ]


def test_service_trust_policy():
    document = json.loads(node_group.assume_role_policy("ec2.amazonaws.com"))
    assert document["Statement"] == [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
                                      "Action": "sts:AssumeRole"}]


def test_irsa_trust_policy_admits_one_service_account_with_the_sts_audience():
    arn = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/ABC"
    document = json.loads(irsa.irsa_trust_policy(arn, "https://oidc.eks.us-east-1.amazonaws.com/id/ABC",
                                                 "kube-system", "karpenter"))
    (statement,) = document["Statement"]
    assert statement["Principal"] == {"Federated": arn}
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Condition"] == {"StringEquals": {
        "oidc.eks.us-east-1.amazonaws.com/id/ABC:aud": "sts.amazonaws.com",
        "oidc.eks.us-east-1.amazonaws.com/id/ABC:sub": "system:serviceaccount:kube-system:karpenter",
    }}


def test_cluster_role_may_use_only_its_secrets_key():
    document = json.loads(cluster.cluster_encryption_policy("arn:aws:kms:us-east-1:1:key/k"))
    (statement,) = document["Statement"]
    assert statement["Resource"] == "arn:aws:kms:us-east-1:1:key/k"
    assert set(statement["Action"]) == {"kms:Encrypt", "kms:Decrypt", "kms:ListGrants", "kms:DescribeKey"}


def test_karpenter_controller_is_scoped_to_its_cluster():
    document = json.loads(karpenter.controller_policy("stackyard-prod", "us-east-1",
                                                      "arn:aws:iam::1:role/nodes", "arn:aws:sqs:us-east-1:1:q"))
    statements = {s["Sid"]: s for s in document["Statement"]}
    deletion = statements["AllowScopedDeletion"]
    assert deletion["Condition"]["StringEquals"] == {
        "aws:ResourceTag/kubernetes.io/cluster/stackyard-prod": "owned"}
    assert statements["AllowPassingInstanceRole"]["Resource"] == "arn:aws:iam::1:role/nodes"
    assert statements["AllowInterruptionQueueActions"]["Resource"] == "arn:aws:sqs:us-east-1:1:q"
    for statement in document["Statement"]:
        writes = [a for a in _actions(statement) if not a.split(":")[1].startswith(("Describe", "Get", "List"))]
        if statement["Resource"] == "*" and writes:
            pytest.fail(f"{statement['Sid']} grants {writes} on every resource")


def _actions(statement: dict) -> list[str]:
    actions = statement["Action"]
    return [actions] if isinstance(actions, str) else actions


def test_interruption_queue_accepts_only_eventbridge_over_tls():
    document = json.loads(karpenter.interruption_queue_policy("arn:aws:sqs:us-east-1:1:q"))
    allow, deny = document["Statement"]
    assert allow["Principal"] == {"Service": ["events.amazonaws.com", "sqs.amazonaws.com"]}
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


# --- network ----------------------------------------------------------------------

def test_subnet_layout_gives_each_zone_disjoint_private_and_public_subnets():
    zones = ["us-east-1a", "us-east-1b", "us-east-1c"]
    layout = cluster.subnet_layout("10.40.0.0/16", zones)
    assert [entry.zone for entry in layout] == zones
    networks = [ipaddress.ip_network(cidr) for entry in layout for cidr in (entry.private_cidr, entry.public_cidr)]
    vpc = ipaddress.ip_network("10.40.0.0/16")
    assert all(network.subnet_of(vpc) for network in networks)
    assert not any(a.overlaps(b) for i, a in enumerate(networks) for b in networks[i + 1:])
    assert layout[0].private_cidr == "10.40.0.0/19"  # 8190 pod and node addresses per zone


def test_subnet_layout_refuses_more_zones_than_it_has_blocks():
    with pytest.raises(ValueError, match="at most 7"):
        cluster.subnet_layout("10.0.0.0/16", [f"zone-{i}" for i in range(8)])


def test_subnet_tags_mark_load_balancer_placement():
    assert cluster.subnet_tags("c", public=True) == {"kubernetes.io/role/elb": "1", "kubernetes.io/cluster/c": "shared"}
    assert "kubernetes.io/role/internal-elb" in cluster.subnet_tags("c", public=False)


# --- teams ------------------------------------------------------------------------

def test_team_quota_caps_gpu_requests():
    assert teams.gpu_quota_spec(Team(name="vision", owner="v@example.com", gpu_quota=4)) == {
        "hard": {"requests.nvidia.com/gpu": "4"}}


def test_team_namespace_labels_name_the_team_owner_and_cost_center():
    ownership = Ownership(environment="prod", owner="platform@example.com", team="ml-platform", cost_center="cc-1")
    labels = teams.team_labels(ownership, Team(name="vision", owner="vision@example.com", cost_center="cc-9"))
    assert labels["stackyard.dev/team"] == "vision"
    assert labels["stackyard.dev/owner"] == "vision_example.com"
    assert labels["stackyard.dev/cost-center"] == "cc-9"
    assert labels["stackyard.dev/environment"] == "prod"
    fallback = teams.team_labels(ownership, Team(name="nlp", owner="nlp@example.com"))
    assert fallback["stackyard.dev/cost-center"] == "cc-1"


def test_limit_range_defaults_every_container():
    (limits,) = teams.limit_range_spec()["limits"]
    assert limits["type"] == "Container"
    assert set(limits["default"]) == set(limits["defaultRequest"]) == {"cpu", "memory"}
