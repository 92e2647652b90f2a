"""Each GPU pool provisioner on its own, run under the mock runtime: a Bottlerocket spot
node group and a Karpenter pool, on an EKS cluster that reuses existing subnets."""

from __future__ import annotations

import pulumi
import pytest

from components.cluster import Cluster, ClusterArgs
from components.gpu_node_pool import GpuNodePool, GpuNodePoolArgs
from components.karpenter import Karpenter, KarpenterArgs
from components.ownership import Ownership
from environments import spec as env
from stacks import offline

VERSIONS = env.Versions(kubernetes="1.33", vpc_cni="v1", coredns="v1", kube_proxy="v1", aws_ebs_csi_driver="v1",
                        karpenter="1.5.0")
OWNERSHIP = Ownership(environment="unit", owner="ml@example.com", team="ml", cost_center="cc-1")
BOTTLEROCKET = env.GpuAmi(type="BOTTLEROCKET_x86_64_NVIDIA", release_version="1.39.1-5c1bc5f2")
CLUSTER = env.Cluster(type="eks", name="unit", vpc=env.Vpc(subnet_ids=env.Subnets(private=("subnet-a", "subnet-b"))))


def record(pool: env.NodePool) -> list[offline.RecordedResource]:
    def program():
        cluster = Cluster("unit-cluster", ClusterArgs(CLUSTER, env.Cloud(provider="aws", region="us-west-2"),
                                                      VERSIONS, OWNERSHIP))
        on_cluster = pulumi.ResourceOptions(providers={"kubernetes": cluster.provider})
        controller = None
        if pool.provisioner == "karpenter":
            controller = Karpenter("unit-karpenter", KarpenterArgs("unit", "us-west-2", VERSIONS.karpenter,
                                                                   cluster, OWNERSHIP), on_cluster)
        GpuNodePool(f"unit-pool-{pool.name}", GpuNodePoolArgs(pool, "unit", cluster, OWNERSHIP, controller), on_cluster)

    return offline.record("unit", {}, program=program)


def of_type(recorded, type_: str) -> list[offline.RecordedResource]:
    return [r for r in recorded if r.type == type_]


@pytest.fixture(scope="module")
def managed():
    pool = env.NodePool(name="t4", instance_types=("g4dn.xlarge", "g4dn.2xlarge"), max_size=3, capacity_type="spot",
                        disk_size_gib=120, ami=BOTTLEROCKET)
    return record(pool)


@pytest.fixture(scope="module")
def karpenter():
    pool = env.NodePool(name="h100", instance_types=("p5.48xlarge",), max_size=1, provisioner="karpenter",
                        gpu_limit=8, ami=BOTTLEROCKET,
                        disruption=env.Disruption(consolidation_policy="WhenEmptyOrUnderutilized"))
    return record(pool)


def test_existing_subnets_are_used_and_no_vpc_is_created(managed):
    assert not of_type(managed, "aws:ec2/vpc:Vpc") and not of_type(managed, "aws:ec2/subnet:Subnet")
    (cluster,) = of_type(managed, "aws:eks/cluster:Cluster")
    assert cluster.inputs["vpcConfig"]["subnetIds"] == ["subnet-a", "subnet-b"]


