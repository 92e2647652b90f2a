"""Network isolation of the namespaces Stackyard owns: deny ingress by default, allow what components need.

Every namespace `components.kube.namespace` creates gets, from `isolate`:

- `default-deny-ingress`: selects every pod and allows nothing, so a pod is
  reachable only through an allow rule (SY-NET-001 checks that every pod is
  selected by some NetworkPolicy);
- `allow-same-namespace`: a component's own pods talk to each other (the KFP
  API, its MySQL and metadata services; Prometheus, Alertmanager and Grafana);
- `allow-prometheus`: Prometheus, in the namespace labelled as Stackyard's
  monitoring component, scrapes every pod.

Components add the cross-namespace allow rules they need with `allow_ingress`:
the serving gateway reaching the model servers (in-cluster callers go through it
too), the feature server's clients, Pushgateway pushes and the drift checks
reading the payload logger, the API server calling the Prometheus Operator's
webhook, the Knative edge.
Egress stays open: model servers read S3, the feature server Redis/RDS, and
pipelines the registry; an egress allow-list belongs to a cluster whose
destinations are known.
"""

from __future__ import annotations

from typing import Mapping, Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"  # the API server sets it on every namespace
PART_OF_LABEL, PART_OF = "app.kubernetes.io/part-of", "stackyard"
COMPONENT_LABEL, MONITORING = "app.kubernetes.io/component", "monitoring"


def namespace_peer(name: str) -> dict:
    """Every pod of the namespace called `name`."""
    return {"namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: name}}}


def stackyard_namespaces_peer() -> dict:
    """Every pod of every namespace Stackyard owns (their ownership labels say so)."""
    return {"namespaceSelector": {"matchLabels": {PART_OF_LABEL: PART_OF}}}


def monitoring_peer() -> dict:
    """Prometheus: the pods of Stackyard's monitoring namespace."""
    return {"namespaceSelector": {"matchLabels": {PART_OF_LABEL: PART_OF, COMPONENT_LABEL: MONITORING}}}


def network_policy_body(name: str, namespace: str, labels: Mapping[str, str], pod_selector: Mapping,
                        sources: Optional[Sequence[dict]], ports: Sequence[int] = ()) -> dict:
    """A NetworkPolicy of one ingress rule; `sources` None allows nothing (a deny), [] every source."""
    ingress = [] if sources is None else [{
        **({"from": list(sources)} if sources else {}),
        **({"ports": [{"protocol": "TCP", "port": port} for port in ports]} if ports else {})}]
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
            "spec": {"podSelector": dict(pod_selector), "policyTypes": ["Ingress"], "ingress": ingress}}


def allow_ingress(resource_name: str, namespace: str, name: str, labels: Mapping[str, str], pod_selector: Mapping,
                  sources: Sequence[dict], opts: pulumi.ResourceOptions, ports: Sequence[int] = ()
                  ) -> k8s.networking.v1.NetworkPolicy:
    body = network_policy_body(name, namespace, labels, pod_selector, sources, ports)
    return k8s.networking.v1.NetworkPolicy(resource_name, metadata=body["metadata"], spec=body["spec"], opts=opts)


def isolate(resource_name: str, namespace: str, labels: Mapping[str, str], opts: pulumi.ResourceOptions
            ) -> list[k8s.networking.v1.NetworkPolicy]:
    """The default policies of one owned namespace (see the module docstring)."""
    everything: dict = {}
    policies = [("default-deny-ingress", None), ("allow-same-namespace", [{"podSelector": {}}]),
                ("allow-prometheus", [monitoring_peer()])]
    return [k8s.networking.v1.NetworkPolicy(
        f"{resource_name}-{name}", metadata=body["metadata"], spec=body["spec"], opts=opts)
        for name, sources in policies
        for body in [network_policy_body(name, namespace, labels, everything, sources)]]
