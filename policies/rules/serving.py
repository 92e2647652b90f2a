"""Serving and ML rules: endpoints that stay up, roll out safely, serve what was reviewed, and are watched.

An endpoint is a KServe InferenceService. Its pods carry the labels of the
InferenceService plus `serving.kserve.io/inferenceservice: <name>` and
`component: predictor`; disruption budgets and monitors find them by those.
"""

from __future__ import annotations

import itertools
import json
import re
from typing import Optional, Sequence

from policies.rules.kube import (DEPLOYMENT_MODE_ANNOTATION, INFERENCE_SERVICE, PodTemplate, pod_templates,
                                 SelectorIndex, quantity)
from policies.rules.model import STACK_SCOPE, Context, Frameworks, Resource, Rule, as_list, as_map, dig

MIN_PRODUCTION_REPLICAS = 2
MONITOR_KINDS = ("ServiceMonitor", "PodMonitor")
# Words that make an alert an SLO alert (its name, labels or annotations).
_SLO_WORDS = ("slo", "burn", "availability", "latency", "errorbudget", "error_budget", "error-budget")


def is_inference_service(resource: Resource) -> bool:
    return resource.is_kubernetes_object and resource.kind == INFERENCE_SERVICE


def _predictor(resource: Resource) -> Optional[PodTemplate]:
    return next((t for t in pod_templates(resource) if t.component == "predictor"), None)


def _of_kind(resources: Sequence[Resource], *kinds: str) -> list[Resource]:
    return [r for r in resources if r.is_kubernetes_object and r.kind in kinds]


def deployment_mode(resource: Resource, context: Context) -> str:
    annotations = as_map(resource.metadata.get("annotations"))
    return str(annotations.get(DEPLOYMENT_MODE_ANNOTATION) or context.default_deployment_mode)


def production_endpoints_replicated(resource: Resource, context: Context) -> Optional[list[str]]:
    if not (context.production and is_inference_service(resource)):
        return None
    predictor = _predictor(resource)
    if predictor is None:
        return [f"InferenceService {resource.object_name!r} has no predictor"]
    replicas = quantity(predictor.spec.get("minReplicas"))
    replicas = 1 if replicas is None else replicas
    if replicas < MIN_PRODUCTION_REPLICAS:
        return [f"production endpoint {resource.object_name!r} runs minReplicas {replicas:g}; one node drain "
                f"or crash takes it down (expected at least {MIN_PRODUCTION_REPLICAS})"]
    return []


def production_endpoints_have_disruption_budgets(resources: Sequence[Resource], context: Context
                                                 ) -> dict[str, list[str]]:
    if not context.production:
        return {}
    by_namespace: dict[str, list[tuple[Resource, dict]]] = {}
    for budget in _of_kind(resources, "PodDisruptionBudget"):
        by_namespace.setdefault(budget.namespace, []).append(
            (budget, as_map(dig(budget.inputs, "spec", "selector"))))
    budgets = {namespace: SelectorIndex(entries) for namespace, entries in by_namespace.items()}
    results: dict[str, list[str]] = {}
    for service in filter(is_inference_service, resources):
        predictor = _predictor(service)
        covered = (predictor is not None and service.namespace in budgets
                   and bool(budgets[service.namespace].matching(predictor.labels)))
        results[service.urn] = [] if covered else [
            f"production endpoint {service.object_name!r} has no PodDisruptionBudget selecting its predictor "
            f"pods in namespace {service.namespace!r}; a node upgrade can evict every replica at once"]
    return results


def canary_only_in_serverless(resource: Resource, context: Context) -> Optional[list[str]]:
    if not is_inference_service(resource):
        return None
    predictor = as_map(dig(resource.inputs, "spec", "predictor"))
    if "canaryTrafficPercent" not in predictor:
        return None
    percent = predictor["canaryTrafficPercent"]
    problems = []
    mode = deployment_mode(resource, context)
    if mode != "Serverless":
        problems.append(f"endpoint {resource.object_name!r} sets canaryTrafficPercent in {mode} mode; KServe "
                        "splits traffic only in Serverless mode, so the canary would take all traffic")
    value = quantity(percent)
    if value is None or not 0 <= value <= 100 or value != int(value):
        problems.append(f"endpoint {resource.object_name!r} sets canaryTrafficPercent {percent!r}; expected a whole "
                        "number from 0 to 100")
    return problems


