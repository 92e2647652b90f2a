"""Seams to the policy audit, the parity check and the GPU cost model, for the change report.

Each source is another part of Stackyard, imported directly: a renamed or
removed function fails the import, and with it the tests, instead of turning
into a line in a report. `Unavailable(reason)` is only for what a side of a
change cannot answer (a parity contract that does not load, an environment that
cannot be planned); the report says so in one line and never invents findings
or prices.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Union

from environments import loader
from environments.errors import Location, SpecError
from environments.parity_contract import load_contract
from policies.audit import audit_plan
from policies.engine import Finding
from policies.parity import compact, compare
from stacks.cost import max_hourly_cost


@dataclass(frozen=True)
class Unavailable:
    reason: str


@dataclass(frozen=True)
class ParityDifference:
    path: str
    verdict: str
    message: str
    pair: str = ""

    @property
    def key(self) -> tuple[str, str]:
        return (self.pair, self.path)


@dataclass(frozen=True)
class PolicyReview:
    """One side's policy audit, as `stackyard audit` makes it."""

    findings: list[Finding]  # every finding, exempted ones included
    locations: Mapping[str, Location] = field(default_factory=dict)  # subject -> where the spec sets it


def policy_findings(spec: Any, plan: dict, spec_file: Path) -> PolicyReview:
    """Every finding of the policy audit over one side's plan, and where the spec sets each.

    The same evaluation `stackyard audit` makes (policies.audit.audit_plan):
    the spec's levels and exemptions and the registry lock beside `spec_file`,
    so the change report's counts are the audit's counts.
    """
    document, _ = loader.load_document(str(spec_file))
    report = audit_plan(spec, document, plan, spec_file=spec_file)
    findings = sorted(report.evaluation.findings, key=lambda f: (f.rule.id, f.subject, f.message))
    return PolicyReview(findings, {f.subject: report.location(f.subject) for f in findings
                                   if report.location(f.subject) is not None})


def parity_differences(environment: str, environments_dir: Path) -> Union[list[ParityDifference], Unavailable]:
    """Every spec difference of each contract pair the environment is in, judged by that side's contract.

    Spec paths only: `stackyard parity`, which the pull-request workflow runs,
    also compares the two environments' plans.
    """
    contract_file = environments_dir / "parity.yaml"
    if not contract_file.is_file():
        return []
    differences = []
    try:
        contract = load_contract(contract_file)
        for pair in contract.pairs:
            if environment not in (pair.source, pair.target):
                continue
            documents = [loader.load_document(str(environments_dir / f"{name}.yaml"))[0]
                         for name in (pair.source, pair.target)]
            for difference in compare(pair, contract.file, *documents).differences:
                differences.append(ParityDifference(
                    difference.path_text, difference.verdict,
                    f"{compact(difference.source_value)} → {compact(difference.target_value)}: {difference.reason}",
                    f"{pair.source}:{pair.target}"))
    except SpecError as error:
        return Unavailable(f"parity cannot be judged: {error.problems[0]}")
    return sorted(differences, key=lambda d: (d.pair, d.path))


def gpu_cost(spec: Any) -> dict[str, float]:
    """Pool -> maximum hourly USD of one side (stacks/cost.py)."""
    return {str(pool): float(usd) for pool, usd in sorted(max_hourly_cost(spec).items())}


@dataclass(frozen=True)
class SideReview:
    """What the sources say about one side (base or head) of a change."""

    policy: Union[PolicyReview, Unavailable]
    parity: Union[list[ParityDifference], Unavailable]
    cost: Union[dict[str, float], Unavailable]


EMPTY_SIDE = SideReview(policy=PolicyReview([]), parity=[], cost={})  # an environment that does not exist on that side


def unavailable_side(reason: str) -> SideReview:
    return SideReview(policy=Unavailable(reason), parity=Unavailable(reason), cost=Unavailable(reason))


def review_side(spec: Any, plan: dict, spec_file: Path, environments_dir: Path) -> SideReview:
    """Ask every source about one side of the change (`plan` is that side's plan of `spec_file`)."""
    return SideReview(policy=policy_findings(spec, plan, spec_file),
                      parity=parity_differences(spec.name, environments_dir),
                      cost=gpu_cost(spec))


def new_and_fixed(base: Iterable[Any], head: Iterable[Any]) -> tuple[list[Any], list[Any]]:
    """(in head but not base, in base but not head), by each item's key."""
    base_keys = {item.key for item in base}
    head_keys = {item.key for item in head}
    return ([item for item in head if item.key not in base_keys],
            [item for item in base if item.key not in head_keys])