def test_managed_provisioner_builds_a_tainted_spot_node_group(managed):
    (pool,) = [r for r in managed if r.type == "stackyard:compute:GpuNodePool"]
    children = [r for r in managed if r.parent == pool.urn]
    assert {r.type for r in children} == {
        "aws:iam/role:Role", "aws:iam/rolePolicyAttachmentsExclusive:RolePolicyAttachmentsExclusive",
        "aws:ec2/launchTemplate:LaunchTemplate", "aws:eks/nodeGroup:NodeGroup", "aws:autoscaling/tag:Tag"}
    (group,) = [r for r in children if r.type == "aws:eks/nodeGroup:NodeGroup"]
    assert group.inputs["capacityType"] == "SPOT"
    assert group.inputs["subnetIds"] == ["subnet-a", "subnet-b"]
    assert group.inputs["releaseVersion"] == "1.39.1-5c1bc5f2"
    assert group.inputs["taints"] == [{"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}]
    assert group.inputs["labels"]["k8s.amazonaws.com/accelerator"] == "nvidia-t4"
    assert group.inputs["tags"]["stackyard.dev/pool"] == "t4"


def test_bottlerocket_data_volume_is_the_encrypted_one(managed):
    (template,) = [r for r in of_type(managed, "aws:ec2/launchTemplate:LaunchTemplate") if "pool-t4" in r.name]
    (volume,) = template.inputs["blockDeviceMappings"]
    assert volume["deviceName"] == "/dev/xvdb"
    assert volume["ebs"]["encrypted"] == "true" and volume["ebs"]["volumeSize"] == 120


def test_asg_gets_one_tag_per_node_template_entry(managed):
    tags = {r.inputs["tag"]["key"] for r in of_type(managed, "aws:autoscaling/tag:Tag")}
    prefix = "k8s.io/cluster-autoscaler/node-template"
    assert tags == {f"{prefix}/label/stackyard.dev/pool", f"{prefix}/label/k8s.amazonaws.com/accelerator",
                    f"{prefix}/label/nvidia.com/gpu.present", f"{prefix}/taint/nvidia.com/gpu",
                    f"{prefix}/resources/nvidia.com/gpu"}


def test_karpenter_provisioner_builds_node_pool_and_node_class(karpenter):
    (node_pool,) = of_type(karpenter, "kubernetes:karpenter.sh/v1:NodePool")
    (node_class,) = of_type(karpenter, "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass")
    (pool,) = [r for r in karpenter if r.type == "stackyard:compute:GpuNodePool"]
    assert node_pool.parent == node_class.parent == pool.urn
    spec = node_pool.inputs["spec"]
    assert spec["limits"] == {"nvidia.com/gpu": "8"}
    assert spec["disruption"]["consolidationPolicy"] == "WhenEmptyOrUnderutilized"
    assert spec["template"]["spec"]["nodeClassRef"]["name"] == node_class.inputs["metadata"]["name"] == "h100"
    class_spec = node_class.inputs["spec"]
    assert class_spec["amiSelectorTerms"] == [{"alias": "bottlerocket@v1.39.1"}]
    assert class_spec["subnetSelectorTerms"] == [{"id": "subnet-a"}, {"id": "subnet-b"}]
    assert class_spec["securityGroupSelectorTerms"] == [{"id": "sg-unit-cluster-eks"}]
    assert class_spec["blockDeviceMappings"][0]["deviceName"] == "/dev/xvdb"
    assert class_spec["role"] == "unit-karpenter-node-role"


def test_karpenter_nodes_may_join_the_cluster(karpenter):
    (entry,) = of_type(karpenter, "aws:eks/accessEntry:AccessEntry")
    assert entry.inputs["type"] == "EC2_LINUX"
    assert entry.inputs["principalArn"] == "arn:aws:iam::000000000000:role/unit-karpenter-node-role"


def test_karpenter_controller_assumes_its_role_through_irsa(karpenter):
    (role,) = [r for r in of_type(karpenter, "aws:iam/role:Role") if r.name == "unit-karpenter-controller"]
    assert "system:serviceaccount:kube-system:karpenter" in role.inputs["assumeRolePolicy"]
    releases = {r.inputs["name"]: r for r in of_type(karpenter, "kubernetes:helm.sh/v3:Release")}
    assert set(releases) == {"karpenter-crd", "karpenter"}
    assert releases["karpenter"].inputs["skipCrds"] is True
    assert releases["karpenter-crd"].urn in releases["karpenter"].dependencies
    assert releases["karpenter"].inputs["values"]["serviceAccount"]["annotations"] == {
        "eks.amazonaws.com/role-arn": "arn:aws:iam::000000000000:role/unit-karpenter-controller"}


def test_interruption_events_reach_the_queue(karpenter):
    rules = of_type(karpenter, "aws:cloudwatch/eventRule:EventRule")
    targets = of_type(karpenter, "aws:cloudwatch/eventTarget:EventTarget")
    assert len(rules) == len(targets) == 4
    (queue,) = of_type(karpenter, "aws:sqs/queue:Queue")
    assert {t.inputs["arn"] for t in targets} == {f"arn:aws:sqs:us-east-1:000000000000:{queue.name}"}
