"""The shipped environments under the rules, and deliberately broken variants of prod.

Each variant breaks prod one way (in the spec, in the plan's resources, or by a
resource a component might add) and must fail the audit with the expected
rule id at mandatory level.
"""

from __future__ import annotations

import json

import pytest

from policies import audit
from conftest import SHIPPED_ENVIRONMENTS, plan_for, run_cli
from policy_variants import ENVIRONMENTS, add_resources, plan_variant, write_prod_variant

AS_OF = "2025-06-01"
TAGGED = {"stackyard.dev/owner", "stackyard.dev/cost-center", "stackyard.dev/environment"}


def _audit(spec_file, mutate=None, replan=True):
    from environments import loader

    spec, spec_file, plan = plan_variant(spec_file, replan)
    if mutate is not None:
        mutate(plan)
    document, _ = loader.load_document(str(spec_file))
    return audit.audit_plan(spec, document, plan, as_of=AS_OF, spec_file=spec_file)


def _each(plan, type_):
    return [r for r in plan["resources"] if r["type"] == type_]


def _public_api(plan):
    for cluster in _each(plan, "aws:eks/cluster:Cluster"):
        cluster["inputs"]["vpcConfig"] = {**cluster["inputs"].get("vpcConfig", {}), "endpointPublicAccess": True}
        cluster["inputs"]["vpcConfig"].pop("publicAccessCidrs", None)


def _unencrypted_secrets(plan):
    for cluster in _each(plan, "aws:eks/cluster:Cluster"):
        cluster["inputs"].pop("encryptionConfig", None)


def _untagged(plan):
    for resource in plan["resources"]:
        if resource["type"].startswith("aws:"):
            resource["inputs"]["tags"] = {k: v for k, v in resource["inputs"].get("tags", {}).items()
                                          if k not in TAGGED}


EXPIRED = {"rule": "SY-WKL-010", "resource": "DaemonSet/monitoring/*", "owner": "ml-platform@example.com",
           "justification": "DCGM exporter needs host access to read GPU metrics", "expires": "2025-01-31"}
GOVERNANCE = {**EXPIRED, "rule": "SY-GOV-002", "expires": "2099-01-31"}

# id -> (spec changes, plan mutation, added resources, expected rule). Only spec changes outside
# `policy` change what the program builds, so only those variants are planned again.
VARIANTS = {
    "control-plane-logs-reduced": ({"cluster": {"logging": ["api", "audit"]}}, None, [], "SY-AWS-008"),
    "expired-exemption": ({"policy": {"exemptions": [EXPIRED]}}, None, [], "SY-GOV-002"),
    "governance-rule-exempted": ({"policy": {"exemptions": [GOVERNANCE]}}, None, [], "SY-GOV-001"),
    "eks-api-open-to-internet": ({}, _public_api, [], "SY-AWS-006"),
    "eks-secrets-not-encrypted": ({}, _unencrypted_secrets, [], "SY-AWS-007"),
    "ownership-tags-stripped": ({}, _untagged, [], "SY-AWS-009"),
    "privileged-deployment": ({}, None, [
        {"base": "deployment", "set": {"spec.template.spec.containers.0.securityContext.privileged": True}}],
        "SY-WKL-007"),
    "gpu-pod-without-toleration": ({}, None, [
        {"base": "gpu-deployment", "unset": ["spec.template.spec.tolerations"]}], "SY-GPU-002"),
    "image-from-unapproved-registry": ({}, None, [
        {"base": "deployment", "set": {"spec.template.spec.containers.0.image": "ghcr.io/someone/server:1.0"}}],
        "SY-WKL-005"),
    "single-replica-endpoint": ({}, None, [
        {"base": "inference-service", "set": {"spec.predictor.minReplicas": 1}}], "SY-SRV-001"),
    "canary-in-raw-deployment": ({}, None, [
        {"base": "inference-service", "set": {"spec.predictor.canaryTrafficPercent": 10}}], "SY-SRV-003"),
    "unencrypted-bucket": ({}, None, [{"base": "bucket"}], "SY-AWS-001"),
    "gpu-node-group-without-taint": ({}, None, [
        {"base": "gpu-node-group", "unset": ["inputs.taints"]}, {"base": "gpu-launch-template"}], "SY-GPU-004"),
    "unbounded-karpenter-gpu-pool": ({}, None, [{"base": "karpenter-gpu-pool", "unset": ["spec.limits"]}],
                                     "SY-GPU-007"),
    "launch-template-allows-imdsv1": ({}, None, [
        {"base": "gpu-launch-template", "set": {"inputs.metadataOptions.httpTokens": "optional"}}], "SY-AWS-005"),
    "unprotected-feature-registry": ({}, None, [{"base": "rds-instance", "protect": False}], "SY-AWS-010"),
}


@pytest.fixture(scope="module")
def prod_plan_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("prod-variants")


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_broken_prod_variant_fails_with_expected_rule(variant, prod_plan_dir):
    changes, mutate, added, expected = VARIANTS[variant]

    def breakage(plan):
        if mutate is not None:
            mutate(plan)
        plan["resources"] = add_resources(plan, added)["resources"]

    replan = bool(set(changes) - {"policy"})
    report = _audit(write_prod_variant(prod_plan_dir / variant, changes), mutate=breakage, replan=replan)
    blocking = {finding.rule.id for finding in report.evaluation.blocking}
    assert expected in blocking, f"{variant}: blocking rules {sorted(blocking)}"


def test_endpoint_with_one_replica_in_the_spec_fails(prod_plan_dir):
    import yaml

    endpoints = yaml.safe_load((ENVIRONMENTS / "prod.yaml").read_text())["endpoints"]
    endpoints[0]["replicas"] = {"min": 1, "max": 4}
    report = _audit(write_prod_variant(prod_plan_dir / "one-replica-endpoint", {"endpoints": endpoints}))
    assert any(r.type.endswith(":InferenceService") for r in report.resources.values())
    assert "SY-SRV-001" in {finding.rule.id for finding in report.evaluation.blocking}


def _shipped_report(environment):
    from environments import loader

    spec = loader.load(environment)
    document, spec_file = loader.load_document(environment)
    return audit.audit_plan(spec, document, plan_for(environment), spec_file=spec_file.resolve())


def test_shipped_prod_passes_every_mandatory_rule():
    report = _shipped_report("prod")
    blocking = [(f.rule.id, report.display(f.subject), f.message) for f in report.evaluation.blocking]
    assert blocking == []


@pytest.mark.parametrize("environment", SHIPPED_ENVIRONMENTS)
def test_shipped_environments_audit_and_configure_the_pack(environment, tmp_path):
    report = _shipped_report(environment)
    assert report.environment == environment and len(report.evaluation.controls) >= 40
    if environment in ("dev", "local"):  # advisory environments report but never block
        assert report.evaluation.passed and {c.level for c in report.evaluation.controls} == {"advisory"}
    config_file = tmp_path / "pack-config.json"
    assert run_cli("policy-config", environment, "--output", str(config_file)).returncode == 0
    config = json.loads(config_file.read_text())
    assert {entry["context"]["environment"] for entry in config.values()} == {environment}
    assert {entry["context"]["production"] for entry in config.values()} == {environment == "prod"}
    assert {rule: entry["enforcementLevel"] for rule, entry in config.items()} == {
        control.rule.id: control.level for control in report.evaluation.controls}
