"""Governance rules: exemptions are decisions with an owner and an end, and inputs are readable.

Exemptions are not resources; their findings are about `spec:policy.exemptions[i]`,
which reports place at that entry of the environment file.
"""

from __future__ import annotations

import re
from typing import Optional, Sequence

from policies.rules.kube import malformed_pod_spec
from policies.rules.model import STACK_SCOPE, Context, Exemption, Frameworks, Resource, Rule

RULE_ID = re.compile(r"^SY-[A-Z]+-[0-9]{3}\Z")
GOVERNANCE_PREFIX = "SY-GOV-"
MIN_JUSTIFICATION = 10
# Documents of a manifest audit that could not be read become resources of this type.
UNREADABLE_MANIFEST = "stackyard:manifest:Unreadable"


def exemption_subject(index: int) -> str:
    return f"spec:policy.exemptions[{index}]"


def _known_rule_ids() -> set[str]:
    from policies.rules import RULES_BY_ID  # the registry imports this module

    return set(RULES_BY_ID)


def _describe(exemption: Exemption) -> str:
    return f"exemption of {exemption.rule or '<no rule>'} for {exemption.resource or '<no resource>'!r}"


def exemption_problems(exemption: Exemption) -> list[str]:
    """What makes an exemption incomplete; an incomplete exemption exempts nothing."""
    problems = []
    if not RULE_ID.match(exemption.rule):
        problems.append(f"{_describe(exemption)} names no rule id (SY-XXX-000)")
    elif exemption.rule not in _known_rule_ids():
        problems.append(f"{_describe(exemption)} names an unknown rule {exemption.rule}")
    elif exemption.rule.startswith(GOVERNANCE_PREFIX):
        problems.append(f"{_describe(exemption)}: governance rules cannot be exempted")
    if not exemption.resource.strip():
        problems.append(f"{_describe(exemption)} has no resource selector (a URN glob or Kind/namespace/name)")
    if len(exemption.justification.strip()) < MIN_JUSTIFICATION:
        problems.append(f"{_describe(exemption)} has no justification (at least {MIN_JUSTIFICATION} characters)")
    if not exemption.owner.strip():
        problems.append(f"{_describe(exemption)} names no owner")
    if exemption.expiry() is None:
        problems.append(f"{_describe(exemption)} has no valid expiry date (YYYY-MM-DD), found {exemption.expires!r}")
    return problems


def exemptions_complete(resources: Sequence[Resource], context: Context) -> dict[str, list[str]]:
    return {exemption_subject(index): exemption_problems(exemption)
            for index, exemption in enumerate(context.exemptions)}


def exemptions_not_expired(resources: Sequence[Resource], context: Context) -> dict[str, list[str]]:
    today = context.as_of()
    results = {}
    for index, exemption in enumerate(context.exemptions):
        if exemption.expiry() is None:
            continue
        results[exemption_subject(index)] = [
            f"{_describe(exemption)} (owner {exemption.owner}) expired on {exemption.expires}; renew it with a "
            "new justification or fix the violations it covered"] if exemption.expired(today) else []
    return results


def manifests_readable(resource: Resource, context: Context) -> Optional[list[str]]:
    if resource.type == UNREADABLE_MANIFEST:
        return [str(resource.inputs.get("error") or "the document could not be read")]
    # A workload whose pod spec the API server would refuse must not pass every rule vacuously.
    return malformed_pod_spec(resource) if resource.is_kubernetes_object else None


RULES = (
    Rule("SY-GOV-001", "Every exemption names a rule, a resource selector, a justification, an owner and an expiry",
         "medium", "mandatory",
         "An exemption is a risk decision; without an owner and an end date it becomes a permanent, "
         "unowned hole that no audit can question.",
         "Complete policy.exemptions[] entries: rule (a known, non-governance rule id), resource, "
         "justification, owner, expires (YYYY-MM-DD).",
         Frameworks(nist_ai_rmf=("GOVERN 1.4", "GOVERN 2.1")), exemptions_complete, STACK_SCOPE),
    Rule("SY-GOV-002", "No exemption has expired", "high", "mandatory",
         "An expired exemption means the accepted risk was due for review and nobody reviewed it.",
         "Renew the exemption (new expiry, fresh justification) or remove it and fix what it covered.",
         Frameworks(nist_ai_rmf=("GOVERN 1.5",)), exemptions_not_expired, STACK_SCOPE),
    Rule("SY-GOV-003", "Every manifest document is a readable Kubernetes object with a well-formed pod spec",
         "medium", "mandatory",
         "A document the audit cannot read is a document no rule has checked; a pod spec of the wrong shape "
         "(containers as a mapping, a string where a boolean belongs) would pass every rule unread.",
         "Fix the YAML/JSON syntax, give the object its apiVersion, kind and metadata, and write pod specs "
         "the way the API server accepts them (lists as lists, booleans and integers unquoted).",
         Frameworks(nist_ai_rmf=("GOVERN 1.4",)), manifests_readable),
)
