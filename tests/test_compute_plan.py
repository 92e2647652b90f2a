"""The offline plan of prod: every GPU pool is one GPU workloads can actually land on.

For each pool in environments/prod.yaml the recorded inputs must show a node
group (or Karpenter NodePool) with the NVIDIA taint and labels, a launch
template (or EC2NodeClass) requiring IMDSv2 with an encrypted root volume,
what it needs to scale from zero, and the device plugin tolerating its taint.
"""

from __future__ import annotations

import pytest

from environments.gpu_scheduling import (ACCELERATOR_LABEL, GPU_PRESENT_LABEL, GPU_RESOURCE, POOL_LABEL,
                                       gpu_scheduling, gpu_taint)
from environments import loader
from environments.gpu_catalog import catalog
from conftest import descendants, plan_for, resources, run_cli
from test_compute_builders import tolerates

PROD = loader.load("prod")
NODE_TEMPLATE = "k8s.io/cluster-autoscaler/node-template"
EKS_EFFECTS = {"NO_SCHEDULE": "NoSchedule", "NO_EXECUTE": "NoExecute", "PREFER_NO_SCHEDULE": "PreferNoSchedule"}


@pytest.fixture(scope="module")
def plan():
    return plan_for("prod")


def by_urn(plan) -> dict:
    return {r["urn"]: r for r in plan["resources"]}


def node_group_of(plan, pool: str) -> dict:
    (group,) = [r for r in resources(plan, "aws:eks/nodeGroup:NodeGroup") if r["inputs"]["labels"].get(POOL_LABEL) == pool]
    return group


def karpenter_object(plan, kind: str, name: str) -> dict:
    (found,) = [r for r in plan["resources"] if r["type"].endswith(f":{kind}") and r["inputs"]["metadata"]["name"] == name]
    return found


def recorded_nodes(plan, pool) -> tuple[dict, list[dict]]:
    """The labels and Kubernetes-form taints the nodes of `pool` will carry, as recorded in the plan."""
    if pool.provisioner == "karpenter":
        template = karpenter_object(plan, "NodePool", pool.name)["inputs"]["spec"]["template"]
        return template["metadata"]["labels"], template["spec"]["taints"]
    group = node_group_of(plan, pool.name)["inputs"]
    taints = [{**t, "effect": EKS_EFFECTS[t["effect"]]} for t in group["taints"]]
    return group["labels"], taints


MANAGED = [pool for pool in PROD.node_pools if pool.provisioner == "managed"]
KARPENTER = [pool for pool in PROD.node_pools if pool.provisioner == "karpenter"]


def test_prod_has_both_provisioners():
    assert MANAGED and KARPENTER


# --- managed node groups ----------------------------------------------------------

