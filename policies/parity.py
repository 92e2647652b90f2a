"""Parity: judge every difference between two environments by the parity contract.

Two things are compared. The resolved specs (extends merged, as the loader
gives them), path by path. And the offline plans, as an inventory of resources
by type and name with the environment's own name replaced by `{env}`, so the
comparison also sees what components derive from a spec (an InferenceService
per endpoint, a schedule per pipeline run) and not only what the YAML says.

Each difference gets a verdict from the rule that decides its path
(environments/parity_contract.py): `allowed` (a free path), `bounded` (the
values differ within a bound or in the permitted direction) or `forbidden`.

This lives in policies/ beside the audit because parity is policy too: it reads
specs and plans and says whether a change may reach prod. It needs no Pulumi
(the caller builds the plans) and is not part of the stdlib-only rule set the
CrossGuard pack imports.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Iterator, Mapping, Optional, Sequence

from environments.parity_contract import (ITEM, KEY, WHOLE_VALUE_RELATIONS, ParityPair, ParityRule, Segment,
                                          render_path)

ALLOWED, BOUNDED, FORBIDDEN = "allowed", "bounded", "forbidden"
PLAN_KEY = "plan"
ENVIRONMENT_TOKEN = "{env}"
PRESENT = "present"
_CELL_WIDTH = 40


class _Absent:
    """The value on the side of a difference that does not have the path at all."""

    def __repr__(self) -> str:
        return "(absent)"


ABSENT = _Absent()


class ItemMap(dict):
    """Items of a list of named things (endpoints, nodePools, plan resources), keyed by name."""


@dataclass(frozen=True)
class Difference:
    path: tuple[Segment, ...]
    source_value: Any
    target_value: Any
    verdict: str
    reason: str
    rule: ParityRule

    @property
    def path_text(self) -> str:
        return render_path(self.path)

    @property
    def sort_key(self) -> tuple[bool, str]:
        # Spec paths first, then the plan inventory; each alphabetically.
        return (self.path[:1] == ((KEY, PLAN_KEY),), self.path_text)


@dataclass(frozen=True)
class ParityReport:
    source: str
    target: str
    contract: str
    differences: tuple[Difference, ...]

    def count(self, verdict: str) -> int:
        return sum(1 for difference in self.differences if difference.verdict == verdict)

    @property
    def forbidden(self) -> bool:
        return self.count(FORBIDDEN) > 0


# --- what is compared ----------------------------------------------------------

def comparable(value: Any) -> Any:
    """Plain data from a resolved document, lists of named items as ItemMaps keyed by name."""
    if isinstance(value, Mapping):
        return {str(key): comparable(item) for key, item in value.items()}
    if isinstance(value, list):
        if value and all(isinstance(item, Mapping) and "name" in item for item in value):
            return ItemMap((str(item["name"]), comparable(item)) for item in value)
        return [comparable(item) for item in value]
    return value


def without_environment(name: str, environment: str) -> str:
    """`staging-serving-ns` -> `{env}-serving-ns`: the environment's name as a whole word only."""
    pattern = rf"(?<![a-z0-9]){re.escape(environment)}(?![a-z0-9])"
    return re.sub(pattern, ENVIRONMENT_TOKEN, name)


def plan_inventory(plan: dict) -> ItemMap:
    """type -> {name: present} for every resource; Kubernetes objects by namespace/name."""
    from policies.manifests import is_manifest, manifest

    environment = plan["environment"]
    inventory = ItemMap()
    for resource in plan["resources"]:
        name = resource["name"]
        if is_manifest(resource):
            metadata = manifest(resource).get("metadata") or {}
            name = "/".join(part for part in (metadata.get("namespace"), metadata.get("name") or name) if part)
        inventory.setdefault(resource["type"], ItemMap())[without_environment(name, environment)] = PRESENT
    return ItemMap(sorted(inventory.items()))


# --- walking both sides --------------------------------------------------------

