"""Every policy rule against its passing and failing fixtures, and the rule table itself."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from policies import engine
from policies.rules import RULES, RULES_BY_ID, gpu, workloads
from policies.rules.model import SEVERITIES, Context, Resource
from policy_cases import all_cases, bases, _plan_entries

CASES = all_cases()
REPO = Path(__file__).resolve().parent.parent


def _run(case):
    rule = RULES_BY_ID[case.rule]
    resources = [Resource.from_plan_entry(entry) for entry in case.resources]
    return rule.run(resources, Context.from_json(case.context))


def test_every_rule_has_a_passing_and_a_failing_fixture():
    for rule in RULES:
        expectations = {case.expect for case in CASES if case.rule == rule.id}
        assert expectations == {"pass", "fail"}, f"{rule.id} has fixtures {sorted(expectations)}"
    assert {case.rule for case in CASES} <= set(RULES_BY_ID), "a fixture names an unknown rule"


@pytest.mark.parametrize("case", [c for c in CASES if c.expect == "pass"], ids=lambda c: c.id)
def test_passing_fixture(case):
    results = _run(case)
    assert results, f"{case.id}: the rule examined nothing, so the fixture proves nothing"
    assert {subject: problems for subject, problems in results.items() if problems} == {}


@pytest.mark.parametrize("case", [c for c in CASES if c.expect == "fail"], ids=lambda c: c.id)
def test_failing_fixture(case):
    problems = [problem for found in _run(case).values() for problem in found]
    assert problems, f"{case.id}: expected a violation"
    if case.message:
        assert any(case.message in problem for problem in problems), problems


def test_compliant_bases_together_pass_every_rule_in_production():
    """The fixtures' starting points form a compliant production stack: no rule objects to any of them."""
    specs = [{"base": name} for name in bases()]
    resources = [Resource.from_plan_entry(entry) for entry in _plan_entries(specs)]
    context = Context.from_json({
        "environment": "prod", "production": True, "today": "2025-06-01",
        "allowedRegistries": ["docker.io/kserve", "nvcr.io/nvidia", "quay.io/feastdev"],
        "gpuPools": ["a10g-inference", "a100-training"],
        "models": {"recsys-ranker": {"endpoint": "recsys-ranker", "model": "recsys-ranker", "version": 7,
                                     "source": "s3://stackyard-prod-models/recsys-ranker/7",
                                     "modelCard": "https://wiki.example.com/models/recsys-ranker",
                                     "tags": {"stackyard.approval.by": "ml-leads@example.com",
                                              "stackyard.approval.at": "2026-11-30T10:00:00Z",
                                              "stackyard.approval.evidence": "https://wiki.example.com/evals/7"}}},
    })
    evaluation = engine.evaluate(resources, context, engine.Levels())
    assert [(f.rule.id, f.subject, f.message) for f in evaluation.findings] == []
    applicable = {c.rule.id for c in evaluation.controls if c.status == "passed"}
    # Exemption rules need exemptions and the canary rule a canary; every other rule saw something here.
    assert set(RULES_BY_ID) - applicable == {"SY-GOV-001", "SY-GOV-002", "SY-SRV-003"}


def test_rule_table_is_complete():
    for rule in RULES:
        assert re.fullmatch(r"SY-(GPU|WKL|RBAC|NET|SRV|AWS|GOV)-\d{3}", rule.id)
        assert rule.severity in SEVERITIES and rule.enforcement in ("mandatory", "advisory")
        assert rule.title and "\n" not in rule.title and len(rule.title) <= 100
        assert rule.rationale and rule.remediation
        assert rule.frameworks.labels(), f"{rule.id} maps to no framework"


def test_rules_import_only_the_standard_library():
    """The CrossGuard pack's environment has pulumi-policy and nothing of ours but these modules."""
    allowed_prefixes = ("policies.rules", "__future__")
    for path in sorted((REPO / "policies" / "rules").glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
            for name in names:
                top = name.split(".")[0]
                assert name.startswith(allowed_prefixes) or top in _stdlib(), f"{path.name} imports {name}"


def _stdlib() -> frozenset[str]:
    import sys

    return frozenset(sys.stdlib_module_names)


def test_gpu_contract_matches_the_scheduling_helper():
    from environments import gpu_scheduling

    assert (gpu.GPU_RESOURCE, gpu.GPU_TAINT_KEY, gpu.GPU_TAINT_VALUE, gpu.GPU_TAINT_EFFECT, gpu.POOL_LABEL) == (
        gpu_scheduling.GPU_RESOURCE, gpu_scheduling.GPU_TAINT_KEY, gpu_scheduling.GPU_TAINT_VALUE,
        gpu_scheduling.GPU_TAINT_EFFECT, gpu_scheduling.POOL_LABEL)
    # The rules keep their own copy (they import only the standard library): every label both name agrees.
    assert gpu.GPU_PRESENT_LABEL == gpu_scheduling.GPU_PRESENT_LABEL
    assert gpu_scheduling.ACCELERATOR_LABEL in gpu.ACCELERATOR_LABELS
    scheduling = gpu_scheduling.gpu_scheduling("a10g-inference", 2)
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "ml"},
           "spec": {"nodeSelector": scheduling.node_selector, "tolerations": scheduling.tolerations,
                    "containers": [{"name": "c", "image": "nvcr.io/nvidia/cuda:12.4.1",
                                    "resources": {"limits": scheduling.limits}}]}}
    resource = Resource(urn="urn:x", type="kubernetes:core/v1:Pod", name="p", inputs=pod)
    context = Context(gpu_pools=("a10g-inference",))
    for rule_id in ("SY-GPU-001", "SY-GPU-002", "SY-GPU-003", "SY-GPU-005"):
        assert RULES_BY_ID[rule_id].check(resource, context) in ([], None), rule_id


def test_ownership_labels_match_the_components():
    from components.ownership import Ownership

    labels = Ownership("prod", "a@example.com", "recsys", "cc-1").labels("serving")
    tags = Ownership("prod", "a@example.com", "recsys", "cc-1").tags()
    assert all(workloads.OWNERSHIP_PREFIX + key in labels for key in workloads.OWNERSHIP_LABELS)
    from policies.rules import aws

    assert all(aws.OWNERSHIP_PREFIX + key in tags for key in aws.OWNERSHIP_TAGS)
