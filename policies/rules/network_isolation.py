"""Network isolation: every pod is selected by some NetworkPolicy of its namespace.

Standard library only. A pod that no NetworkPolicy selects accepts traffic from
every pod of the cluster; once one policy selects it, only what some policy
allows reaches it. Pods on the host network are not subject to NetworkPolicies
(SY-WKL-010 keeps them in the system namespaces), and the system namespaces are
the cluster's own.
"""

from __future__ import annotations

from typing import Sequence

from policies.rules.kube import pod_templates, selector_matches
from policies.rules.model import STACK_SCOPE, Context, Frameworks, Resource, Rule, as_map

NETWORK_POLICY = "NetworkPolicy"


def _network_policies(resources: Sequence[Resource]) -> dict[str, list[Resource]]:
    by_namespace: dict[str, list[Resource]] = {}
    for resource in resources:
        if resource.is_kubernetes_object and resource.kind == NETWORK_POLICY:
            by_namespace.setdefault(resource.namespace, []).append(resource)
    return by_namespace


def pods_selected_by_a_network_policy(resources: Sequence[Resource], context: Context) -> dict[str, list[str]]:
    policies = _network_policies(resources)
    results: dict[str, list[str]] = {}
    for resource in resources:
        templates = pod_templates(resource)
        if not templates or resource.namespace in context.system_namespaces:
            continue
        problems = []
        for template in templates:
            if template.spec.get("hostNetwork") is True:
                continue
            if not any(selector_matches(as_map(policy.inputs.get("spec")).get("podSelector") or {}, template.labels)
                       for policy in policies.get(resource.namespace, ())):
                problems.append(f"{template.where()} is selected by no NetworkPolicy in namespace "
                                f"{resource.namespace or 'default'!r}; every pod of the cluster can reach it")
        results[resource.urn] = problems
    return results


RULES = (
    Rule("SY-NET-001", "Every pod is selected by a NetworkPolicy", "high", "mandatory",
         "A pod no NetworkPolicy selects accepts connections from every pod in the cluster: one compromised "
         "workload reaches the feature server, the model servers and the pipeline API.",
         "Give the namespace a default-deny NetworkPolicy (podSelector: {}) and allow rules for the traffic the "
         "pod needs (components/network_isolation.py does this for the namespaces Stackyard owns).",
         Frameworks(("4.3.2",), None, (), ("5.3.2",), ("4.3.3", "4.4.2")), pods_selected_by_a_network_policy,
         STACK_SCOPE),
)
