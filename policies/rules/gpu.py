"""GPU rules: GPUs land only where they should, pools are built so they can, nothing grows unbounded.

The taint and labels are the platform's contract (environments/gpu_scheduling.py
builds them; a test keeps the two in step): GPU pools carry the taint
`nvidia.com/gpu=true:NoSchedule` and the label `stackyard.dev/pool=<name>`.
"""

from __future__ import annotations

from typing import Optional, Sequence

from policies.rules.kube import (Container, PodTemplate, each_container, node_selections, pod_templates, quantity,
                                 tolerates)
from policies.rules.model import (STACK_SCOPE, Context, Frameworks, Resource, Rule, as_list, as_map, dig)

GPU_RESOURCE = "nvidia.com/gpu"
GPU_TAINT_KEY = "nvidia.com/gpu"
GPU_TAINT_VALUE = "true"
GPU_TAINT_EFFECT = "NoSchedule"
POOL_LABEL = "stackyard.dev/pool"
GPU_PRESENT_LABEL = "nvidia.com/gpu.present"
# Labels that name the accelerator model on a node; schedulers and dashboards group by them.
ACCELERATOR_LABELS = ("k8s.amazonaws.com/accelerator", "nvidia.com/gpu.product", "stackyard.dev/accelerator",
                      "karpenter.k8s.aws/instance-gpu-name")
# EC2 instance families with NVIDIA GPUs.
NVIDIA_GPU_FAMILIES = frozenset({
    "g3", "g3s", "g4dn", "g5", "g5g", "g6", "g6e", "g6f", "gr6", "gr6f", "p2", "p3", "p3dn", "p4d", "p4de",
    "p5", "p5e", "p5en", "p6-b200", "p6e-gb200"})
# What the EKS API calls NoSchedule.
_EKS_EFFECT = {"NoSchedule": "NO_SCHEDULE", "NoExecute": "NO_EXECUTE", "PreferNoSchedule": "PREFER_NO_SCHEDULE"}
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
_GPU_REQUIREMENT_KEYS = ("karpenter.k8s.aws/instance-gpu-count", "karpenter.k8s.aws/instance-gpu-name",
                         "karpenter.k8s.aws/instance-gpu-manufacturer", "karpenter.k8s.aws/instance-gpu-memory")


def is_gpu_instance_type(instance_type: str) -> bool:
    return instance_type.split(".", 1)[0] in NVIDIA_GPU_FAMILIES


def _container_gpus(container: Container, kind: str) -> Optional[float]:
    return quantity(container.resources(kind).get(GPU_RESOURCE))


def uses_gpu(template: PodTemplate) -> bool:
    return any(container.resources(kind).get(GPU_RESOURCE) is not None
               for container in template.containers for kind in ("limits", "requests"))


def gpus_per_pod(template: PodTemplate) -> float:
    """GPUs one pod holds: app containers together, or the largest init container if that is more."""
    app = sum(_container_gpus(c, "limits") or 0 for c in template.app_containers)
    init = max((_container_gpus(c, "limits") or 0 for c in template.containers if c.is_init), default=0)
    return max(app, init)


def tolerates_gpu_taint(template: PodTemplate) -> list[dict]:
    """The tolerations of the pod that let it onto GPU nodes."""
    return [dict(as_map(t)) for t in as_list(template.spec.get("tolerations"))
            if tolerates(as_map(t), GPU_TAINT_KEY, GPU_TAINT_VALUE, GPU_TAINT_EFFECT)]


def _is_karpenter(resource: Resource, kind: str) -> bool:
    api = str(resource.inputs.get("apiVersion") or "")
    return resource.is_kubernetes_object and resource.kind == kind and api.startswith("karpenter.")


def _requirements(pool: Resource) -> list[dict]:
    return [dict(as_map(r)) for r in as_list(dig(pool.inputs, "spec", "template", "spec", "requirements"))]


def is_gpu_node_group(resource: Resource) -> bool:
    if resource.type != NODE_GROUP:
        return False
    inputs = resource.inputs
    ami_type = str(inputs.get("amiType") or "")
    return ("NVIDIA" in ami_type or "GPU" in ami_type
            or any(is_gpu_instance_type(str(t)) for t in as_list(inputs.get("instanceTypes")))
            or str(as_map(inputs.get("labels")).get(GPU_PRESENT_LABEL)) == "true"
            or any(as_map(t).get("key") == GPU_TAINT_KEY for t in as_list(inputs.get("taints"))))


