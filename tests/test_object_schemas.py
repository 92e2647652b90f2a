"""Every Kubernetes object of every shipped plan against the schema the cluster will hold it to.

Custom objects: the CRD of the pinned release of the operator that owns the kind, vendored under
tests/upstream/, made strict (an unknown field is an error, as the API server's pruning would
silently drop it), and its CEL rules (`x-kubernetes-validations`) evaluated with a Python CEL
evaluator: all but transition rules (they compare with the stored object) and rules using
Kubernetes' own CEL string library (`find`, `split`), which the evaluator lacks; the test says how
many ran. Core objects: kubernetes-validate's strict schemas for versions.kubernetes.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass, field
from typing import Any, Mapping

import jsonschema
import kubernetes_validate
import kubernetes_validate.utils
import pytest

from environments import loader
from stacks import offline
from stacks import plan as offline_plan
from conftest import SHIPPED_ENVIRONMENTS, plan_for
from upstream_install import folder, load_all

# API group -> (repository, tag from the spec's versions, CRD files at their upstream paths)
CRD_SOURCES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "serving.kserve.io": ("kserve/kserve", "{kserve}", (
        "config/crd/full/serving.kserve.io_inferenceservices.yaml",
        "config/crd/full/serving.kserve.io_clusterservingruntimes.yaml")),
    "karpenter.sh": ("aws/karpenter-provider-aws", "v{karpenter}", ("pkg/apis/crds/karpenter.sh_nodepools.yaml",)),
    "karpenter.k8s.aws": ("aws/karpenter-provider-aws", "v{karpenter}",
                          ("pkg/apis/crds/karpenter.k8s.aws_ec2nodeclasses.yaml",)),
    "flagger.app": ("fluxcd/flagger", "v{flagger}", ("artifacts/flagger/crd.yaml",)),
    "monitoring.coreos.com": ("prometheus-community/helm-charts", "kube-prometheus-stack-{kubePrometheusStack}", tuple(
        f"charts/kube-prometheus-stack/charts/crds/crds/crd-{name}.yaml"
        for name in ("podmonitors", "servicemonitors", "prometheusrules"))),
}


def strict(schema: Any) -> Any:
    """An OpenAPI v3 CRD schema as JSON Schema that refuses unknown fields, as structural pruning would drop them."""
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: strict(value) for key, value in schema.items()}
    if (out.get("type") == "object" and "properties" in out and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")):
        out["additionalProperties"] = False
    if out.get("nullable") and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    return out


def crd_schema(group: str, version: str, kind: str, tag: str) -> dict:
    repository, _tag, paths = CRD_SOURCES[group]
    for path in paths:
        for crd in load_all(folder(repository, tag) / path):
            if crd["spec"]["group"] == group and crd["spec"]["names"]["kind"] == kind:
                (served,) = [v for v in crd["spec"]["versions"] if v["name"] == version]
                return served["schema"]["openAPIV3Schema"]
    raise AssertionError(f"no vendored CRD for {kind}.{group}/{version} in {repository} {tag}")


@functools.lru_cache(maxsize=None)
def crd_validator(group: str, version: str, kind: str, tag: str) -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(strict(crd_schema(group, version, kind, tag)))


@dataclass
class CelResult:
    errors: list = field(default_factory=list)
    evaluated: int = 0
    not_evaluable: int = 0  # transition rules, and rules using functions the evaluator lacks


def cel_rules(obj: Mapping, versions: Mapping[str, str], result: CelResult) -> CelResult:
    """Evaluate the CRD's CEL rules at every node of `obj` they are declared on."""
    import cel

    group, version = group_version(obj)
    schema = crd_schema(group, version, obj["kind"], CRD_SOURCES[group][1].format(**dict(versions.items())))

    def walk(node_schema: Any, value: Any, where: str) -> None:
        if value is None or not isinstance(node_schema, dict):
            return
        for rule in node_schema.get("x-kubernetes-validations", ()):
            if "oldSelf" in rule["rule"]:
                result.not_evaluable += 1
                continue
            try:
                holds = cel.evaluate(rule["rule"], {"self": value})
            except Exception:  # the evaluator lacks a Kubernetes CEL library function
                result.not_evaluable += 1
                continue
            result.evaluated += 1
            if holds is not True:
                result.errors.append(f"{obj['kind']} {obj['metadata'].get('name')}: {where}: "
                                     f"{rule.get('message') or rule['rule']}")
        if isinstance(value, dict):
            for key, item in value.items():
                if key in node_schema.get("properties", {}):
                    walk(node_schema["properties"][key], item, f"{where}.{key}" if where else key)
                elif isinstance(node_schema.get("additionalProperties"), dict):
                    walk(node_schema["additionalProperties"], item, f"{where}.{key}" if where else key)
        elif isinstance(value, list) and isinstance(node_schema.get("items"), dict):
            for index, item in enumerate(value):
                walk(node_schema["items"], item, f"{where}[{index}]")

    walk(schema, obj, "")
    return result