@pytest.mark.parametrize("pool", MANAGED, ids=lambda p: p.name)
def test_managed_pool_node_group_carries_the_taint_and_labels(plan, pool):
    group = node_group_of(plan, pool.name)["inputs"]
    assert group["taints"] == [{"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}]
    accelerator = catalog().get(pool.instance_types[0]).accelerator
    assert group["labels"] == {POOL_LABEL: pool.name, ACCELERATOR_LABEL: accelerator, GPU_PRESENT_LABEL: "true"}
    assert (group["amiType"], group["releaseVersion"]) == (pool.ami.type, pool.ami.release_version)
    assert group["instanceTypes"] == list(pool.instance_types)
    assert group["scalingConfig"] == {"minSize": pool.min_size, "maxSize": pool.max_size,
                                      "desiredSize": pool.desired_size}
    assert group["capacityType"] == {"on-demand": "ON_DEMAND", "spot": "SPOT"}[pool.capacity_type]
    assert {"stackyard.dev/owner", "stackyard.dev/cost-center", "stackyard.dev/environment"} <= set(group["tags"])


@pytest.mark.parametrize("pool", MANAGED, ids=lambda p: p.name)
def test_managed_pool_launch_template_requires_imdsv2_and_encrypts_the_root_volume(plan, pool):
    group = node_group_of(plan, pool.name)
    (template,) = [by_urn(plan)[urn] for urn in group["dependencies"]
                   if by_urn(plan)[urn]["type"] == "aws:ec2/launchTemplate:LaunchTemplate"]
    assert group["inputs"]["launchTemplate"]["id"] == f"{template['name']}-id"
    inputs = template["inputs"]
    assert inputs["metadataOptions"]["httpTokens"] == "required"
    assert inputs["metadataOptions"]["httpPutResponseHopLimit"] == 1
    (root,) = inputs["blockDeviceMappings"]
    assert root["ebs"] == {"encrypted": "true", "volumeType": "gp3", "volumeSize": pool.disk_size_gib,
                           "deleteOnTermination": "true"}


@pytest.mark.parametrize("pool", MANAGED, ids=lambda p: p.name)
def test_managed_pool_can_scale_from_zero(plan, pool):
    group = node_group_of(plan, pool.name)
    asg = f"eks-{group['name']}-asg"  # the mock's Auto Scaling group name for this node group
    asg_tags = {r["inputs"]["tag"]["key"]: r["inputs"]["tag"]["value"]
                for r in resources(plan, "aws:autoscaling/tag:Tag") if r["inputs"]["autoscalingGroupName"] == asg}
    labels, taints = recorded_nodes(plan, pool)
    for key, value in labels.items():
        assert asg_tags[f"{NODE_TEMPLATE}/label/{key}"] == value
    for taint in taints:
        assert asg_tags[f"{NODE_TEMPLATE}/taint/{taint['key']}"] == f"{taint['value']}:{taint['effect']}"
    assert asg_tags[f"{NODE_TEMPLATE}/resources/{GPU_RESOURCE}"] == str(catalog().get(pool.instance_types[0]).gpus)
    assert group["inputs"]["tags"][f"k8s.io/cluster-autoscaler/{PROD.cluster.name}"] == "owned"


def test_cluster_autoscaler_runs_when_managed_pools_exist(plan):
    (release,) = [r for r in resources(plan, "kubernetes:helm.sh/v3:Release") if r["inputs"]["name"] == "cluster-autoscaler"]
    values = release["inputs"]["values"]
    assert release["inputs"]["version"] == PROD.versions.cluster_autoscaler
    assert values["autoDiscovery"] == {"clusterName": PROD.cluster.name}
    assert values["image"]["tag"] == f"v{PROD.versions.kubernetes}.0"
    assert values["rbac"]["serviceAccount"]["annotations"]["eks.amazonaws.com/role-arn"].startswith("arn:aws:iam::")


def test_node_roles_have_exactly_the_eks_node_policies(plan):
    policies = {r["name"]: sorted(r["inputs"]["policyArns"])
                for r in resources(plan, "aws:iam/rolePolicyAttachmentsExclusive:RolePolicyAttachmentsExclusive")
                if r["name"].endswith("-node-policies")}
    assert len(policies) == len(MANAGED) + 2  # each managed pool, the system nodes, Karpenter's nodes
    assert set(map(tuple, policies.values())) == {(
        "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
        "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
        "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
    )}


# --- Karpenter -----------------------------------------------------------------------

@pytest.mark.parametrize("pool", KARPENTER, ids=lambda p: p.name)
def test_karpenter_node_pool_carries_the_taint_labels_and_gpu_limit(plan, pool):
    spec = karpenter_object(plan, "NodePool", pool.name)["inputs"]["spec"]
    labels, taints = recorded_nodes(plan, pool)
    assert taints == [gpu_taint()]
    assert labels[POOL_LABEL] == pool.name and labels[GPU_PRESENT_LABEL] == "true"
    assert labels[ACCELERATOR_LABEL] == catalog().get(pool.instance_types[0]).accelerator
    assert spec["limits"] == {GPU_RESOURCE: str(pool.gpu_limit)}
    requirements = {r["key"]: r["values"] for r in spec["template"]["spec"]["requirements"]}
    assert requirements["node.kubernetes.io/instance-type"] == list(pool.instance_types)
    assert requirements["karpenter.sh/capacity-type"] == [pool.capacity_type]
    assert spec["disruption"]["consolidationPolicy"] == pool.disruption.consolidation_policy


@pytest.mark.parametrize("pool", KARPENTER, ids=lambda p: p.name)
def test_karpenter_node_class_requires_imdsv2_encrypts_and_pins_the_ami(plan, pool):
    node_pool = karpenter_object(plan, "NodePool", pool.name)
    node_class = karpenter_object(plan, "EC2NodeClass", node_pool["inputs"]["spec"]["template"]["spec"]["nodeClassRef"]["name"])
    spec = node_class["inputs"]["spec"]
    assert spec["metadataOptions"]["httpTokens"] == "required"
    (root,) = spec["blockDeviceMappings"]
    assert root["ebs"]["encrypted"] is True and root["ebs"]["volumeSize"] == f"{pool.disk_size_gib}Gi"
    (ami,) = spec["amiSelectorTerms"]
    assert ami == {"alias": "al2023@v" + pool.ami.release_version.split("-")[1]}
    assert spec["role"].endswith("karpenter-node-role")
    assert node_class["urn"] in node_pool["dependencies"]


@pytest.mark.parametrize("pool", KARPENTER, ids=lambda p: p.name)
def test_karpenter_pool_scales_from_zero_under_its_controller(plan, pool):
    node_pool = karpenter_object(plan, "NodePool", pool.name)
    (controller,) = [r for r in resources(plan, "kubernetes:helm.sh/v3:Release") if r["inputs"]["name"] == "karpenter"]
    # Karpenter launches nodes for pending pods and keeps none otherwise: no static replicas, only the GPU limit.
    assert "replicas" not in node_pool["inputs"]["spec"]
    assert controller["urn"] in node_pool["dependencies"]
    assert controller["inputs"]["version"] == PROD.versions.karpenter
    assert controller["inputs"]["values"]["settings"]["interruptionQueue"]


def test_karpenter_is_installed_only_with_a_karpenter_pool():
    dev = plan_for("dev")
    assert not any(r["type"].startswith("stackyard:compute:Karpenter") for r in dev["resources"])
    assert not [r for r in resources(dev, "kubernetes:helm.sh/v3:Release") if r["inputs"]["name"].startswith("karpenter")]


# --- GPU software --------------------------------------------------------------------

def device_plugin(plan) -> dict:
    (release,) = [r for r in resources(plan, "kubernetes:helm.sh/v3:Release")
                  if r["inputs"]["name"] == "nvidia-device-plugin"]
    return release["inputs"]


@pytest.mark.parametrize("pool", PROD.node_pools, ids=lambda p: p.name)
def test_device_plugin_tolerates_and_selects_every_pool(plan, pool):
    values = device_plugin(plan)["values"]
    _labels, taints = recorded_nodes(plan, pool)
    assert all(tolerates(values["tolerations"], taint) for taint in taints)
    terms = values["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    (expression,) = terms[0]["matchExpressions"]
    assert expression["key"] == POOL_LABEL and pool.name in expression["values"]


def test_device_plugin_and_dcgm_exporter_versions_and_namespace(plan):
    plugin = device_plugin(plan)
    assert (plugin["version"], plugin["namespace"]) == (PROD.versions.nvidia_device_plugin, "kube-system")
    (dcgm,) = [r for r in resources(plan, "kubernetes:helm.sh/v3:Release") if r["inputs"]["name"] == "dcgm-exporter"]
    assert (dcgm["inputs"]["version"], dcgm["inputs"]["namespace"]) == (PROD.versions.dcgm_exporter, "kube-system")


def test_dcgm_exporter_metrics_service_contract(plan):
    (service,) = [r for r in resources(plan, "kubernetes:core/v1:Service")
                  if r["inputs"]["metadata"]["name"] == "dcgm-exporter"]
    metadata, spec = service["inputs"]["metadata"], service["inputs"]["spec"]
    assert metadata["namespace"] == "kube-system"
    assert metadata["labels"]["app.kubernetes.io/name"] == "dcgm-exporter"
    assert spec["ports"] == [{"name": "metrics", "port": 9400, "targetPort": 9400, "protocol": "TCP"}]
    assert spec["selector"]["app.kubernetes.io/name"] == "dcgm-exporter"


# --- workloads land ---------------------------------------------------------------

@pytest.mark.parametrize("endpoint", [e for e in PROD.endpoints if e.gpu], ids=lambda e: e.name)
def test_every_gpu_endpoint_fits_the_nodes_of_its_pool(plan, endpoint):
    pool = PROD.node_pool(endpoint.gpu.pool)
    scheduling = gpu_scheduling(endpoint.gpu.pool, endpoint.gpu.count)
    labels, taints = recorded_nodes(plan, pool)
    assert scheduling.node_selector.items() <= labels.items()
    assert all(tolerates(scheduling.tolerations, taint) for taint in taints)
    assert int(scheduling.limits[GPU_RESOURCE]) <= min(catalog().get(t).gpus for t in pool.instance_types)


# --- the cluster ------------------------------------------------------------------

def test_exactly_one_kubernetes_provider_serves_every_kubernetes_resource(plan):
    (provider,) = resources(plan, "pulumi:providers:kubernetes")
    for resource in plan["resources"]:
        if resource["type"].startswith("kubernetes:"):
            assert resource["provider"] == provider["urn"], resource["urn"]


def test_eks_cluster_is_private_encrypted_logged_and_pinned(plan):
    (cluster,) = resources(plan, "aws:eks/cluster:Cluster")
    inputs = cluster["inputs"]
    assert inputs["version"] == PROD.versions.kubernetes
    assert inputs["vpcConfig"]["endpointPrivateAccess"] is True
    assert inputs["vpcConfig"]["endpointPublicAccess"] is False
    (key,) = [r for r in descendants(plan, "stackyard:compute:Cluster") if r["type"] == "aws:kms/key:Key"]
    assert key["inputs"]["enableKeyRotation"] is True
    assert inputs["encryptionConfig"] == {"resources": ["secrets"], "provider": {
        "keyArn": f"arn:aws:kms:us-east-1:000000000000:key/{key['name']}"}}
    assert inputs["enabledClusterLogTypes"] == ["api", "audit", "authenticator", "controllerManager", "scheduler"]
    assert inputs["accessConfig"]["authenticationMode"] == "API"


def test_oidc_provider_trusts_the_cluster_issuer_for_sts(plan):
    (cluster,) = resources(plan, "aws:eks/cluster:Cluster")
    (oidc,) = resources(plan, "aws:iam/openIdConnectProvider:OpenIdConnectProvider")
    assert oidc["inputs"]["url"] == f"https://oidc.eks.mock.amazonaws.com/id/{cluster['name'].upper()}"
    assert oidc["inputs"]["clientIdLists"] == ["sts.amazonaws.com"]


def test_managed_add_ons_at_pinned_versions(plan):
    addons = {r["inputs"]["addonName"]: r["inputs"]["addonVersion"] for r in resources(plan, "aws:eks/addon:Addon")}
    assert addons == {"vpc-cni": PROD.versions.vpc_cni, "coredns": PROD.versions.coredns,
                      "kube-proxy": PROD.versions.kube_proxy, "aws-ebs-csi-driver": PROD.versions.aws_ebs_csi_driver}


def test_vpc_has_private_and_public_subnets_in_every_zone(plan):
    subnets = resources(plan, "aws:ec2/subnet:Subnet")
    zones = set(PROD.cluster.vpc.availability_zones)
    private = {s["inputs"]["availabilityZone"] for s in subnets if "kubernetes.io/role/internal-elb" in s["inputs"]["tags"]}
    public = {s["inputs"]["availabilityZone"] for s in subnets if "kubernetes.io/role/elb" in s["inputs"]["tags"]}
    assert private == public == zones and len(subnets) == 2 * len(zones)
    assert len(resources(plan, "aws:ec2/natGateway:NatGateway")) == len(zones)


def test_system_node_group_runs_the_non_gpu_workloads(plan):
    (system,) = [r for r in resources(plan, "aws:eks/nodeGroup:NodeGroup") if POOL_LABEL not in r["inputs"]["labels"]]
    spec = PROD.cluster.system_node_group
    assert system["inputs"]["instanceTypes"] == list(spec.instance_types)
    assert "taints" not in system["inputs"]
    assert system["inputs"]["scalingConfig"]["minSize"] == spec.min_size


# --- teams --------------------------------------------------------------------------

@pytest.mark.parametrize("team", PROD.teams, ids=lambda t: t.name)
def test_team_namespace_with_gpu_quota_and_limit_range(plan, team):
    (namespace,) = [r for r in resources(plan, "kubernetes:core/v1:Namespace") if r["inputs"]["metadata"]["name"] == team.name]
    assert namespace["inputs"]["metadata"]["labels"]["stackyard.dev/team"] == team.name
    (quota,) = [r for r in resources(plan, "kubernetes:core/v1:ResourceQuota")
                if r["inputs"]["metadata"]["namespace"] == team.name]
    assert quota["inputs"]["spec"] == {"hard": {"requests.nvidia.com/gpu": str(team.gpu_quota)}}
    assert [r for r in resources(plan, "kubernetes:core/v1:LimitRange") if r["inputs"]["metadata"]["namespace"] == team.name]


# --- the existing-cluster path and the summary --------------------------------------

def test_existing_cluster_is_reached_by_kubeconfig_with_no_cloud_resources():
    local = plan_for("local")
    (provider,) = resources(local, "pulumi:providers:kubernetes")
    assert provider["inputs"]["kubeconfig"] == "~/.kube/config"
    assert not [r for r in local["resources"] if r["type"].startswith("aws:")]


def test_plan_summary_shows_per_pool_and_total_gpu_cost():
    result = run_cli("plan", "prod")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    for pool in PROD.node_pools:
        assert any(line.startswith(pool.name) and line.rstrip().split()[-1].replace(".", "").isdigit()
                   for line in lines), pool.name
    assert any(line.startswith("total") and line.split()[-1] == "57.53" for line in lines)