def is_karpenter_gpu_pool(resource: Resource) -> bool:
    if not _is_karpenter(resource, "NodePool"):
        return False
    template = as_map(dig(resource.inputs, "spec", "template"))
    for requirement in _requirements(resource):
        key, values = requirement.get("key"), [str(v) for v in as_list(requirement.get("values"))]
        if key in _GPU_REQUIREMENT_KEYS:
            return True
        if key == "karpenter.k8s.aws/instance-family" and any(v in NVIDIA_GPU_FAMILIES for v in values):
            return True
        if key == "node.kubernetes.io/instance-type" and any(is_gpu_instance_type(v) for v in values):
            return True
    return (GPU_RESOURCE in as_map(dig(resource.inputs, "spec", "limits"))
            or str(as_map(dig(template, "metadata", "labels")).get(GPU_PRESENT_LABEL)) == "true"
            or any(as_map(t).get("key") == GPU_TAINT_KEY for t in as_list(dig(template, "spec", "taints"))))


# --- the rules -----------------------------------------------------------------

def gpu_requested_in_limits(resource: Resource, context: Context) -> Optional[list[str]]:
    templates = [t for t in pod_templates(resource) if uses_gpu(t)]
    if not templates:
        return None
    problems = []
    for template, container in each_container(templates):
        limit = container.resources("limits").get(GPU_RESOURCE)
        request = container.resources("requests").get(GPU_RESOURCE)
        if request is not None and limit is None:
            problems.append(f"{template.where(container)} requests {GPU_RESOURCE}={request} without a limit; "
                            "the device plugin allocates GPUs from limits")
        elif request is not None and quantity(request) != quantity(limit):
            problems.append(f"{template.where(container)} requests {GPU_RESOURCE}={request} but limits it "
                            f"to {limit}; GPU requests must equal limits")
        if limit is not None and not (quantity(limit) or 0) > 0:
            problems.append(f"{template.where(container)} limits {GPU_RESOURCE} to {limit!r}; "
                            "expected a positive whole number")
    return problems


def gpu_pods_target_gpu_pools(resource: Resource, context: Context) -> Optional[list[str]]:
    templates = [t for t in pod_templates(resource) if uses_gpu(t)]
    if not templates:
        return None
    problems = []
    for template in templates:
        if not tolerates_gpu_taint(template):
            problems.append(f"{template.where()} uses GPUs but does not tolerate the GPU taint "
                            f"{GPU_TAINT_KEY}={GPU_TAINT_VALUE}:{GPU_TAINT_EFFECT}; it can never schedule")
        pools = node_selections(template.spec, POOL_LABEL)
        if not pools:
            problems.append(f"{template.where()} uses GPUs but selects no GPU pool "
                            f"(nodeSelector {POOL_LABEL}: <pool>)")
        elif context.gpu_pools:
            unknown = [p for p in pools if p not in context.gpu_pools]
            if unknown:
                problems.append(f"{template.where()} selects {POOL_LABEL}={', '.join(unknown)}, which is not a GPU "
                                f"pool of this environment (pools: {', '.join(context.gpu_pools)})")
    return problems


def non_gpu_pods_avoid_gpu_nodes(resource: Resource, context: Context) -> Optional[list[str]]:
    templates = [t for t in pod_templates(resource) if not uses_gpu(t)]
    if not templates:
        return None
    # DaemonSets are node agents (log shippers, exporters, the device plugin itself)
    # and belong on every node, GPU nodes included; so do the system namespaces.
    if resource.kind == "DaemonSet" or resource.namespace in context.system_namespaces:
        return []
    problems = []
    for template in templates:
        for toleration in tolerates_gpu_taint(template):
            what = "tolerates every taint" if not toleration.get("key") else "tolerates the GPU taint"
            problems.append(f"{template.where()} uses no GPU but {what} ({toleration}); "
                            "it can take a GPU node away from GPU work")
    return problems


def _taint_present(taints: list, effect: str) -> bool:
    return any(as_map(t).get("key") == GPU_TAINT_KEY and str(as_map(t).get("value")) == GPU_TAINT_VALUE
               and as_map(t).get("effect") == effect for t in taints)


def _label_problems(labels: dict, requirement_keys: set) -> list[str]:
    problems = []
    if not labels.get(POOL_LABEL):
        problems.append(f"has no {POOL_LABEL} label, so GPU workloads cannot select it")
    if not any(labels.get(key) or key in requirement_keys for key in ACCELERATOR_LABELS):
        problems.append(f"has no accelerator label (one of {', '.join(ACCELERATOR_LABELS)})")
    return problems