def _walk(pair: ParityPair, path: tuple[Segment, ...], a: Any, b: Any) -> Iterator[tuple]:
    """(path, a, b, rule) for every place the two sides differ, at the level a rule judges."""
    if a == b and isinstance(a, bool) == isinstance(b, bool):  # 10 and 10.0 agree; true and 1 do not
        return
    rule = pair.rule_for(path)
    if rule.relation in WHOLE_VALUE_RELATIONS and len(rule.pattern) == len(path):
        yield path, a, b, rule
        return
    # An empty list is an empty set of named items where the other side has some.
    a_items = isinstance(a, ItemMap) or (a == [] and isinstance(b, ItemMap))
    b_items = isinstance(b, ItemMap) or (b == [] and isinstance(a, ItemMap))
    if (a_items or a is ABSENT) and (b_items or b is ABSENT):
        # Named items: one that only one side has is one difference, not one per field.
        for name in sorted(set(a if a_items else ()) | set(b if b_items else ())):
            child = path + ((ITEM, name),)
            in_a, in_b = a_items and name in a, b_items and name in b
            if in_a and in_b:
                yield from _walk(pair, child, a[name], b[name])
            else:
                yield child, a[name] if in_a else ABSENT, b[name] if in_b else ABSENT, pair.rule_for(child)
        return
    a_map = isinstance(a, dict) and not a_items
    b_map = isinstance(b, dict) and not b_items
    if (a_map or a is ABSENT) and (b_map or b is ABSENT):
        # Mappings: descend even where one side lacks the mapping, so each field meets its own rule.
        for key in sorted(set(a if a_map else ()) | set(b if b_map else ())):
            yield from _walk(pair, path + ((KEY, key),),
                             a.get(key, ABSENT) if a_map else ABSENT, b.get(key, ABSENT) if b_map else ABSENT)
        return
    yield path, a, b, rule


# --- verdicts ------------------------------------------------------------------

def compact(value: Any) -> str:
    """A value as it reads in YAML flow style: `[g5.xlarge, g5.2xlarge]`, `{cpu: "2"}`, `true`."""
    if value is ABSENT:
        return "(absent)"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return f"{value:g}" if isinstance(value, float) else str(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key}: {compact(item)}" for key, item in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(compact(item) for item in value) + "]"
    return str(value)


def _number(value: Any) -> Optional[float]:
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _lookup(document: Any, path: Sequence[Segment]) -> Any:
    node = document
    for _kind, name in path:
        if not isinstance(node, dict) or name not in node:
            return ABSENT
        node = node[name]
    return node


def _judge_bounded(rule: ParityRule, names: tuple[str, str], a: Any, b: Any) -> tuple[str, str]:
    source, target = names
    low, high = _number(a), _number(b)
    if low is None or high is None:
        return FORBIDDEN, f"bounded: needs a number in both {source} and {target}"
    if rule.max_ratio is not None and high > rule.max_ratio * low:
        return FORBIDDEN, f"{target} {compact(b)} > {rule.max_ratio:g} x {source} {compact(a)}"
    if rule.min_ratio is not None and high < rule.min_ratio * low:
        return FORBIDDEN, f"{target} {compact(b)} < {rule.min_ratio:g} x {source} {compact(a)}"
    bounds = [f"{sign} {ratio:g} x {source} {compact(a)}"
              for sign, ratio in (("<=", rule.max_ratio), (">=", rule.min_ratio)) if ratio is not None]
    return BOUNDED, f"{target} {compact(b)} {' and '.join(bounds)}"


def _judge_stricter(rule: ParityRule, names: tuple[str, str], sides: tuple[Any, Any],
                    documents: tuple[Any, Any]) -> tuple[str, str]:
    levels = []
    for name, value, document in zip(names, sides, documents):
        via = ""
        if value is ABSENT and rule.fallback is not None:
            value, via = _lookup(document, rule.fallback), f" (its {render_path(rule.fallback)})"
        text = compact(value)
        if text not in rule.order:
            return FORBIDDEN, f"{name} {text}{via} is not one of {list(rule.order)}"
        levels.append((rule.order.index(text), f"{name} {text}{via}"))
    (source_rank, source_text), (target_rank, target_text) = levels
    if target_rank < source_rank:
        return FORBIDDEN, f"{target_text} is weaker than {source_text}"
    return BOUNDED, f"{target_text} is at least as strict as {source_text}"


def _judge_subset(rule: ParityRule, names: tuple[str, str], a: Any, b: Any) -> tuple[str, str]:
    source, target = names

    def items(value: Any) -> dict[str, Any]:
        values = [] if value is ABSENT else list(value.values()) if isinstance(value, ItemMap) else value
        if not isinstance(values, list):
            values = [values]
        keyed = {}
        for item in values:
            if rule.key and isinstance(item, dict):
                keyed["/".join(compact(item.get(field, ABSENT)) for field in rule.key)] = item
            else:
                keyed[compact(item)] = item
        return keyed

    source_items, target_items = items(a), items(b)
    problems = [f"only {target} has {key}" for key in sorted(set(target_items) - set(source_items))]
    for key in sorted(set(source_items) - set(target_items)):
        item = source_items[key]
        missing = [field for field in rule.from_only_requires if not (isinstance(item, dict) and field in item)]
        if missing:
            problems.append(f"only {source} has {key}, and it has no {', '.join(missing)}")
    if problems:
        return FORBIDDEN, "; ".join(problems)
    return BOUNDED, f"{target} holds no item {source} lacks"


