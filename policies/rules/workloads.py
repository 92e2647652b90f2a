"""Workload rules: resources, images, pod security, probes, ownership labels, secrets.

They read every pod template kube.pod_templates finds (the core workload kinds,
PodTemplates, CronJobs, the components of KServe InferenceServices and the ML
workload kinds: Argo workflows, Kubeflow training jobs, KubeRay) through one
loop, kube.each_container; the image rules also read the containers of
(Cluster)ServingRuntimes, which supply the model server images.
"""

from __future__ import annotations

import re
from typing import Any, Mapping, Optional

from policies.rules.kube import (SERVICE_KINDS, Container, PodTemplate, containers_of, each_container,
                                 env_literals, image_allowed, image_containers, parse_image, pod_templates)
from policies.rules.model import SECRET, Context, Frameworks, Resource, Rule, as_list, as_map, dig

# The ownership labels every workload carries (components/ownership.py writes them).
OWNERSHIP_LABELS = ("owner", "team", "cost-center", "environment")
OWNERSHIP_PREFIX = "stackyard.dev/"
_SECRET_NAME = re.compile(r"(PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY|CREDENTIAL|"
                          r"AUTH|DSN|CONNECTION_?STRING)", re.IGNORECASE)
_SECRET_VALUE = re.compile(r"(AKIA[0-9A-Z]{16}|-----BEGIN [A-Z ]*PRIVATE KEY-----|gh[pousr]_[A-Za-z0-9]{30,}|"
                           r"xox[abposr]-[A-Za-z0-9-]{10,}|sk_live_[A-Za-z0-9]{16,}|://[^/\s:@]+:[^/\s@]+@)")
# Literal values that a secret-sounding variable may hold without holding a secret: flags and file paths.
_NOT_A_SECRET = re.compile(r"(true|false|yes|no|on|off|[01]|/[^\s]*)", re.IGNORECASE)
_ALLOWED_ADDED_CAPABILITIES = {"NET_BIND_SERVICE"}
_SAFE_SECCOMP = ("RuntimeDefault", "Localhost")


def _effective(template: PodTemplate, container_context: Mapping[str, Any], key: str) -> Any:
    """A security setting as the kubelet applies it: the container's, else the pod's."""
    if key in container_context:
        return container_context[key]
    return template.security_context.get(key)


def resource_requests_set(resource: Resource, context: Context) -> Optional[list[str]]:
    templates = pod_templates(resource)
    if not templates:
        return None
    problems = []
    for template, container in each_container(templates, ephemeral=False):
        missing = [r for r in ("cpu", "memory") if container.requests().get(r) in (None, "")]
        if missing:
            problems.append(f"{template.where(container)} sets no {' or '.join(missing)} request; the "
                            "scheduler cannot place it by size and it is first to be evicted")
    return problems


def memory_limits_set(resource: Resource, context: Context) -> Optional[list[str]]:
    templates = pod_templates(resource)
    if not templates:
        return None
    return [f"{template.where(container)} sets no memory limit; one leak can take the node's memory from "
            "every other pod on it"
            for template, container in each_container(templates, ephemeral=False)
            if container.resources("limits").get("memory") in (None, "")]


def image_tag_pinned(resource: Resource, context: Context) -> Optional[list[str]]:
    images = image_containers(resource)
    if not images:
        return None
    problems = []
    for place, container in images:
        ref = parse_image(container.image)
        if ref.digest:
            continue
        if not ref.tag:
            problems.append(f"{place} image {container.image!r} has no tag, so it pulls ':latest'")
        elif ref.tag == "latest":
            problems.append(f"{place} image {container.image!r} uses the moving tag ':latest'")
    return problems


def image_digest_pinned_in_production(resource: Resource, context: Context) -> Optional[list[str]]:
    if not context.production:
        return None
    images = image_containers(resource)
    if not images:
        return None
    return [f"{place} image {container.image!r} is not pinned by digest (@sha256:...); a tag can be re-pushed"
            for place, container in images if not parse_image(container.image).digest.startswith("sha256:")]