def gpu_pools_tainted_and_labelled(resource: Resource, context: Context) -> Optional[list[str]]:
    taint = f"{GPU_TAINT_KEY}={GPU_TAINT_VALUE}:{GPU_TAINT_EFFECT}"
    if is_gpu_node_group(resource):
        problems = []
        if not _taint_present(as_list(resource.inputs.get("taints")), _EKS_EFFECT[GPU_TAINT_EFFECT]):
            problems.append(f"GPU node group lacks the taint {taint}; any pod can land on its GPU nodes")
        labels = {str(k): str(v) for k, v in as_map(resource.inputs.get("labels")).items()}
        return problems + [f"GPU node group {p}" for p in _label_problems(labels, set())]
    if is_karpenter_gpu_pool(resource):
        template = as_map(dig(resource.inputs, "spec", "template"))
        problems = []
        if not _taint_present(as_list(dig(template, "spec", "taints")), GPU_TAINT_EFFECT):
            problems.append(f"Karpenter GPU pool lacks the taint {taint}; any pod can land on its GPU nodes")
        labels = {str(k): str(v) for k, v in as_map(dig(template, "metadata", "labels")).items()}
        requirement_keys = {str(r.get("key")) for r in _requirements(resource)
                            if r.get("operator") == "In" and as_list(r.get("values"))}
        return problems + [f"Karpenter GPU pool {p}" for p in _label_problems(labels, requirement_keys)]
    return None


def gpus_per_pod_bounded(resource: Resource, context: Context) -> Optional[list[str]]:
    templates = [t for t in pod_templates(resource) if uses_gpu(t)]
    if not templates:
        return None
    problems = []
    for template in templates:
        count = gpus_per_pod(template)
        if count > context.max_gpus_per_pod:
            problems.append(f"{template.where()} asks for {count:g} GPUs per pod; this environment allows at most "
                            f"{context.max_gpus_per_pod} (policy.maxGpusPerPod)")
    return problems


def _unpinned_image_id(image_id: str) -> bool:
    lowered = image_id.lower()
    return lowered.startswith("resolve:ssm:") and ("recommended" in lowered or "latest" in lowered)


def _ami_selector_problems(node_class: Resource) -> list[str]:
    terms = as_list(dig(node_class.inputs, "spec", "amiSelectorTerms"))
    if not terms:
        return ["EC2NodeClass has no amiSelectorTerms; the AMI is whatever Karpenter resolves"]
    problems = []
    for term in terms:
        term = as_map(term)
        alias, ssm, name = term.get("alias"), term.get("ssmParameter"), term.get("name")
        if isinstance(alias, str) and (alias.endswith("@latest") or "@" not in alias):
            problems.append(f"EC2NodeClass selects AMI alias {alias!r}; pin a release (e.g. al2023@v20250519)")
        elif isinstance(ssm, str) and ("latest" in ssm or "recommended" in ssm):
            problems.append(f"EC2NodeClass resolves its AMI from SSM parameter {ssm!r}, which moves with every release")
        elif isinstance(name, str) and "*" in name:
            problems.append(f"EC2NodeClass selects AMIs by the pattern {name!r}; the newest match wins")
        elif not (term.get("id") or alias or ssm or name):
            problems.append(f"EC2NodeClass selects AMIs by {sorted(term)} only; the newest match wins")
    return problems


def _launch_template_of(group: Resource, resources: Sequence[Resource]) -> Optional[Resource]:
    reference = as_map(group.inputs.get("launchTemplate"))
    if not reference:
        return None
    for candidate in resources:
        if candidate.type != LAUNCH_TEMPLATE:
            continue
        if candidate.urn in group.dependencies or reference.get("name") in (candidate.inputs.get("name"),):
            return candidate
    return None


def gpu_amis_pinned(resources: Sequence[Resource], context: Context) -> dict[str, list[str]]:
    results: dict[str, list[str]] = {}
    for resource in resources:
        if is_gpu_node_group(resource):
            problems = []
            template = _launch_template_of(resource, resources)
            image_id = str((template.inputs if template else {}).get("imageId") or "")
            release = str(resource.inputs.get("releaseVersion") or "")
            if image_id:
                if _unpinned_image_id(image_id):
                    problems.append(f"GPU node group's launch template resolves its AMI from {image_id!r}, "
                                    "which moves with every release; pin an AMI id")
            elif not release:
                problems.append("GPU node group sets no releaseVersion; EKS uses the latest GPU AMI release at "
                                "creation and on every update")
            elif release.lower() == "latest":
                problems.append("GPU node group pins releaseVersion 'latest'; name a release such as "
                                "1.33.0-20250519")
            results[resource.urn] = problems
        elif _is_karpenter(resource, "EC2NodeClass"):
            results[resource.urn] = _ami_selector_problems(resource)
    return results


