"""Network isolation in the shipped plans: default-deny in every owned namespace, and the allow rules the
platform needs, read the way the API server's NetworkPolicy semantics read them."""

from __future__ import annotations

import kubernetes_validate
import pytest

from components.network_isolation import network_policy_body
from policies.rules.kube import pod_templates, selector_matches
from policies.rules.model import Resource
from conftest import plan_for

KUBERNETES = "1.33.0"


def _objects(environment: str, kind: str) -> list[Resource]:
    return [r for r in map(Resource.from_plan_entry, plan_for(environment)["resources"])
            if r.is_kubernetes_object and r.kind == kind]


def _namespace_labels(environment: str) -> dict[str, dict]:
    """Namespace -> its labels, with the one the API server adds to every namespace."""
    return {ns.object_name: {**ns.labels, "kubernetes.io/metadata.name": ns.object_name}
            for ns in _objects(environment, "Namespace")}


def _admits(policy: Resource, source_namespace_labels: dict, source_pod_labels: dict, port: int) -> bool:
    """Whether one ingress rule of `policy` lets a pod with these labels in, on `port` (same-namespace peers
    are matched by podSelector alone)."""
    for rule in policy.inputs["spec"].get("ingress") or []:
        ports = [p["port"] for p in rule.get("ports") or []]
        if ports and port not in ports:
            continue
        peers = rule.get("from")
        if peers is None:
            return True
        for peer in peers:
            if "namespaceSelector" in peer:
                if selector_matches(peer["namespaceSelector"], source_namespace_labels) and selector_matches(
                        peer.get("podSelector") or {}, source_pod_labels):
                    return True
            elif source_namespace_labels.get("kubernetes.io/metadata.name") == policy.namespace and \
                    selector_matches(peer.get("podSelector") or {}, source_pod_labels):
                return True
    return False


def _policies_selecting(environment: str, namespace: str, pod_labels: dict) -> list[Resource]:
    return [p for p in _objects(environment, "NetworkPolicy")
            if p.namespace == namespace and selector_matches(p.inputs["spec"]["podSelector"], pod_labels)]


@pytest.mark.parametrize("environment", ["prod", "dev"])
def test_every_owned_namespace_denies_ingress_by_default(environment):
    policies = _objects(environment, "NetworkPolicy")
    for namespace in _namespace_labels(environment):
        deny = [p for p in policies if p.namespace == namespace and p.object_name == "default-deny-ingress"]
        assert len(deny) == 1, namespace
        assert deny[0].inputs["spec"] == {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": []}
    for policy in policies:  # what the API server accepts, at the pinned Kubernetes version
        kubernetes_validate.validate(dict(policy.inputs), KUBERNETES, strict=True)


def test_prod_allows_what_the_platform_needs_and_nothing_from_elsewhere():
    namespaces = _namespace_labels("prod")
    isvc = next(t for r in _objects("prod", "InferenceService") for t in pod_templates(r))
    feature_server = next(t for r in _objects("prod", "Deployment") if r.object_name == "feast-feature-server"
                          for t in pod_templates(r))
    gateway = {"kubernetes.io/metadata.name": "istio-system"}
    stranger = {"kubernetes.io/metadata.name": "default"}

    def allowed(namespace, labels, source_namespace, port, source_pod=None):
        return any(_admits(p, source_namespace, source_pod or {}, port)
                   for p in _policies_selecting("prod", namespace, labels))

    # The gateway reaches the model servers; a pod of an unowned namespace does not.
    assert allowed("serving", isvc.labels, gateway, 8080)
    assert not allowed("serving", isvc.labels, stranger, 8080)
    # Prometheus, in the monitoring namespace, scrapes every owned namespace.
    for namespace in namespaces:
        pod = {"app.kubernetes.io/name": "anything"}
        assert allowed(namespace, pod, namespaces["monitoring"], 8000), namespace
        assert not allowed(namespace, pod, stranger, 8000) or namespace == "knative-serving", namespace
    # The feature server's clients live in Stackyard's namespaces (serving, pipelines, teams).
    for client in ("serving", "kubeflow", "recsys"):
        assert allowed("feast", feature_server.labels, namespaces[client], 6566), client
    assert not allowed("feast", feature_server.labels, stranger, 6566)
    # The drift checks (monitoring) read the payload logger's sink in the serving namespace.
    assert allowed("serving", {"app.kubernetes.io/name": "payload-logger"}, namespaces["monitoring"], 8080)
    assert not allowed("serving", {"app.kubernetes.io/name": "payload-logger"}, namespaces["recsys"], 8080)
    # Grafana and the KFP API, reachable from every pod before, now only from where they are used.
    grafana = {"app.kubernetes.io/name": "grafana"}
    assert not allowed("monitoring", grafana, stranger, 3000)
    assert not allowed("kubeflow", {"app": "ml-pipeline"}, stranger, 8888)
    assert not allowed("kubeflow", {"app": "ml-pipeline"}, namespaces["serving"], 8888)
    # KFP's services reach each other inside their namespace.
    assert allowed("kubeflow", {"app": "ml-pipeline"}, namespaces["kubeflow"], 8888, {"app": "ml-pipeline-ui"})


def test_a_deny_policy_allows_nothing_and_an_open_one_everything():
    deny = network_policy_body("d", "ns", {}, {}, None)
    assert deny["spec"]["ingress"] == []
    everyone = network_policy_body("e", "ns", {}, {}, [], ports=[10250])
    assert everyone["spec"]["ingress"] == [{"ports": [{"protocol": "TCP", "port": 10250}]}]


def test_the_ports_and_namespaces_the_allow_rules_name_are_the_pinned_charts():
    # Read off the vendored charts at the versions the shipped environments pin, not remembered.
    from components import monitoring, serving
    from environments import loader
    from upstream_install import folder, load_all

    versions = loader.load("prod").versions
    (stack_values,) = load_all(folder("prometheus-community/helm-charts",
                                      f"kube-prometheus-stack-{versions.kube_prometheus_stack}")
                               / "charts" / "kube-prometheus-stack" / "values.yaml")
    assert monitoring.OPERATOR_WEBHOOK_PORT == stack_values["prometheusOperator"]["tls"]["internalPort"]
    (kserve_values,) = load_all(folder("kserve/kserve", versions.kserve) / "charts" / "kserve-resources"
                                / "values.yaml")
    gateway = kserve_values["kserve"]["controller"]["gateway"]
    # RawDeployment endpoints get Ingress objects of class istio: Istio's ingress gateway, which runs
    # in the namespace of the chart's Istio local gateway service.
    assert gateway["ingressGateway"]["className"] == "istio"
    assert gateway["localGateway"]["gatewayService"].split(".")[1] == serving.KSERVE_INGRESS_GATEWAY_NAMESPACE
