"""Every IAM policy and trust document in every shipped plan, linted with parliament.

A finding fails the test unless ACCEPTED lists it, with the reason it is not a fault here.
"""

from __future__ import annotations

import functools
import importlib.resources
import json
import sys
import types
from dataclasses import dataclass
from typing import Callable

import pytest

from conftest import SHIPPED_ENVIRONMENTS, plan_for

# Where IAM documents live in the plan: resource type -> input holding the JSON.
DOCUMENTS = {
    "aws:iam/role:Role": "assumeRolePolicy",  # trust documents
    "aws:iam/rolePolicy:RolePolicy": "policy",
    "aws:iam/policy:Policy": "policy",
    "aws:s3/bucketPolicy:BucketPolicy": "policy",
    "aws:sqs/queuePolicy:QueuePolicy": "policy",
}
TRUST = "aws:iam/role:Role"


@dataclass(frozen=True)
class Accepted:
    issue: str
    applies: Callable[[str, str, object], bool]  # (resource type, resource name, finding detail)
    reason: str


def _actions(detail) -> set[str]:
    """The actions a finding names: RESOURCE_STAR lists them, RESOURCE_MISMATCH as {action, required_format}."""
    return {item["action"] if isinstance(item, dict) else item for item in detail or ()}


def _on_role(role_suffix: str, actions: set[str], *, exactly: bool) -> Callable[[str, str, object], bool]:
    """A finding on the resource named ...role_suffix that names exactly these actions, or (exactly=False)
    some of them and no other."""
    def applies(type_: str, name: str, detail: object) -> bool:
        if not name.endswith(role_suffix):
            return False
        found = _actions(detail)
        return found == actions if exactly else found <= actions
    return applies


ACCEPTED: tuple[Accepted, ...] = (
    Accepted("MALFORMED", lambda type_, name, detail: type_ == TRUST
             and detail == "Statement contains neither Resource nor NotResource",
             "a role's trust document names no Resource (IAM refuses one there); parliament reads every "
             "document as an identity policy"),
    Accepted("UNKNOWN_FEDERATION_SOURCE", lambda type_, name, detail: type_ == TRUST
             and ":oidc-provider/oidc.eks." in str(detail),
             "IRSA: the federated principal is the cluster's IAM OIDC provider; parliament knows only "
             "Cognito, Amazon, Facebook, Google and SAML providers"),
    Accepted("RESOURCE_MISMATCH",
             _on_role("-karpenter-controller", {"ec2:RunInstances", "ec2:CreateFleet"}, exactly=False),
             "Karpenter's controller policy (upstream's) grants RunInstances/CreateFleet on each resource "
             "type in its own statement, with its own tag conditions; parliament checks one statement at a time"),
    Accepted("RESOURCE_MISMATCH", _on_role("-karpenter-controller", {"ssm:GetParameter"}, exactly=True),
             "the EKS AMI ids are AWS's public parameters (parameter/aws/service/*), whose ARNs have no account"),
    Accepted("RESOURCE_STAR", _on_role("-cluster-autoscaler-role", {
        "autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"}, exactly=False),
             "cluster-autoscaler's documented policy: the scaling actions are limited to groups carrying the "
             "cluster's ownership tag (the Condition), not by ARN: the groups are found at run time"),
    Accepted("RESOURCE_STAR", _on_role("-cluster-autoscaler-role", {"eks:DescribeNodegroup"}, exactly=True),
             "cluster-autoscaler reads node group templates of node groups it discovers at run time (read only)"),
    Accepted("RESOURCE_STAR", _on_role("-karpenter-controller", {"iam:GetInstanceProfile"}, exactly=True),
             "Karpenter's controller policy: instance profiles are created by Karpenter at run time; "
             "GetInstanceProfile reads only"),
)


@functools.lru_cache(maxsize=1)
def parliament():
    """parliament 1.6 imports pkg_resources for two file paths; setuptools 81+ no longer ships it."""
    try:
        import pkg_resources  # noqa: F401
    except ImportError:
        shim = types.ModuleType("pkg_resources")
        shim.resource_filename = lambda package, name: str(importlib.resources.files(package) / name)
        sys.modules["pkg_resources"] = shim
    import parliament as linter
    return linter


def documents(environment: str) -> list[tuple[str, str, str]]:
    """(resource type, resource name, JSON) of every IAM document in the plan."""
    return [(r["type"], r["name"], r["inputs"][DOCUMENTS[r["type"]]]) for r in plan_for(environment)["resources"]
            if r["type"] in DOCUMENTS and isinstance(r["inputs"].get(DOCUMENTS[r["type"]]), str)]


def findings(type_: str, name: str, document: str) -> list[tuple[str, object, str]]:
    """(issue, detail, accepted reason or "") of every parliament finding on the document."""
    linter = parliament()
    policy = linter.analyze_policy_string(document, ignore_private_auditors=True)
    found = []
    for finding in policy.findings:
        reasons = [a.reason for a in ACCEPTED if a.issue == finding.issue and a.applies(type_, name, finding.detail)]
        found.append((finding.issue, finding.detail, reasons[0] if reasons else ""))
    return found


@pytest.mark.parametrize("environment", SHIPPED_ENVIRONMENTS)
def test_every_iam_document_passes_parliament(environment):
    assert [f"{name}: {issue} {json.dumps(detail)[:300]}" for type_, name, document in documents(environment)
            for issue, detail, reason in findings(type_, name, document) if not reason] == []


def test_every_accepted_finding_still_occurs():
    used = {reason for environment in SHIPPED_ENVIRONMENTS for type_, name, document in documents(environment)
            for _issue, _detail, reason in findings(type_, name, document) if reason}
    assert [a.reason for a in ACCEPTED if a.reason not in used] == []


def test_a_misspelled_action_and_a_wildcard_admin_grant_are_found():
    policy = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:GetObjct", "Resource": "arn:aws:s3:::bucket/*"},
        {"Effect": "Allow", "Action": "iam:*", "Resource": "*"}]})
    issues = {issue for issue, _detail, reason in findings("aws:iam/rolePolicy:RolePolicy", "x-policy", policy)
              if not reason}
    assert "UNKNOWN_ACTION" in issues
    assert issues - {"UNKNOWN_ACTION"}, issues