def image_registry_allowed(resource: Resource, context: Context) -> Optional[list[str]]:
    if not context.allowed_registries:
        return None
    images = image_containers(resource)
    if not images:
        return None
    return [f"{place} image {container.image!r} is not from an allowed registry "
            f"({', '.join(context.allowed_registries)})"
            for place, container in images if not image_allowed(container.image, context.allowed_registries)]


def run_as_non_root(resource: Resource, context: Context) -> Optional[list[str]]:
    templates = pod_templates(resource)
    if not templates:
        return None
    problems = []
    for template, container in each_container(templates):
        settings = container.security_context
        if _effective(template, settings, "runAsNonRoot") is not True:
            problems.append(f"{template.where(container)} does not set runAsNonRoot: true "
                            "(in its or the pod's securityContext)")
        if _effective(template, settings, "runAsUser") == 0:
            problems.append(f"{template.where(container)} runs as user 0 (root)")
    return problems


def no_privileged_containers(resource: Resource, context: Context) -> Optional[list[str]]:
    templates = pod_templates(resource)
    if not templates:
        return None
    return [f"{template.where(container)} is privileged: it has every capability and all host devices"
            for template, container in each_container(templates)
            if container.security_context.get("privileged") is True]


def no_privilege_escalation(resource: Resource, context: Context) -> Optional[list[str]]:
    templates = pod_templates(resource)
    if not templates:
        return None
    return [f"{template.where(container)} does not set allowPrivilegeEscalation: false"
            for template, container in each_container(templates)
            if container.security_context.get("allowPrivilegeEscalation") is not False]


def capabilities_dropped(resource: Resource, context: Context) -> Optional[list[str]]:
    templates = pod_templates(resource)
    if not templates:
        return None
    problems = []
    for template, container in each_container(templates):
        capabilities = as_map(container.security_context.get("capabilities"))
        if "ALL" not in [str(c).upper() for c in as_list(capabilities.get("drop"))]:
            problems.append(f"{template.where(container)} does not drop ALL capabilities")
        added = [str(c) for c in as_list(capabilities.get("add"))
                 if str(c).upper().removeprefix("CAP_") not in _ALLOWED_ADDED_CAPABILITIES]
        if added:
            problems.append(f"{template.where(container)} adds capabilities {', '.join(added)} "
                            "(only NET_BIND_SERVICE may be added)")
    return problems


def no_host_access_outside_system_namespaces(resource: Resource, context: Context) -> Optional[list[str]]:
    templates = pod_templates(resource)
    if not templates:
        return None
    if resource.namespace in context.system_namespaces:
        return []
    problems = []
    for template in templates:
        for field in ("hostNetwork", "hostPID", "hostIPC"):
            if template.spec.get(field) is True:
                problems.append(f"{template.where()} sets {field}: true outside the system namespaces "
                                f"({', '.join(context.system_namespaces)})")
        for volume in as_list(template.spec.get("volumes")):
            volume = as_map(volume)
            if "hostPath" in volume:
                path = dig(volume, "hostPath", "path")
                problems.append(f"{template.where()} mounts hostPath {path!r} (volume {volume.get('name')!r}) "
                                "outside the system namespaces")
    return problems


def seccomp_runtime_default(resource: Resource, context: Context) -> Optional[list[str]]:
    templates = pod_templates(resource)
    if not templates:
        return None
    problems = []
    for template, container in each_container(templates):
        kind = as_map(_effective(template, container.security_context, "seccompProfile")).get("type")
        if kind not in _SAFE_SECCOMP:
            found = f"seccompProfile {kind}" if kind else "no seccompProfile"
            problems.append(f"{template.where(container)} runs with {found}; expected RuntimeDefault")
    return problems


def _serves_traffic(container: Container) -> bool:
    """A container with a port other than a metrics port takes requests through a Service."""
    return any("metrics" not in str(as_map(port).get("name") or "").lower()
               for port in as_list(container.spec.get("ports")))


def serving_containers(resource: Resource) -> Optional[list[tuple[PodTemplate, Container]]]:
    """The containers that take requests: every app container of an InferenceService, the app containers
    with a non-metrics port of the long-running kinds; None when the resource has none."""
    templates = pod_templates(resource)
    if resource.kind == "InferenceService":
        found = [(t, c) for t, c in each_container(templates, ephemeral=False) if not c.is_init]
    elif resource.kind in SERVICE_KINDS:
        found = [(t, c) for t, c in each_container(templates, ephemeral=False) if not c.is_init and _serves_traffic(c)]
    else:
        return None
    return found or None


