"""What a change does: two resource graphs in, resource-level and property-level changes out.

`diff_plans(base, head)` compares two offline plans (plan.json documents) by
URN: a URN only in the head is created, only in the base deleted, in both
with different inputs updated, or replaced when a replace-on-change property
changed (stacks/resource_types.yaml), when its provider is replaced, or when
it moves to another provider. The data-loss guard then looks at every delete
and replacement of a stateful or protected resource and checks it against the
acknowledgements.

Everything here is pure: plans and acknowledgements in, frozen values out.
`pulumi preview --json` output is turned into the same ResourceChange values
by stacks/preview_json.py, so both feed one report.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence

from stacks.plan import component_of
from stacks.property_paths import ParseError, format_path, leaf_changes, overlaps, parse_path
from stacks.resource_rules import RuleTable

OPS = ("create", "update", "replace", "delete")
PROTECTED = "protected (protect=true), so Pulumi refuses to delete it"


@dataclass(frozen=True)
class PropertyChange:
    path: str  # Pulumi property path
    kind: str  # add | delete | update
    old: Any = None
    new: Any = None
    replaces: bool = False  # this property forces the replacement


@dataclass(frozen=True)
class ResourceChange:
    urn: str
    type: str
    name: str
    component: str
    op: str  # one of OPS
    properties: tuple[PropertyChange, ...] = ()
    replace_reasons: tuple[str, ...] = ()
    dependencies: tuple[str, ...] = ()
    stateful: Optional[str] = None  # what data a delete or replacement loses
    rename_of: Optional[str] = None  # a delete whose inputs reappear under this created URN
    uses: tuple[str, ...] = ()  # the other components it depends on
    protection: Optional[str] = None  # protect=true before the change: "kept" or "lifted" by it


def protection_of(op: str, old_protect: bool, new_protect: bool) -> Optional[str]:
    """Whether a protected resource stays protected through a delete or replacement.

    Pulumi refuses to delete or replace a resource whose state says protect=true.
    A replacement whose new declaration drops the flag lifts it; a deleted
    resource is no longer declared, so its protection is kept (unprotect it in
    an earlier change, or with `pulumi state unprotect`).
    """
    if not old_protect or op not in ("delete", "replace"):
        return None
    return "lifted" if op == "replace" and not new_protect else "kept"


@dataclass(frozen=True)
class PlanDiff:
    changes: tuple[ResourceChange, ...]
    unchanged: int
    unpredictable_types: tuple[str, ...] = ()  # updated types with no replacement rules

    def count(self, op: str) -> int:
        return sum(1 for change in self.changes if change.op == op)


# --- URNs --------------------------------------------------------------------

def urn_parts(urn: str) -> tuple[str, str, list[str], str]:
    """(stack, project, qualified type chain, name) of `urn:pulumi:stack::project::a$b$type::name`."""
    body = urn[len("urn:pulumi:"):] if urn.startswith("urn:pulumi:") else urn
    pieces = body.split("::", 3)
    if len(pieces) != 4:
        return "", "", [urn], urn
    stack, project, qualified, name = pieces
    return stack, project, qualified.split("$"), name


def component_of_urn(urn: str) -> str:
    """The capability component a resource belongs to, from a real Pulumi URN.

    A URN made by the engine carries the whole chain of parent types
    (`stackyard:platform:Platform$stackyard:serving:Serving$kubernetes:...`):
    the component is the type right under the Platform. (The SDK's mock
    monitor puts only the direct parent in a URN, so offline plans find the
    component through `parent` links instead: stacks.plan.component_of.)
    """
    _, _, chain, _ = urn_parts(urn)
    if "stackyard:platform:Platform" in chain:
        index = chain.index("stackyard:platform:Platform")
        return chain[min(index + 1, len(chain) - 1)].rsplit(":", 1)[-1]
    return "Stack"


# --- property changes --------------------------------------------------------

def property_changes(old: Mapping[str, Any], new: Mapping[str, Any],
                     replace_reasons: Sequence[str] = ()) -> tuple[PropertyChange, ...]:
    rule_paths = [parse_path(reason) for reason in replace_reasons if _is_path(reason)]
    return tuple(
        PropertyChange(format_path(path), kind, before, after,
                       replaces=any(overlaps(rule, path) or overlaps(path, rule) for rule in rule_paths))
        for path, kind, before, after in leaf_changes(old, new))


def _is_path(reason: str) -> bool:
    try:
        parse_path(reason)
    except ParseError:
        return False
    return True


# --- plans -------------------------------------------------------------------

def diff_plans(base: Mapping[str, Any], head: Mapping[str, Any], rules: RuleTable) -> PlanDiff:
    """Every resource the head plan creates, updates, replaces or deletes relative to the base plan."""
    old_by_urn = {resource["urn"]: resource for resource in base.get("resources", [])}
    new_by_urn = {resource["urn"]: resource for resource in head.get("resources", [])}

    def component(urn: str) -> str:
        by_urn = new_by_urn if urn in new_by_urn else old_by_urn
        return component_of(by_urn[urn], by_urn) if urn in by_urn else ""

    replaced_providers: dict[str, str] = {}
    updates: dict[str, tuple[str, list[str]]] = {}
    unchanged = 0
    # Providers first: replacing one replaces every resource it manages.
    for urn in sorted(old_by_urn.keys() & new_by_urn.keys(), key=lambda u: not _is_provider(u)):
        old, new = old_by_urn[urn], new_by_urn[urn]
        reasons = rules.replacement_reasons(old["type"], old["inputs"], new["inputs"])
        if old.get("provider") != new.get("provider"):
            reasons.append(f"its provider changes from {_name(old.get('provider'))} to {_name(new.get('provider'))}")
        elif new.get("provider") in replaced_providers:
            reasons.append(f"its provider {replaced_providers[new['provider']]} is replaced")
        if reasons:
            updates[urn] = ("replace", reasons)
            if _is_provider(urn):
                replaced_providers[urn] = _name(urn)
        elif old["inputs"] != new["inputs"]:
            updates[urn] = ("update", [])
        else:
            unchanged += 1

    changes: list[ResourceChange] = []
    unpredictable: set[str] = set()
    for urn, (op, reasons) in updates.items():
        old, new = old_by_urn[urn], new_by_urn[urn]
        if not rules.known(new["type"]):
            unpredictable.add(new["type"])
        changes.append(_change(new, op, rules, component, old=old, reasons=reasons))
    created = [new_by_urn[urn] for urn in sorted(new_by_urn.keys() - old_by_urn.keys())]
    for resource in created:
        changes.append(_change(resource, "create", rules, component))
    for urn in old_by_urn.keys() - new_by_urn.keys():
        old = old_by_urn[urn]
        twin = next((r["urn"] for r in created if r["type"] == old["type"] and r["inputs"] == old["inputs"]), None)
        changes.append(_change(old, "delete", rules, component, old=old, rename_of=twin))
    return PlanDiff(changes=tuple(sorted(changes, key=_order)), unchanged=unchanged,
                    unpredictable_types=tuple(sorted(unpredictable)))


def _change(resource: Mapping[str, Any], op: str, rules: RuleTable, component: Callable[[str], str],
            old: Optional[Mapping[str, Any]] = None, reasons: Sequence[str] = (),
            rename_of: Optional[str] = None) -> ResourceChange:
    properties: tuple[PropertyChange, ...] = ()
    if op in ("update", "replace") and old is not None:
        properties = property_changes(old["inputs"], resource["inputs"], reasons)
    protected = bool(old and old.get("protect"))
    own = component(resource["urn"])
    dependencies = _dependencies(resource)
    return ResourceChange(
        urn=resource["urn"], type=resource["type"], name=resource.get("name") or urn_parts(resource["urn"])[3],
        component=own, op=op, properties=properties,
        replace_reasons=tuple(reasons), dependencies=dependencies,
        stateful=rules.stateful_reason(resource["type"]) or (PROTECTED if protected else None),
        rename_of=rename_of, uses=uses_of(own, dependencies, component),
        protection=protection_of(op, protected, bool(resource.get("protect"))))


def uses_of(own: str, dependencies: Sequence[str], component: Callable[[str], str]) -> tuple[str, ...]:
    """The other components a resource depends on."""
    return tuple(sorted({component(d) for d in dependencies} - {own, "", "Stack"}))


def _dependencies(resource: Mapping[str, Any]) -> tuple[str, ...]:
    """What a resource depends on, its provider included (replacing a provider replaces what it manages)."""
    provider = resource.get("provider")
    return tuple(resource.get("dependencies", ())) + ((provider,) if provider else ())


def _is_provider(urn: str) -> bool:
    return "pulumi:providers:" in urn_parts(urn)[2][-1]


def _name(urn: Optional[str]) -> str:
    return urn_parts(urn)[3] if urn else "(default provider)"


def _order(change: ResourceChange) -> tuple:
    return (change.component, OPS.index(change.op), change.urn)


# --- the data-loss guard -----------------------------------------------------

@dataclass(frozen=True)
class Acknowledgement:
    resource: str  # glob over URNs or logical names
    reason: str
    by: str
    source: str  # where it was given: the spec file, or "command line"

    def matches(self, change: ResourceChange) -> bool:
        return fnmatch.fnmatchcase(change.urn, self.resource) or fnmatch.fnmatchcase(change.name, self.resource)


@dataclass(frozen=True)
class DataLossRisk:
    change: ResourceChange
    acknowledgement: Optional[Acknowledgement] = None

    @property
    def blocked(self) -> bool:
        """Unacknowledged, or still protected: an acknowledgement cannot make Pulumi delete a protected resource."""
        return self.acknowledgement is None or self.change.protection == "kept"


@dataclass(frozen=True)
class Verdict:
    risks: tuple[DataLossRisk, ...] = ()
    carried_over: tuple[Acknowledgement, ...] = ()  # matched, but already in the base spec: not applied

    @property
    def blocked(self) -> tuple[DataLossRisk, ...]:
        return tuple(risk for risk in self.risks if risk.blocked)

    @property
    def status(self) -> str:
        if not self.risks:
            return "none"
        return "blocked" if self.blocked else "acknowledged"


def data_loss_verdict(changes: Iterable[ResourceChange], acknowledgements: Sequence[Acknowledgement],
                      carried_over: Sequence[Acknowledgement] = ()) -> Verdict:
    """Every delete or replacement of a stateful resource, with the acknowledgement that allows it."""
    risks = []
    for change in changes:
        if change.op in ("delete", "replace") and (change.stateful or change.protection):
            acknowledgement = next((a for a in acknowledgements if a.matches(change)), None)
            risks.append(DataLossRisk(change, acknowledgement))
    unmatched = [risk.change for risk in risks if risk.acknowledgement is None]
    stale = tuple(a for a in carried_over if any(a.matches(change) for change in unmatched))
    return Verdict(risks=tuple(risks), carried_over=stale)


def spec_acknowledgements(head: Sequence[Any], base: Sequence[Any],
                          source: str) -> tuple[list[Acknowledgement], list[Acknowledgement]]:
    """(applicable, carried over): an acknowledgement applies only to the change that adds it.

    One that is also in the base spec was written for an earlier change; it
    must not silently allow every later deletion that matches its glob.
    """
    def key(ack: Any) -> tuple[str, str, str]:
        return (ack.resource, ack.reason, ack.by)

    earlier = {key(ack) for ack in base}
    applicable, carried = [], []
    for ack in head:
        entry = Acknowledgement(ack.resource, ack.reason, ack.by, source)
        (carried if key(ack) in earlier else applicable).append(entry)
    return applicable, carried

