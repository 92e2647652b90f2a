"""The Pod Security Standards rules against the PSS control list and Kyverno's pod-security test resources.

tests/upstream/kyverno__policies@b9c4317 holds, per PSS control, the good and bad
Pods, Deployments and CronJobs Kyverno tests its pod-security policies with and
the verdict Kyverno expects for each (see its PROVENANCE.md). Stackyard's rule
for that control must reach the same verdict on every object.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from policies import manifests
from policies.rules import RULES, RULES_BY_ID
from policies.rules.model import Context

UPSTREAM = Path(__file__).resolve().parent / "upstream"
KYVERNO = UPSTREAM / "kyverno__policies@b9c4317"
# Kyverno policy -> the Stackyard rule implementing the same PSS control; verdicts must agree both ways.
KYVERNO_POLICIES = {
    "baseline/disallow-host-namespaces": "SY-WKL-010",
    "baseline/disallow-host-path": "SY-WKL-010",
    "baseline/disallow-host-ports": "SY-WKL-015",
    "baseline/disallow-host-process": "SY-WKL-020",
    "baseline/disallow-privileged-containers": "SY-WKL-007",
    "baseline/disallow-proc-mount": "SY-WKL-017",
    "baseline/disallow-selinux": "SY-WKL-018",
    "baseline/restrict-apparmor-profiles": "SY-WKL-019",
    "baseline/restrict-sysctls": "SY-WKL-016",
    "restricted/disallow-capabilities-strict": "SY-WKL-009",
    "restricted/disallow-privilege-escalation": "SY-WKL-008",
    "restricted/require-run-as-nonroot": "SY-WKL-006",
    "restricted/restrict-seccomp-strict": "SY-WKL-011",
    "restricted/restrict-volume-types": "SY-WKL-021",
}
# Every control of the Pod Security Standards (Kubernetes 1.33), by level.
PSS_CONTROLS = {
    "baseline": ("HostProcess", "Host Namespaces", "Privileged Containers", "Capabilities", "HostPath Volumes",
                 "Host Ports", "AppArmor", "SELinux", "/proc Mount Type", "Seccomp", "Sysctls"),
    "restricted": ("Volume Types", "Privilege Escalation", "Running as Non-root", "Running as Non-root user",
                   "Seccomp", "Capabilities"),
}


def _claimed_controls() -> set[tuple[str, str]]:
    claimed = set()
    for rule in RULES:
        if rule.frameworks.pss:
            level, controls = rule.frameworks.pss.split(": ", 1)
            claimed |= {(level, control) for control in controls.split(", ")}
    return claimed


def test_the_rules_cover_every_baseline_and_restricted_control():
    claimed = _claimed_controls()
    # A restricted control is the stricter form of the baseline control of the same name (Capabilities, Seccomp).
    covered = claimed | {("baseline", control) for level, control in claimed if level == "restricted"}
    wanted = {(level, control) for level, controls in PSS_CONTROLS.items() for control in controls}
    assert wanted - covered == set()
    assert claimed <= wanted, "a rule claims a control the Pod Security Standards do not define"


def _expectations(policy_dir: Path) -> dict[tuple[str, str], str]:
    """(kind, name) -> the policy's verdict on the object, where Kyverno's test settles it.

    Kyverno lists results per rule of a policy; an object fails the policy if it fails one rule, and passes
    only if it is listed as passing every rule (disallow-capabilities-strict's "addcap-good" objects pass
    the adding rule but are not tested against require-drop-all, so they settle nothing for the control).
    """
    test = yaml.safe_load((policy_dir / "kyverno-test.yaml").read_text())
    rules = {result["rule"] for result in test["results"]}
    seen: dict[tuple[str, str], dict[str, str]] = {}
    for result in test["results"]:
        for name in result["resources"]:
            seen.setdefault((result["kind"], name), {})[result["rule"]] = result["result"]
    return {key: "fail" if "fail" in by_rule.values() else "pass"
            for key, by_rule in seen.items() if "fail" in by_rule.values() or set(by_rule) == rules}


@pytest.mark.parametrize("policy", sorted(KYVERNO_POLICIES))
def test_rule_agrees_with_kyverno(policy):
    rule = RULES_BY_ID[KYVERNO_POLICIES[policy]]
    expected = _expectations(KYVERNO / policy)
    loaded = manifests.load(KYVERNO / policy / "resource.yaml")
    # Kyverno's objects carry no namespace; the system namespaces exempt nothing here.
    context = Context(system_namespaces=())
    verdicts = {}
    for resource in loaded.resources:
        problems = rule.check(resource, context)
        assert problems is not None, f"{rule.id} did not examine {resource.kind}/{resource.object_name}"
        verdicts[(resource.kind, resource.object_name)] = "fail" if problems else "pass"
    assert set(expected) <= set(verdicts), sorted(set(expected) - set(verdicts))
    disagreements = {key: (verdicts[key], want) for key, want in expected.items() if verdicts[key] != want}
    assert disagreements == {}, f"{rule.id} vs Kyverno {policy} (ours, Kyverno's): {disagreements}"
    assert "fail" in expected.values() and len(expected) >= 10, "Kyverno's test settles too little to compare"


# What each CIS Kubernetes recommendation a rule claims is about: a word of its title in the benchmark.
_CIS_SUBJECTS = {"5.1.1": "cluster-admin", "5.1.2": "secrets", "5.1.3": "wildcard", "5.1.6": "Service Account Tokens",
                 "5.1.8": "Impersonate", "5.2.2": "privileged", "5.2.3": "host process ID", "5.2.4": "host IPC",
                 "5.2.5": "host network", "5.2.6": "allowPrivilegeEscalation", "5.2.7": "root containers",
                 "5.2.8": "NET_RAW", "5.2.9": "added capabilities", "5.2.10": "capabilities assigned",
                 "5.2.11": "Windows HostProcess", "5.2.12": "HostPath", "5.2.13": "HostPorts", "5.3.2": "NetworkPolicies",
                 "5.7.2": "seccomp", "5.7.3": "SecurityContext"}


def test_every_cis_kubernetes_id_is_the_benchmark_s_recommendation_on_that_subject():
    # kube-bench's definition of CIS Kubernetes Benchmark v1.9 (vendored), not ids from memory.
    (policies,) = [document for document in yaml.safe_load_all(
        (UPSTREAM / "aquasecurity__kube-bench@v0.15.6" / "cfg" / "cis-1.9" / "policies.yaml").read_text())]
    titles = {check["id"]: check["text"] for group in policies["groups"] for check in group.get("checks", [])}
    claimed = {(rule.id, cis) for rule in RULES for cis in rule.frameworks.cis_kubernetes}
    assert claimed and {cis for _rule, cis in claimed} <= set(_CIS_SUBJECTS)
    for rule_id, cis in sorted(claimed):
        assert cis in titles, f"{rule_id}: {cis} is not a CIS Kubernetes v1.9 recommendation"
        assert _CIS_SUBJECTS[cis].lower() in titles[cis].lower(), (rule_id, cis, titles[cis])