def serving_without_probe(resource: Resource, probe: str, consequence: str) -> Optional[list[str]]:
    """One problem per container that serves traffic without `probe` (None: nothing here serves)."""
    serving = serving_containers(resource)
    if serving is None:
        return None
    return [f"{template.where(container)} serves traffic without a {probe}; {consequence}"
            for template, container in serving if not as_map(container.spec.get(probe))]


def serving_pods_have_readiness_probes(resource: Resource, context: Context) -> Optional[list[str]]:
    return serving_without_probe(resource, "readinessProbe", "it receives requests before the model is loaded")


def ownership_labels_present(resource: Resource, context: Context) -> Optional[list[str]]:
    if not pod_templates(resource):
        return None
    labels = resource.labels
    missing = [key for key in OWNERSHIP_LABELS
               if not (labels.get(OWNERSHIP_PREFIX + key) or labels.get(key))]
    if not missing:
        return []
    return [f"{resource.kind} {resource.object_name!r} lacks the label(s) "
            f"{', '.join(OWNERSHIP_PREFIX + key for key in missing)}"]


def no_secrets_in_env(resource: Resource, context: Context) -> Optional[list[str]]:
    containers = containers_of(resource)
    if not containers:
        return None
    problems = []
    for place, container in containers:
        for name, value in env_literals(container):
            text = str(value)
            if text == SECRET or _SECRET_VALUE.search(text):
                problems.append(f"{place} has a secret in plain environment variable {name!r}")
            elif _SECRET_NAME.search(name) and not _NOT_A_SECRET.fullmatch(text):
                problems.append(f"{place} sets {name!r} as a literal value; take it from a Secret "
                                "(valueFrom.secretKeyRef) or a mounted file")
    return problems


