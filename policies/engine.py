"""One verdict for every engine: run rules, apply exemptions, assign enforcement levels.

Standard library only. The offline audit calls `evaluate`; the CrossGuard
adapter calls `violations` per policy and lets Pulumi apply the level it was
configured with (`stackyard policy-config` writes the same `Levels`). Both
decide exemptions with `exemption_for`, so the two engines cannot disagree on
what is exempt.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Iterator, Mapping, Optional, Sequence

from policies.rules import RULES
from policies.rules.governance import GOVERNANCE_PREFIX, exemption_problems
from policies.rules.model import Context, Exemption, Resource, Rule

MANDATORY, ADVISORY, DISABLED = "mandatory", "advisory", "disabled"


@dataclass(frozen=True)
class Levels:
    """Enforcement of each rule in one environment.

    `default` is the environment's `policy.enforcement`: `mandatory` keeps every
    rule at its own default level, `advisory` demotes every rule to advisory.
    `overrides` (`policy.rules`) set single rules to mandatory, advisory or disabled.
    """

    default: str = MANDATORY
    overrides: Mapping[str, str] = field(default_factory=dict)

    def of(self, rule: Rule) -> str:
        if rule.id in self.overrides:
            return self.overrides[rule.id]
        return ADVISORY if self.default == ADVISORY else rule.enforcement


def exemption_for(rule_id: str, subject: str, resource: Optional[Resource], context: Context) -> Optional[Exemption]:
    """The valid, unexpired exemption covering `subject` for `rule_id`, if any.

    An exemption's `resource` is a glob matched against the subject's URN (or
    manifest id) and, for Kubernetes objects, against `Kind/namespace/name`.
    Governance findings cannot be exempted; incomplete or expired exemptions
    exempt nothing (and are findings of SY-GOV-001 / SY-GOV-002 themselves).
    """
    if rule_id.startswith(GOVERNANCE_PREFIX):
        return None
    today = context.as_of()
    for exemption in context.exemptions:
        if exemption.rule != rule_id or exemption_problems(exemption) or exemption.expired(today):
            continue
        if fnmatchcase(subject, exemption.resource):
            return exemption
        if resource is not None and resource.is_kubernetes_object and fnmatchcase(resource.object_ref,
                                                                                   exemption.resource):
            return exemption
    return None


def violations(rule: Rule, resources: Sequence[Resource], context: Context) -> Iterator[tuple[str, str]]:
    """(subject, message) of every violation of `rule` that no exemption covers."""
    by_urn = {resource.urn: resource for resource in resources}
    for subject, problems in sorted(rule.run(resources, context).items()):
        if problems and exemption_for(rule.id, subject, by_urn.get(subject), context) is None:
            for message in problems:
                yield subject, message


@dataclass(frozen=True)
class Finding:
    rule: Rule
    level: str
    subject: str  # a URN, a manifest object id, or spec:<path> for spec entries
    message: str
    exemption: Optional[Exemption] = None

    @property
    def blocking(self) -> bool:
        return self.level == MANDATORY and self.exemption is None

    @property
    def key(self) -> tuple[str, str]:
        """What makes two findings (of two plans of a change) the same one: the rule and the subject."""
        return (self.rule.id, self.subject)


@dataclass(frozen=True)
class Control:
    """One rule's outcome: what it examined, what failed, what was exempted."""

    rule: Rule
    level: str
    examined: tuple[str, ...]
    failing: tuple[str, ...]
    exempted: tuple[str, ...]

    @property
    def status(self) -> str:
        if self.level == DISABLED:
            return "disabled"
        if self.failing:
            return "failed"
        if self.exempted:
            return "exempted"
        if not self.examined:
            return "not applicable"
        return "passed"


@dataclass(frozen=True)
class Evaluation:
    controls: tuple[Control, ...]
    findings: tuple[Finding, ...]

    @property
    def blocking(self) -> list[Finding]:
        return [finding for finding in self.findings if finding.blocking]

    @property
    def passed(self) -> bool:
        return not self.blocking


def evaluate(resources: Sequence[Resource], context: Context, levels: Levels,
             rules: Sequence[Rule] = RULES) -> Evaluation:
    by_urn = {resource.urn: resource for resource in resources}
    controls, findings = [], []
    for rule in rules:
        level = levels.of(rule)
        if level == DISABLED:
            controls.append(Control(rule, level, (), (), ()))
            continue
        results = rule.run(resources, context)
        failing, exempted = [], []
        for subject, problems in sorted(results.items()):
            if not problems:
                continue
            exemption = exemption_for(rule.id, subject, by_urn.get(subject), context)
            (exempted if exemption else failing).append(subject)
            findings += [Finding(rule, level, subject, message, exemption) for message in problems]
        controls.append(Control(rule, level, tuple(sorted(results)), tuple(failing), tuple(exempted)))
    return Evaluation(tuple(controls), tuple(findings))