def production_models_locked_with_model_card(resource: Resource, context: Context) -> Optional[list[str]]:
    if not (context.production and is_inference_service(resource)):
        return None
    name = resource.object_name
    locked = context.models.get(name)
    if locked is None:
        where = f" in {context.lock_file}" if context.lock_file else " (no registry lock)"
        return [f"production endpoint {name!r} serves a model that is not registry-locked{where}; run "
                f"`stackyard lock {context.environment or '<env>'}`"]
    problems = []
    if locked.version is None:
        problems.append(f"the lock holds no resolved model version for endpoint {name!r}")
    if not locked.model_card:
        problems.append(f"model {locked.model!r} version {locked.version} of endpoint {name!r} has no model card "
                        "link (a registry tag such as model_card_url)")
    storage = dig(resource.inputs, "spec", "predictor", "model", "storageUri")
    if locked.source and isinstance(storage, str) and storage != locked.source:
        problems.append(f"endpoint {name!r} serves {storage!r} but the lock resolved {locked.model!r} "
                        f"version {locked.version} to {locked.source!r}")
    return problems


# The registry tags of an approval, as `stackyard approve` writes them (environments/spec.py
# APPROVAL_TAGS; the policy pack imports nothing outside policies/, tests/test_approval.py keeps them equal).
APPROVAL_TAGS = ("stackyard.approval.by", "stackyard.approval.at", "stackyard.approval.evidence")


def production_models_approved(resource: Resource, context: Context) -> Optional[list[str]]:
    if not (context.production and is_inference_service(resource)):
        return None
    name = resource.object_name
    locked = context.models.get(name)
    if locked is None:
        return [f"production endpoint {name!r} has no registry-locked model, so no approval to check"]
    missing = [tag for tag in APPROVAL_TAGS if not locked.tags.get(tag)]
    if missing:
        return [f"production endpoint {name!r} serves model {locked.model!r} version {locked.version}, which has "
                f"no approval in the registry (missing tags {', '.join(missing)}); run `stackyard approve "
                f"{context.environment or '<env>'} {name} --version {locked.version} --by WHO --evidence URL` "
                "and lock again"]
    return []


def _monitor_index(monitors: Sequence[Resource]) -> tuple[SelectorIndex, dict[str, SelectorIndex]]:
    """(monitors of every namespace, namespace -> monitors of that namespace), by pod selector."""
    anywhere, by_namespace = [], {}
    for monitor in monitors:
        spec = as_map(monitor.inputs.get("spec"))
        entry = (monitor, as_map(spec.get("selector")))
        namespaces = as_map(spec.get("namespaceSelector"))
        if namespaces.get("any") is True:
            anywhere.append(entry)
            continue
        for name in dict.fromkeys([str(n) for n in as_list(namespaces.get("matchNames"))] or [monitor.namespace]):
            by_namespace.setdefault(name, []).append(entry)
    return SelectorIndex(anywhere), {name: SelectorIndex(entries) for name, entries in by_namespace.items()}


def endpoints_scraped(resources: Sequence[Resource], context: Context) -> dict[str, list[str]]:
    anywhere, by_namespace = _monitor_index(_of_kind(resources, *MONITOR_KINDS))
    results: dict[str, list[str]] = {}
    for service in filter(is_inference_service, resources):
        predictor = _predictor(service)
        labels = dict(predictor.labels) if predictor else {}
        in_namespace = by_namespace.get(service.namespace)
        scraped = bool(anywhere.matching(labels)) or bool(in_namespace and in_namespace.matching(labels))
        results[service.urn] = [] if scraped else [
            f"endpoint {service.object_name!r} has no ServiceMonitor or PodMonitor selecting its pods; its "
            "traffic, latency and errors go unrecorded"]
    return results


def _alerts(resources: Sequence[Resource]) -> list[dict]:
    alerts = []
    for rule_set in _of_kind(resources, "PrometheusRule"):
        for group in as_list(dig(rule_set.inputs, "spec", "groups")):
            alerts += [dict(as_map(r)) for r in as_list(as_map(group).get("rules")) if as_map(r).get("alert")]
    return alerts


def _alert_text(alert: dict) -> str:
    return " ".join([str(alert.get("expr", "")), *map(str, as_map(alert.get("labels")).values())])


def _names_endpoint(alert: dict, endpoint: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(endpoint)}(?!\w)", _alert_text(alert)) is not None


_NAME_RUN = re.compile(r"[\w-]+")


def _named_endpoints(alerts: Sequence[dict]) -> set[str]:
    """Every name `_names_endpoint` would find in one of `alerts`, collected in one pass.

    A name is found where it starts a run of word characters and hyphens and is
    followed by a hyphen or by the end of the run: so every such prefix of every
    run. One set lookup per endpoint instead of one regex per endpoint and alert,
    which was quadratic in the size of the environment.
    """
    names: set[str] = set()
    for alert in alerts:
        for run in _NAME_RUN.findall(_alert_text(alert)):
            # The prefixes that end before a hyphen, and the run itself: joined pieces of its split.
            names.update(itertools.accumulate(run.split("-"), lambda prefix, piece: f"{prefix}-{piece}"))
    names.discard("")  # a run that starts with a hyphen has no name before it
    return names