RULES = (
    Rule("SY-WKL-001", "Containers request CPU and memory", "medium", "mandatory",
         "Without requests the scheduler packs pods blindly and the kubelet evicts them first under pressure; "
         "cost reports cannot attribute capacity.",
         "Set resources.requests.cpu and resources.requests.memory on every container (endpoints: "
         "endpoints[].resources.requests).",
         Frameworks(nist_ai_rmf=("MANAGE",)), resource_requests_set),
    Rule("SY-WKL-002", "Containers set a memory limit", "medium", "mandatory",
         "A container without a memory limit can exhaust its node and have the kernel kill its neighbours; "
         "model servers that load a new model are the usual case.",
         "Set resources.limits.memory on every container.",
         Frameworks(nist_ai_rmf=("MANAGE",)), memory_limits_set),
    Rule("SY-WKL-003", "Images name a tag other than 'latest'", "high", "mandatory",
         "An untagged or ':latest' image changes on the next pull: two replicas of one Deployment can run "
         "different code and a rollback restores nothing.",
         "Reference images by a release tag (or better, a digest).",
         Frameworks(nist_ai_rmf=("MANAGE",)), image_tag_pinned),
    # Advisory by default: pinning needs the digests, which a plan cannot look up without registry
    # access. Make it mandatory (policy.rules) once image references carry their digests.
    Rule("SY-WKL-004", "Production images are pinned by digest", "medium", "advisory",
         "A tag can be re-pushed; only a digest proves that production runs the image that was tested.",
         "Reference images as registry/repository:tag@sha256:<digest> in production (e.g. in "
         "serving.runtimes[].image), then set policy.rules.SY-WKL-004: mandatory.",
         Frameworks(("5.1.1",), None, ("MEASURE 2.7",)), image_digest_pinned_in_production),
    Rule("SY-WKL-005", "Images come only from allowed registries", "high", "mandatory",
         "Images from unvetted registries bypass scanning and provenance checks.",
         "Mirror the image into an allowed registry or add the registry to policy.allowedRegistries after "
         "review.",
         Frameworks(("5.1.4",), None, ("MEASURE 2.7",)), image_registry_allowed),
    Rule("SY-WKL-006", "Containers run as non-root", "high", "mandatory",
         "A root process that escapes its container is root on the node.",
         "Set securityContext.runAsNonRoot: true (pod or container) and a non-zero runAsUser.",
         Frameworks(("4.5.2",), "restricted: Running as Non-root, Running as Non-root user", ("MEASURE 2.7",),
                    ("5.2.7",), ("4.4.3",)), run_as_non_root),
    Rule("SY-WKL-007", "No privileged containers", "critical", "mandatory",
         "A privileged container has all capabilities and the host's devices: it is the node.",
         "Remove securityContext.privileged; grant the one capability needed instead, if any.",
         Frameworks(("4.2.1",), "baseline: Privileged Containers", ("MEASURE 2.7",), ("5.2.2",), ("4.4.3",)),
         no_privileged_containers),
    Rule("SY-WKL-008", "Containers forbid privilege escalation", "high", "mandatory",
         "setuid binaries and file capabilities let a process gain privileges its container did not grant.",
         "Set securityContext.allowPrivilegeEscalation: false on every container.",
         Frameworks(("4.2.5",), "restricted: Privilege Escalation", ("MEASURE 2.7",), ("5.2.6",),
                    ("4.4.3",)), no_privilege_escalation),
    Rule("SY-WKL-009", "Containers drop ALL capabilities", "medium", "mandatory",
         "Default capabilities (NET_RAW, CHOWN, ...) are rarely needed and widen every exploit.",
         "Set securityContext.capabilities.drop: [ALL]; add back only NET_BIND_SERVICE if needed.",
         Frameworks(("4.5.2",), "restricted: Capabilities", ("MEASURE 2.7",), ("5.2.8", "5.2.9", "5.2.10"),
                    ("4.4.3",)), capabilities_dropped),
    Rule("SY-WKL-010", "No host namespaces or hostPath outside the system namespaces", "critical", "mandatory",
         "Host network, PID or IPC namespaces and hostPath volumes reach the node itself; only platform "
         "agents in the system namespaces may need them.",
         "Remove hostNetwork/hostPID/hostIPC and hostPath volumes, or run the agent in a system namespace "
         "(cluster.systemNamespaces).",
         Frameworks(("4.2.2", "4.2.3", "4.2.4"), "baseline: Host Namespaces, HostPath Volumes", ("MEASURE 2.7",),
                    ("5.2.3", "5.2.4", "5.2.5", "5.2.12"), ("4.4.3",)),
         no_host_access_outside_system_namespaces),
    Rule("SY-WKL-011", "Containers run with the RuntimeDefault seccomp profile", "medium", "mandatory",
         "Unconfined containers can call every syscall, including the ones most kernel exploits need.",
         "Set securityContext.seccompProfile.type: RuntimeDefault on the pod.",
         Frameworks(("4.5.2",), "restricted: Seccomp", ("MEASURE 2.7",), ("5.7.2",), ("4.4.3",)),
         seccomp_runtime_default),
    Rule("SY-WKL-012", "Serving pods have readiness probes", "medium", "mandatory",
         "Without a readiness probe a model server receives traffic while it is still loading its model, "
         "and a rollout counts a broken pod as ready.",
         "Give every serving container (InferenceService model, containers with ports) a readinessProbe.",
         Frameworks(nist_ai_rmf=("MEASURE 2.4",)), serving_pods_have_readiness_probes),
    Rule("SY-WKL-013", "Workloads carry owner, team, cost-center and environment labels", "low", "mandatory",
         "Cost allocation, incident routing and audits start from who owns a workload.",
         "Label the workload with stackyard.dev/owner, stackyard.dev/team, stackyard.dev/cost-center and "
         "stackyard.dev/environment (components/ownership.py does this for platform objects).",
         Frameworks(nist_ai_rmf=("GOVERN 2.1",)), ownership_labels_present),
    Rule("SY-WKL-014", "No secrets in plain environment variables", "high", "mandatory",
         "Literal environment values are stored in the object, shown by kubectl describe and copied into "
         "every manifest and plan.",
         "Reference a Secret (env[].valueFrom.secretKeyRef) or mount it as a file; keep the value out of "
         "the spec.",
         Frameworks(("4.4.1",), None, ("MEASURE 2.7",)), no_secrets_in_env),
)
