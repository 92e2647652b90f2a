"""Pod Security Standards controls beyond the core workload rules, and the hardening PSS leaves out.

The definitions are those of the Kubernetes Pod Security Standards at the
version the environments pin (cluster.kubernetes / versions.kubernetes: 1.33,
https://kubernetes.io/docs/concepts/security/pod-security-standards/): the
restricted fields and allowed values of each control are the tables below.
With workloads.py (privileged, host namespaces and hostPath, capabilities,
privilege escalation, non-root, seccomp) they cover every baseline and
restricted control; tests/test_pod_security_standards.py checks that against
the PSS control list and against Kyverno's pod-security test resources.

Every rule reads pods through kube.pod_templates / kube.each_container, so the
same kinds are covered as everywhere else.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Mapping, Optional, Sequence

from policies.rules.kube import PodTemplate, each_container, pod_templates
from policies.rules.model import (STACK_SCOPE, Context, Frameworks, Resource, ResourceCheck, Rule, as_list,
                                  as_map, dig)
from policies.rules.workloads import serving_without_probe

# baseline: Sysctls, the safe set (Kubernetes 1.29+ adds the tcp_keepalive/fin_timeout ones).
SAFE_SYSCTLS = frozenset({
    "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes"})
# baseline: SELinux, the allowed types (container_engine_t since 1.31); user and role must stay unset.
SELINUX_TYPES = frozenset({"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"})
# baseline: AppArmor: the profile types and the (deprecated) annotation values allowed.
APPARMOR_TYPES = frozenset({"RuntimeDefault", "Localhost"})
APPARMOR_ANNOTATION_PREFIX = "container.apparmor.security.beta.kubernetes.io/"
# restricted: Volume Types: every volume must be one of these.
RESTRICTED_VOLUME_TYPES = frozenset({"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral",
                                     "persistentVolumeClaim", "projected", "secret"})
_VOLUME_FIELDS_NOT_SOURCES = frozenset({"name"})
# The subjects RBAC grants to: a pod talks to the API server when its service account is one of them.
BINDING_KINDS = ("RoleBinding", "ClusterRoleBinding")

_PSS_NIST = ("4.4.3",)  # NIST SP 800-190 4.4.3: insecure container runtime configurations


def _over_pod_templates(problems_in: Callable[[list[PodTemplate]], list[str]]) -> ResourceCheck:
    """The rule check of a pod control: problems_in(the resource's pod templates), or None for a resource
    that runs no pods (the control does not apply to it)."""
    @functools.wraps(problems_in)
    def check(resource: Resource, context: Context) -> Optional[list[str]]:
        templates = pod_templates(resource)
        return problems_in(templates) if templates else None
    return check


def _pod_and_container_contexts(template: PodTemplate) -> list[tuple[str, Mapping[str, Any]]]:
    """(place, securityContext) of the pod and of each of its containers."""
    return [(template.where(), template.security_context)] + [
        (template.where(container), container.security_context) for _t, container in each_container([template])]


@_over_pod_templates
def no_host_ports(templates: list[PodTemplate]) -> list[str]:
    return [f"{template.where(container)} binds hostPort {port.get('hostPort')} on the node"
            for template, container in each_container(templates)
            for port in map(as_map, as_list(container.spec.get("ports"))) if port.get("hostPort") not in (None, 0)]


@_over_pod_templates
def only_safe_sysctls(templates: list[PodTemplate]) -> list[str]:
    return [f"{template.where()} sets the sysctl {name!r}, which is not in the safe set"
            for template in templates for name in (as_map(item).get("name") for item in
                                                   as_list(template.security_context.get("sysctls")))
            if name not in SAFE_SYSCTLS]


@_over_pod_templates
def default_proc_mount(templates: list[PodTemplate]) -> list[str]:
    return [f"{template.where(container)} sets procMount {container.security_context['procMount']!r}; "
            "only Default masks the host's /proc paths"
            for template, container in each_container(templates)
            if container.security_context.get("procMount") not in (None, "Default")]


@_over_pod_templates
def selinux_options_restricted(templates: list[PodTemplate]) -> list[str]:
    problems = []
    for template in templates:
        for place, security in _pod_and_container_contexts(template):
            options = as_map(security.get("seLinuxOptions"))
            if str(options.get("type") or "") not in SELINUX_TYPES:
                problems.append(f"{place} sets the SELinux type {options['type']!r}")
            for key in ("user", "role"):
                if options.get(key):
                    problems.append(f"{place} sets the SELinux {key} {options[key]!r}; it must stay unset")
    return problems


@_over_pod_templates
def apparmor_not_unconfined(templates: list[PodTemplate]) -> list[str]:
    problems = []
    for template in templates:
        for place, security in _pod_and_container_contexts(template):
            kind = as_map(security.get("appArmorProfile")).get("type")
            if kind is not None and kind not in APPARMOR_TYPES:
                problems.append(f"{place} runs with the AppArmor profile type {kind!r}")
        for key, value in template.annotations.items():
            if key.startswith(APPARMOR_ANNOTATION_PREFIX) and not (
                    value == "runtime/default" or value.startswith("localhost/")):
                problems.append(f"{template.where()} annotates {key}: {value!r}")
    return problems


@_over_pod_templates
def no_host_process(templates: list[PodTemplate]) -> list[str]:
    return [f"{place} runs as a Windows HostProcess container, with the node's privileges"
            for template in templates for place, security in _pod_and_container_contexts(template)
            if dig(security, "windowsOptions", "hostProcess") is True]


@_over_pod_templates
def restricted_volume_types(templates: list[PodTemplate]) -> list[str]:
    problems = []
    for template in templates:
        for volume in map(as_map, as_list(template.spec.get("volumes"))):
            sources = sorted(set(volume) - _VOLUME_FIELDS_NOT_SOURCES - RESTRICTED_VOLUME_TYPES)
            if sources:
                problems.append(f"{template.where()} volume {volume.get('name')!r} is of type "
                                f"{', '.join(sources)}; the restricted profile allows only "
                                f"{', '.join(sorted(RESTRICTED_VOLUME_TYPES))}")
    return problems


@_over_pod_templates
def read_only_root_filesystem(templates: list[PodTemplate]) -> list[str]:
    return [f"{template.where(container)} does not set readOnlyRootFilesystem: true; a compromised process "
            "can rewrite its own binaries" for template, container in each_container(templates, ephemeral=False)
            if container.security_context.get("readOnlyRootFilesystem") is not True]


def _bound_service_accounts(resources: Sequence[Resource]) -> set[tuple[str, str]]:
    """(namespace, name) of every service account a (Cluster)RoleBinding of the stack grants to."""
    bound = set()
    for resource in resources:
        if resource.is_kubernetes_object and resource.kind in BINDING_KINDS:
            for subject in map(as_map, as_list(resource.inputs.get("subjects"))):
                if subject.get("kind") == "ServiceAccount":
                    bound.add((str(subject.get("namespace") or resource.namespace), str(subject.get("name"))))
    return bound


def service_account_token_only_where_used(resources: Sequence[Resource], context: Context) -> dict[str, list[str]]:
    """A pod whose service account no binding grants anything does not talk to the API: it must not mount a token."""
    bound = _bound_service_accounts(resources)
    automount = {(r.namespace, r.object_name): r.inputs.get("automountServiceAccountToken")
                 for r in resources if r.is_kubernetes_object and r.kind == "ServiceAccount"}
    results: dict[str, list[str]] = {}
    for resource in resources:
        templates = pod_templates(resource)
        if not templates:
            continue
        problems = []
        for template in templates:
            account = str(template.spec.get("serviceAccountName") or template.spec.get("serviceAccount")
                          or "default")
            if (resource.namespace, account) in bound:
                continue
            mounted = template.spec.get("automountServiceAccountToken")
            if mounted is None:
                mounted = automount.get((resource.namespace, account))
            if mounted is not False:
                problems.append(f"{template.where()} mounts the token of service account {account!r}, which no "
                                "RoleBinding or ClusterRoleBinding grants anything; set "
                                "automountServiceAccountToken: false")
        results[resource.urn] = problems
    return results


def servers_have_liveness_probes(resource: Resource, context: Context) -> Optional[list[str]]:
    return serving_without_probe(resource, "livenessProbe", "a hung server stays ready and is never restarted")


RULES = (
    Rule("SY-WKL-015", "Containers bind no host ports", "high", "mandatory",
         "A hostPort reaches the node's network interface past every NetworkPolicy and pins the pod to nodes "
         "where the port is free.",
         "Remove ports[].hostPort; expose the container through a Service.",
         Frameworks((), "baseline: Host Ports", (), ("5.2.13",), _PSS_NIST), no_host_ports),
    Rule("SY-WKL-016", "Pods set only safe sysctls", "high", "mandatory",
         "Unsafe sysctls change the node's kernel for every pod on it or disable its protections.",
         "Remove securityContext.sysctls entries outside the PSS safe set (kernel.shm_rmid_forced, "
         "net.ipv4.ip_local_port_range, net.ipv4.tcp_syncookies, ...).",
         Frameworks((), "baseline: Sysctls", (), (), _PSS_NIST), only_safe_sysctls),
    Rule("SY-WKL-017", "Containers keep the default /proc mount", "high", "mandatory",
         "An Unmasked /proc exposes the host's kernel interfaces that the container runtime hides.",
         "Remove securityContext.procMount or set it to Default.",
         Frameworks((), "baseline: /proc Mount Type", (), (), _PSS_NIST), default_proc_mount),
    Rule("SY-WKL-018", "SELinux options keep the container types", "high", "mandatory",
         "A custom SELinux user, role or type can lift the confinement the container type gives.",
         "Remove seLinuxOptions.user and .role; use a container type (container_t, container_init_t, "
         "container_kvm_t, container_engine_t) or none.",
         Frameworks((), "baseline: SELinux", (), (), _PSS_NIST), selinux_options_restricted),
    Rule("SY-WKL-019", "No container runs AppArmor-unconfined", "high", "mandatory",
         "An unconfined AppArmor profile removes the mandatory access control the runtime's default profile "
         "applies.",
         "Set appArmorProfile.type to RuntimeDefault or Localhost (or leave it unset); drop 'unconfined' "
         "AppArmor annotations.",
         Frameworks((), "baseline: AppArmor", (), (), _PSS_NIST), apparmor_not_unconfined),
    Rule("SY-WKL-020", "No Windows HostProcess containers", "critical", "mandatory",
         "A HostProcess container runs on the Windows node as a node process, outside any isolation.",
         "Remove windowsOptions.hostProcess (pod and containers).",
         Frameworks((), "baseline: HostProcess", (), ("5.2.11",), _PSS_NIST), no_host_process),
    Rule("SY-WKL-021", "Pods use only the restricted volume types", "high", "mandatory",
         "Volume types beyond configMap, secret, projected, emptyDir, PVCs, CSI and ephemeral reach node or "
         "network storage directly (gitRepo runs git on the node, CVE-2024-10220; nfs, iscsi, cephfs ... "
         "mount with the node's identity).",
         "Replace the volume with a PersistentVolumeClaim (for network storage), an initContainer (for a git "
         "checkout) or one of the allowed types.",
         Frameworks((), "restricted: Volume Types", (), (), _PSS_NIST), restricted_volume_types),
    Rule("SY-WKL-022", "Containers have a read-only root filesystem", "medium", "mandatory",
         "A writable root filesystem lets a compromised process replace its own binaries and persist until "
         "the pod is replaced.",
         "Set securityContext.readOnlyRootFilesystem: true; mount an emptyDir where the program writes "
         "(/tmp, caches).",
         Frameworks((), None, (), ("5.7.3",), _PSS_NIST), read_only_root_filesystem),
    Rule("SY-WKL-023", "Only workloads that use the Kubernetes API mount a service account token", "medium",
         "mandatory",
         "A mounted token a workload never uses is a credential for whoever compromises it.",
         "Set automountServiceAccountToken: false on the pod (or its ServiceAccount); workloads that talk to "
         "the API get a RoleBinding for their own service account.",
         Frameworks((), None, (), ("5.1.6",), ("4.3.2",)), service_account_token_only_where_used, STACK_SCOPE),
    Rule("SY-WKL-024", "Servers have liveness probes", "medium", "mandatory",
         "Without a liveness probe a hung model server stays 'ready' and is never restarted; its share of "
         "traffic fails until someone notices.",
         "Give every serving container (InferenceService model, containers with ports) a livenessProbe.",
         Frameworks(nist_ai_rmf=("MEASURE 2.4",)), servers_have_liveness_probes),
)