def _is_slo_alert(alert: dict) -> bool:
    text = json.dumps([alert.get("alert"), alert.get("labels"), alert.get("annotations")]).lower()
    return any(word in text for word in _SLO_WORDS)


def endpoints_have_slo_alerts(resources: Sequence[Resource], context: Context) -> dict[str, list[str]]:
    alerts = [alert for alert in _alerts(resources) if _is_slo_alert(alert)]
    named = _named_endpoints(alerts)
    results: dict[str, list[str]] = {}
    for service in filter(is_inference_service, resources):
        endpoint = service.object_name
        if _NAME_RUN.fullmatch(endpoint):
            covered = endpoint in named
        else:  # a name with other characters: the regex decides
            covered = any(_names_endpoint(alert, endpoint) for alert in alerts)
        results[service.urn] = [] if covered else [
            f"endpoint {service.object_name!r} has no SLO alert (a PrometheusRule alert on its availability, "
            "latency or error budget that names it); it can fail silently"]
    return results


RULES = (
    Rule("SY-SRV-001", "Production endpoints run at least 2 replicas", "high", "mandatory",
         "A single replica makes every node drain, crash or rollout an outage of the endpoint.",
         "Set endpoints[].replicas.min to 2 or more in production.",
         Frameworks(nist_ai_rmf=("MEASURE 2.7",)), production_endpoints_replicated),
    Rule("SY-SRV-002", "Production endpoints have a PodDisruptionBudget", "high", "mandatory",
         "Without a disruption budget a node-group upgrade or Karpenter consolidation may evict all replicas "
         "of an endpoint at the same time.",
         "Create a PodDisruptionBudget in the endpoint's namespace selecting "
         "serving.kserve.io/inferenceservice: <endpoint> (minAvailable 1 or maxUnavailable 1).",
         Frameworks(nist_ai_rmf=("MEASURE 2.7",)), production_endpoints_have_disruption_budgets, STACK_SCOPE),
    Rule("SY-SRV-003", "Canary traffic only in Serverless mode, between 0 and 100 percent", "high", "mandatory",
         "KServe splits traffic between revisions only in Serverless mode; in RawDeployment the new model "
         "silently takes all traffic. Percentages outside 0-100 are rejected at admission.",
         "Use deploymentMode Serverless for endpoints with canary.trafficPercent, and a whole percentage.",
         Frameworks(nist_ai_rmf=("MANAGE 2.4",)), canary_only_in_serverless),
    Rule("SY-SRV-004", "Production endpoints serve registry-locked model versions with a model card", "high",
         "mandatory",
         "What production serves must be the reviewed model version, reproducible from the lock, with its "
         "intended use and limits documented.",
         "Run `stackyard lock <env>` and commit the lock; tag the model version in the registry with its model "
         "card link (model_card_url).",
         Frameworks(nist_ai_rmf=("MEASURE 2.9", "GOVERN 1.6")), production_models_locked_with_model_card),
    Rule("SY-SRV-005", "Every endpoint is scraped by a ServiceMonitor or PodMonitor", "medium", "mandatory",
         "Models fail silently: without metrics there is no latency, error or drift signal to act on.",
         "Create a ServiceMonitor or PodMonitor whose selector and namespaceSelector cover the endpoint's pods.",
         Frameworks(nist_ai_rmf=("MEASURE 2.4", "MANAGE 4.1")), endpoints_scraped, STACK_SCOPE),
    Rule("SY-SRV-006", "Every endpoint has SLO alerts", "medium", "mandatory",
         "Metrics nobody is paged on are not monitoring; each endpoint needs alerts on its availability and "
         "latency objectives.",
         "Create PrometheusRule alerts (burn rate on availability, p99 latency) naming the endpoint, from "
         "endpoints[].slo.",
         Frameworks(nist_ai_rmf=("MEASURE 2.4", "MANAGE 4.1")), endpoints_have_slo_alerts, STACK_SCOPE),
    Rule("SY-SRV-007", "Production endpoints serve approved model versions", "high", "mandatory",
         "A model version reaches production traffic only after someone accountable approved it on recorded "
         "evidence; the registry holds who, when and the link, and the lock carries it into review.",
         "Approve the version with `stackyard approve <env> <endpoint> --version N --by WHO --evidence URL` "
         "(or set the stackyard.approval.* tags in MLflow), then run `stackyard lock <env>`.",
         Frameworks(nist_ai_rmf=("GOVERN 1.4", "MANAGE 1.1")), production_models_approved),
)