def judge(rule: ParityRule, names: tuple[str, str], a: Any, b: Any,
          documents: tuple[Any, Any]) -> tuple[str, str]:
    """(verdict, reason) for one difference under `rule`."""
    if rule.relation == "free":
        return ALLOWED, "may differ"
    if rule.relation == "equal":
        return FORBIDDEN, "must be equal"
    if rule.relation == "bounded":
        return _judge_bounded(rule, names, a, b)
    if rule.relation == "stricter":
        return _judge_stricter(rule, names, (a, b), documents)
    if rule.relation == "subset":
        return _judge_subset(rule, names, a, b)
    raise ValueError(f"unknown relation {rule.relation!r}")


def compare(pair: ParityPair, contract: str, source_document: Any, target_document: Any,
            source_plan: Optional[dict] = None, target_plan: Optional[dict] = None) -> ParityReport:
    """Every difference between two resolved specs (and, given, their plans), judged and sorted."""
    a, b = comparable(source_document), comparable(target_document)
    # `plan` is not a spec key (the schema allows no unknown keys), so the inventory cannot collide.
    if source_plan is not None and target_plan is not None:
        a[PLAN_KEY], b[PLAN_KEY] = plan_inventory(source_plan), plan_inventory(target_plan)
    names = (pair.source, pair.target)
    differences = [Difference(path, left, right, *judge(rule, names, left, right, (a, b)), rule)
                   for path, left, right, rule in _walk(pair, (), a, b)]
    return ParityReport(pair.source, pair.target, contract,
                        tuple(sorted(differences, key=lambda d: d.sort_key)))


# --- output --------------------------------------------------------------------

def _cell(value: Any) -> str:
    text = compact(value)
    return text if len(text) <= _CELL_WIDTH else text[:_CELL_WIDTH - 3] + "..."


def _rule_line(rule: ParityRule, contract: str) -> str:
    return f"{contract}:{rule.location.line}"


def _rows(report: ParityReport) -> list[list[str]]:
    return [[d.path_text, _cell(d.source_value), _cell(d.target_value), d.verdict,
             _rule_line(d.rule, report.contract), d.reason] for d in report.differences]


def _summary(report: ParityReport) -> str:
    counts = ", ".join(f"{report.count(v)} {v}" for v in (ALLOWED, BOUNDED, FORBIDDEN))
    total = len(report.differences)
    outcome = "FAIL" if report.forbidden else "ok"
    return (f"parity {report.source} -> {report.target}: {outcome}: "
            f"{total} difference{'s' if total != 1 else ''} ({counts})")


def _headers(report: ParityReport) -> list[str]:
    return ["path", report.source, report.target, "verdict", "contract", "reason"]


def render_table(report: ParityReport) -> str:
    from policies.text_table import table, terminal_width

    if not report.differences:
        return _summary(report)
    return table(_headers(report), _rows(report), width=terminal_width()) + "\n" + _summary(report)


def render_markdown(report: ParityReport) -> str:
    def escape(text: str) -> str:
        return text.replace("|", "\\|")

    lines = [f"### Parity `{report.source}` -> `{report.target}`", "", _summary(report)]
    if report.differences:
        headers = _headers(report)
        lines += ["", "| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
        for row in _rows(report):
            cells = [f"`{escape(cell)}`" if i in (0, 1, 2, 4) else escape(cell) for i, cell in enumerate(row)]
            if row[3] == FORBIDDEN:
                cells[3] = f"**{FORBIDDEN}**"
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _plain(value: Any) -> Any:
    if value is ABSENT:
        return None
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def as_json(report: ParityReport) -> dict:
    return {
        "from": report.source,
        "to": report.target,
        "contract": report.contract,
        "passed": not report.forbidden,
        "summary": {verdict: report.count(verdict) for verdict in (ALLOWED, BOUNDED, FORBIDDEN)},
        "differences": [{
            "path": d.path_text,
            "from": _plain(d.source_value),
            "to": _plain(d.target_value),
            "fromPresent": d.source_value is not ABSENT,
            "toPresent": d.target_value is not ABSENT,
            "verdict": d.verdict,
            "reason": d.reason,
            "rule": {"file": report.contract, "line": d.rule.location.line, "path": d.rule.path,
                     "relation": d.rule.relation},
        } for d in report.differences],
    }


def render_json(report: ParityReport) -> str:
    return json.dumps(as_json(report), indent=2, sort_keys=True, ensure_ascii=False)


RENDERERS = {"table": render_table, "json": render_json, "markdown": render_markdown}


def render(report: ParityReport, output_format: str) -> str:
    return RENDERERS[output_format](report)