def objects(environment: str) -> list[dict]:
    return [offline_plan.manifest(r) for r in plan_for(environment)["resources"] if offline_plan.is_manifest(r)]


def group_version(obj: Mapping) -> tuple[str, str]:
    group, _, version = obj["apiVersion"].rpartition("/")
    return group, version


def custom_object_errors(obj: Mapping, versions: Mapping[str, str]) -> list[str]:
    group, version = group_version(obj)
    if group not in CRD_SOURCES:
        return [f"{obj['kind']}.{group}: no vendored CRD (add it to CRD_SOURCES and tests/upstream/)"]
    tag = CRD_SOURCES[group][1].format(**dict(versions.items()))
    validator = crd_validator(group, version, obj["kind"], tag)
    return [f"{obj['kind']} {obj['metadata'].get('name')}: {error.message} at {'.'.join(map(str, error.absolute_path))}"
            for error in validator.iter_errors(obj)]


# kubernetes-validate reads its (large) definitions file on every call; read each file once.
_schema_contents = functools.lru_cache(maxsize=None)(kubernetes_validate.utils.schema_contents)


def core_object_errors(obj: Mapping, kubernetes: str, monkeypatch) -> list[str]:
    monkeypatch.setattr(kubernetes_validate.utils, "schema_contents", _schema_contents)
    body = copy.deepcopy(dict(obj))
    if body["kind"] == "Secret":
        # A secret's whole data is one secret output offline: its keys are not known to the plan.
        for field in ("data", "stringData"):
            if body.get(field) == offline.SECRET:
                body[field] = {}
    try:
        kubernetes_validate.validate(body, kubernetes, strict=True)
    except kubernetes_validate.ValidationError as error:
        return [f"{obj['kind']} {obj['metadata'].get('name')}: {error.message}"]
    return []


def is_core(obj: Mapping) -> bool:
    group, _version = group_version(obj)
    return group == "" or group.endswith(".k8s.io") or "." not in group


@pytest.mark.parametrize("environment", SHIPPED_ENVIRONMENTS)
def test_every_custom_object_matches_its_crd_strictly(environment):
    versions = dict(loader.load(environment).versions.items())  # pin name -> version, for the CRD tags
    customs = [obj for obj in objects(environment) if not is_core(obj)]
    assert customs
    assert [error for obj in customs for error in custom_object_errors(obj, versions)] == []


def test_every_custom_object_keeps_its_crds_cel_rules():
    result = CelResult()
    for environment in SHIPPED_ENVIRONMENTS:
        versions = dict(loader.load(environment).versions.items())  # pin name -> version, for the CRD tags
        for obj in objects(environment):
            if not is_core(obj):
                cel_rules(obj, versions, result)
    assert result.errors == []
    assert result.evaluated >= 50, (result.evaluated, result.not_evaluable)  # 98 ran, 28 could not (2026-12-01)


@pytest.mark.parametrize("environment", SHIPPED_ENVIRONMENTS)
def test_every_core_object_matches_the_kubernetes_schema_strictly(environment, monkeypatch):
    kubernetes = loader.load(environment).versions.kubernetes
    seen, errors = set(), []
    for obj in objects(environment):
        if is_core(obj):
            errors += core_object_errors(obj, f"{kubernetes}.0", monkeypatch)
    assert errors == []


def _first(environment: str, kind: str) -> dict:
    return copy.deepcopy(next(obj for obj in objects(environment) if obj["kind"] == kind))


def test_a_planted_unknown_field_in_a_custom_object_fails():
    versions = dict(loader.load("prod").versions.items())
    service = _first("prod", "InferenceService")
    service["spec"]["predictor"]["model"]["storageUrl"] = "s3://typo"
    assert any("'storageUrl' was unexpected" in error and error.endswith("spec.predictor.model")
               for error in custom_object_errors(service, versions))
    pool = _first("prod", "NodePool")
    pool["spec"]["template"]["spec"]["expireAfterr"] = "720h"
    assert any("'expireAfterr' was unexpected" in error for error in custom_object_errors(pool, versions))


def test_a_broken_cel_rule_fails():
    pool = _first("prod", "NodePool")
    pool["spec"]["template"]["spec"]["requirements"].append(
        {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": []})
    errors = cel_rules(pool, dict(loader.load("prod").versions.items()), CelResult()).errors
    assert [e for e in errors if "requirements with operator 'In' must have a value defined" in e], errors


def test_a_planted_unknown_field_in_a_core_object_fails(monkeypatch):
    deployment = _first("prod", "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["imagePullPolcy"] = "Always"
    assert core_object_errors(deployment, "1.33.0", monkeypatch)
