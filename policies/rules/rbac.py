"""RBAC rules: what Roles and ClusterRoles grant, and what bindings hand out.

Standard library only. A rule of a (Cluster)Role is read as the API server
reads it: `verbs`, `resources` and `apiGroups` lists, where "*" means all.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

from policies.rules.model import Context, Frameworks, Resource, Rule, as_list, as_map

ROLE_KINDS = ("Role", "ClusterRole")
BINDING_KINDS = ("RoleBinding", "ClusterRoleBinding")
# Verbs that let a subject grant itself more than it holds (CIS Kubernetes 5.1.8).
ESCALATING_VERBS = ("escalate", "bind", "impersonate")
READ_VERBS = ("get", "list", "watch")
_NIST = ("4.3.1",)  # NIST SP 800-190 4.3.1: unbounded administrative access


def _is_rbac(resource: Resource, kinds: tuple[str, ...]) -> bool:
    return (resource.is_kubernetes_object and resource.kind in kinds
            and resource.type.split(":")[1].startswith("rbac.authorization.k8s.io/"))


def _rules(resource: Resource) -> list[tuple[int, Mapping[str, Any]]]:
    return list(enumerate(map(as_map, as_list(resource.inputs.get("rules")))))


def _values(rule: Mapping[str, Any], key: str) -> list[str]:
    return [str(value) for value in as_list(rule.get(key))]


def no_wildcards(resource: Resource, context: Context) -> Optional[list[str]]:
    if not _is_rbac(resource, ROLE_KINDS):
        return None
    problems = []
    for index, rule in _rules(resource):
        for key in ("verbs", "resources", "apiGroups"):
            if "*" in _values(rule, key):
                problems.append(f"{resource.kind} {resource.object_name!r} rules[{index}] grants {key} '*'; "
                                "it grants every future one too")
    return problems


def no_escalating_verbs(resource: Resource, context: Context) -> Optional[list[str]]:
    if not _is_rbac(resource, ROLE_KINDS):
        return None
    problems = []
    for index, rule in _rules(resource):
        verbs = [verb for verb in _values(rule, "verbs") if verb in ESCALATING_VERBS]
        if verbs:
            problems.append(f"{resource.kind} {resource.object_name!r} rules[{index}] grants {', '.join(verbs)} "
                            "on " + ", ".join(_values(rule, "resources") or ["nothing named"]))
    return problems


def no_cluster_wide_secret_reads(resource: Resource, context: Context) -> Optional[list[str]]:
    if not _is_rbac(resource, ("ClusterRole",)):
        return None
    problems = []
    for index, rule in _rules(resource):
        groups, resources = _values(rule, "apiGroups"), _values(rule, "resources")
        verbs = [verb for verb in _values(rule, "verbs") if verb in READ_VERBS or verb == "*"]
        if verbs and ("" in groups or "*" in groups) and ("secrets" in resources or "*" in resources) \
                and not as_list(rule.get("resourceNames")):
            problems.append(f"ClusterRole {resource.object_name!r} rules[{index}] lets its subjects "
                            f"{', '.join(verbs)} Secrets in every namespace")
    return problems


def no_cluster_admin_bindings(resource: Resource, context: Context) -> Optional[list[str]]:
    if not _is_rbac(resource, BINDING_KINDS):
        return None
    role = as_map(resource.inputs.get("roleRef"))
    if role.get("kind") == "ClusterRole" and role.get("name") == "cluster-admin":
        subjects = ", ".join(f"{as_map(s).get('kind')} {as_map(s).get('name')}"
                             for s in as_list(resource.inputs.get("subjects"))) or "no subjects"
        return [f"{resource.kind} {resource.object_name!r} binds cluster-admin to {subjects}"]
    return []


RULES = (
    Rule("SY-RBAC-001", "Roles grant no wildcard verbs, resources or API groups", "high", "mandatory",
         "A '*' grants every verb or resource the API has and every one it will have, which nobody reviewed.",
         "List the verbs, resources and apiGroups the subject needs.",
         Frameworks(("4.1.3",), None, (), ("5.1.3",), _NIST), no_wildcards),
    Rule("SY-RBAC-002", "Roles grant no escalate, bind or impersonate", "critical", "mandatory",
         "escalate and bind let a subject create roles or bindings beyond its own rights; impersonate lets it "
         "act as any user, group or service account.",
         "Remove the verbs; grant the specific roles the subject needs directly.",
         Frameworks(("4.1.8",), None, (), ("5.1.8",), _NIST), no_escalating_verbs),
    Rule("SY-RBAC-003", "No ClusterRole reads Secrets cluster-wide", "high", "mandatory",
         "get, list or watch on Secrets in every namespace reads every credential of the cluster.",
         "Grant Secret access in a namespaced Role, or restrict it with resourceNames.",
         Frameworks(("4.1.2",), None, (), ("5.1.2",), _NIST), no_cluster_wide_secret_reads),
    Rule("SY-RBAC-004", "Nothing is bound to cluster-admin", "critical", "mandatory",
         "cluster-admin is every right on every object; a workload or user bound to it is the cluster.",
         "Bind a role with the rights needed instead; keep cluster-admin to break-glass access outside the stack.",
         Frameworks(("4.1.1",), None, (), ("5.1.1",), _NIST), no_cluster_admin_bindings),
)