def karpenter_gpu_pools_limited(resource: Resource, context: Context) -> Optional[list[str]]:
    if not is_karpenter_gpu_pool(resource):
        return None
    limit = as_map(dig(resource.inputs, "spec", "limits")).get(GPU_RESOURCE)
    if limit is None:
        return [f"Karpenter GPU pool has no spec.limits[{GPU_RESOURCE!r}]; it can launch GPU nodes without bound"]
    if not (quantity(limit) or 0) > 0:
        return [f"Karpenter GPU pool limits {GPU_RESOURCE} to {limit!r}; expected a positive number"]
    return []


RULES = (
    Rule("SY-GPU-001", "GPUs are requested in limits only (requests, if set, equal limits)", "high", "mandatory",
         "The NVIDIA device plugin allocates whole GPUs from limits; a request without a limit, or a request "
         "different from the limit, is rejected or leaves the pod unschedulable.",
         f"Set resources.limits[{GPU_RESOURCE}] to the GPU count and drop the request (or make it equal).",
         Frameworks(nist_ai_rmf=("MANAGE",)), gpu_requested_in_limits),
    Rule("SY-GPU-002", "GPU pods tolerate the GPU taint and select a GPU pool", "high", "mandatory",
         "GPU pools are tainted; a GPU pod without the toleration never schedules, and one without a pool "
         "selector lands on whichever GPU pool has room (wrong accelerator, wrong cost).",
         "Build the pod's scheduling with environments.gpu_scheduling.gpu_scheduling(pool, count): it adds the "
         "limit, the toleration and the pool's nodeSelector together.",
         Frameworks(nist_ai_rmf=("MANAGE",)), gpu_pods_target_gpu_pools),
    Rule("SY-GPU-003", "Pods without GPUs do not tolerate the GPU taint", "medium", "mandatory",
         "A CPU pod that tolerates the GPU taint can be packed onto a GPU node and keep it (and its price) "
         "alive, or take the room a GPU job needs.",
         "Remove the nvidia.com/gpu toleration (and any wildcard toleration) from pods that use no GPU; "
         "node agents belong in DaemonSets or the system namespaces.",
         Frameworks(nist_ai_rmf=("MANAGE",)), non_gpu_pods_avoid_gpu_nodes),
    Rule("SY-GPU-004", "GPU pools carry the GPU taint, the pool label and an accelerator label", "high", "mandatory",
         "Without the taint every workload can land on GPU nodes; without the labels GPU workloads cannot "
         "select the pool and accelerator they were sized for.",
         f"Give the pool the taint {GPU_TAINT_KEY}={GPU_TAINT_VALUE}:{GPU_TAINT_EFFECT}, the label {POOL_LABEL} "
         f"and one of {', '.join(ACCELERATOR_LABELS)}.",
         Frameworks(nist_ai_rmf=("MANAGE",)), gpu_pools_tainted_and_labelled),
    Rule("SY-GPU-005", "A pod asks for at most the environment's maximum number of GPUs", "medium", "mandatory",
         "A pod asking for more GPUs than any node offers never schedules; one asking for a whole large "
         "node is a cost decision that should be made explicitly.",
         "Lower the GPU limit, split the work, or raise policy.maxGpusPerPod for the environment.",
         Frameworks(nist_ai_rmf=("MANAGE",)), gpus_per_pod_bounded),
    Rule("SY-GPU-006", "GPU node AMIs are pinned, never 'latest'", "high", "mandatory",
         "GPU drivers ship in the AMI; an unpinned AMI changes the driver and CUDA version under running "
         "workloads on the next scale-up or update.",
         "Set the node group's releaseVersion (or a launch template imageId ami-...) and pin Karpenter "
         "amiSelectorTerms to an alias with a version or an AMI id.",
         Frameworks(nist_ai_rmf=("MANAGE",)), gpu_amis_pinned, STACK_SCOPE),
    Rule("SY-GPU-007", "Karpenter GPU pools have a GPU limit", "high", "mandatory",
         "Karpenter launches nodes for every pending pod; without spec.limits a runaway job or a bad "
         "autoscaler target can launch GPU nodes without bound.",
         f"Set spec.limits[{GPU_RESOURCE!r}] on the NodePool (nodePools[].gpuLimit in the spec).",
         Frameworks(nist_ai_rmf=("MANAGE",)), karpenter_gpu_pools_limited),
)
