"""The change report: one JSON document for machines, one Markdown page for a pull-request comment.

`build(...)` turns a diff (from two offline plans, or from `pulumi preview
--json`), the data-loss verdict and what the policy, parity and cost sources
say about both sides into the report document; `render_markdown(report)`
renders any such document, so a real preview and an offline diff read alike.
"""

from __future__ import annotations

import html
import json
import re
from typing import Any, Optional, Sequence

from environments import __version__
from stacks.diff import OPS, PlanDiff, ResourceChange, Verdict
from stacks.property_paths import ParseError, parse_path
from stacks.review_sources import SideReview, Unavailable, new_and_fixed

# GitHub refuses comments over 65536 characters; keep room for the other environments' sections.
MARKDOWN_BUDGET = 60000
VALUE_WIDTH = 80
LIST_OPEN_UP_TO = 25  # longer lists of resource changes are folded
_OP_WORDS = {"create": "to create", "update": "to update", "replace": "to replace", "delete": "to delete"}
_OP_SIGNS = {"create": "+", "update": "~", "replace": "+-", "delete": "-"}


# --- the document ------------------------------------------------------------

def build(*, environment: str, source: str, base: dict, head: dict, diff: PlanDiff, verdict: Verdict,
          base_review: Optional[SideReview], head_review: Optional[SideReview],
          unavailable_reason: str = "") -> dict:
    """The report document. A side review of None makes its sections unavailable with `unavailable_reason`."""
    components: dict[str, dict[str, int]] = {}
    for change in diff.changes:
        components.setdefault(change.component, dict.fromkeys(OPS, 0))[change.op] += 1
    return {
        "stackyard": __version__,
        "kind": "ChangeReport",
        "source": source,
        "environment": environment,
        "base": base,
        "head": head,
        "summary": {**{op: diff.count(op) for op in OPS}, "unchanged": diff.unchanged},
        "components": [{"component": name, **counts} for name, counts in sorted(components.items())],
        "changes": [_change_document(change) for change in diff.changes],
        "unpredictableTypes": list(diff.unpredictable_types),
        "dataLoss": {
            "status": verdict.status,
            "risks": [{"urn": risk.change.urn, "type": risk.change.type, "name": risk.change.name,
                       "op": risk.change.op, "data": risk.change.stateful,
                       "renameOf": risk.change.rename_of,
                       "acknowledgement": _acknowledgement(risk.acknowledgement)} for risk in verdict.risks],
            "carriedOver": [_acknowledgement(ack) for ack in verdict.carried_over],
        },
        "policy": _compare_section(base_review and base_review.policy, head_review and head_review.policy,
                                   unavailable_reason, lambda f: {"rule": f.rule.id, "resource": f.subject,
                                                                   "message": f.message, "level": f.level}),
        "parity": _compare_section(base_review and base_review.parity, head_review and head_review.parity,
                                   unavailable_reason, lambda d: {"pair": d.pair, "path": d.path,
                                                                   "verdict": d.verdict, "message": d.message}),
        "gpuCost": _cost_section(base_review and base_review.cost, head_review and head_review.cost,
                                 unavailable_reason),
    }


def _change_document(change: ResourceChange) -> dict:
    return {
        "urn": change.urn, "type": change.type, "name": change.name, "component": change.component,
        "op": change.op, "replaceReasons": list(change.replace_reasons), "stateful": change.stateful,
        "renameOf": change.rename_of, "dependencies": list(change.dependencies), "uses": list(change.uses),
        "properties": [{"path": p.path, "kind": p.kind, "old": p.old, "new": p.new, "replaces": p.replaces}
                       for p in change.properties],
    }


def _acknowledgement(ack) -> Optional[dict]:
    if ack is None:
        return None
    return {"resource": ack.resource, "reason": ack.reason, "by": ack.by, "source": ack.source}


def _missing(base: Any, head: Any, reason: str) -> Optional[dict]:
    for side, value in (("head", head), ("base", base)):
        if value is None:
            return {"available": False, "reason": reason}
        if isinstance(value, Unavailable):
            return {"available": False, "reason": f"{value.reason} ({side})"}
    return None


def _compare_section(base: Any, head: Any, reason: str, describe) -> dict:
    missing = _missing(base, head, reason)
    if missing:
        return missing
    new, fixed = new_and_fixed(base, head)
    return {"available": True, "new": [describe(i) for i in new], "fixed": [describe(i) for i in fixed],
            "current": len(head)}


def _cost_section(base: Any, head: Any, reason: str) -> dict:
    missing = _missing(base, head, reason)
    if missing:
        return missing
    pools = [{"pool": pool, "before": base.get(pool), "after": head.get(pool)} for pool in sorted(set(base) | set(head))]
    before, after = round(sum(base.values()), 2), round(sum(head.values()), 2)
    return {"available": True, "pools": pools, "before": before, "after": after, "change": round(after - before, 2)}


def to_json(report: dict) -> str:
    return json.dumps(report, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


# --- Markdown ------------------------------------------------------------------

def render_markdown(report: dict) -> str:
    summary = report["summary"]
    top = [f"### Stackyard change report: `{report['environment']}`", "",
           f"{_cell(report['base']['label'])} → {_cell(report['head']['label'])} · {report['source']}", "",
           _summary_line(summary), "", _verdict_line(report["dataLoss"]), ""]
    top += _components_table(report["components"])
    top += _data_loss_section(report["dataLoss"])
    top += _changes_section(report["changes"], report["unpredictableTypes"])
    rest = _findings_section("Policy findings", report["policy"], ("rule", "resource", "level", "message"),
                             "finding")
    rest += _findings_section("Parity", report["parity"], ("pair", "path", "verdict", "message"), "difference")
    rest += _cost_section_markdown(report["gpuCost"])
    rest += _graph_section(report["changes"], report["environment"])
    rest += [f"<sub>stackyard {report['stackyard']} · {_footer(report['source'])}</sub>", ""]
    budget = MARKDOWN_BUDGET - sum(len(line) + 1 for line in top + rest)
    return "\n".join(top + _property_details(report["changes"], budget) + rest)


def _summary_line(summary: dict) -> str:
    parts = [f"{summary[op]} {_OP_WORDS[op]}" for op in OPS if summary[op]]
    changed = " · ".join(parts) if parts else "No changes"
    return f"**{changed}** · {summary['unchanged']} unchanged"


def _verdict_line(data_loss: dict) -> str:
    risks = data_loss["risks"]
    count = f"{len(risks)} stateful resource{'s' if len(risks) != 1 else ''}"
    if data_loss["status"] == "none":
        return "✅ **Data-loss guard: passed.** No stateful resource is deleted or replaced."
    if data_loss["status"] == "acknowledged":
        return f"⚠️ **Data-loss guard: acknowledged.** {count} deleted or replaced, each acknowledged below."
    blocked = sum(1 for risk in risks if risk["acknowledgement"] is None)
    return (f"⛔ **Data-loss guard: blocked (exit 4).** {blocked} of {count} would be deleted or replaced "
            "without an acknowledgement.")


def _components_table(components: list[dict]) -> list[str]:
    lines = ["#### Changes by component", ""]
    if not components:
        return lines + ["No resource changes.", ""]
    lines += ["| Component | Create | Update | Replace | Delete |", "|---|---:|---:|---:|---:|"]
    for row in components:
        lines.append(f"| {_cell(row['component'])} | " + " | ".join(str(row[op] or "") for op in OPS) + " |")
    return lines + [""]


def _data_loss_section(data_loss: dict) -> list[str]:
    lines = ["#### Data-loss guard", ""]
    if not data_loss["risks"]:
        return lines + ["No delete or replacement of a stateful or protected resource.", ""]
    lines += ["| Resource | Change | Data at risk | Acknowledged |", "|---|---|---|---|"]
    for risk in data_loss["risks"]:
        ack = risk["acknowledgement"]
        allowed = (f"by {_cell(ack['by'])} ({_cell(ack['source'])}): {_cell(ack['reason'])}" if ack
                   else "**no**")
        lines.append(f"| `{risk['type']}` {_cell(risk['name'])} | {risk['op']} | {_cell(risk['data'])} | {allowed} |")
    lines.append("")
    for risk in data_loss["risks"]:
        if risk["renameOf"]:
            lines.append(f"- {_cell(risk['name'])}: the same inputs are created as `{risk['renameOf']}`. If this is "
                         "a move or a rename, give the new resource an alias of the old URN and nothing is deleted.")
    for ack in data_loss["carriedOver"]:
        lines.append(f"- The acknowledgement `{_cell(ack['resource'])}` by {_cell(ack['by'])} is already in the "
                     "base spec and does not apply again: an acknowledgement covers only the change that adds it.")
    if any(risk["acknowledgement"] is None for risk in data_loss["risks"]):
        lines += ["To go ahead, acknowledge each one in the environment spec",
                  "`acknowledgements: [{resource: <glob over URN or name>, reason: <why>, by: <who>}]`",
                  "or on the command line: `--allow-data-loss <glob> --reason <why>`."]
    return lines + [""]


def _changes_section(changes: list[dict], unpredictable: Sequence[str]) -> list[str]:
    lines = ["#### Resource changes", ""]
    if not changes:
        return lines + ["Nothing to change.", ""]
    items = [f"- `{_OP_SIGNS[change['op']]}` **{change['op']}** `{change['type']}` {_cell(change['name'])}"
             + (f" ({change['component']})" if change["component"] else "")
             + (f" — replaced: {'; '.join(_reason(r) for r in change['replaceReasons'])}"
                if change["op"] == "replace" and change["replaceReasons"] else "") for change in changes]
    if len(items) > LIST_OPEN_UP_TO:
        items = [f"<details><summary>{len(items)} resources</summary>", "", *items, "", "</details>"]
    lines += items
    if unpredictable:
        lines += ["", "Replacement is not predicted for " + ", ".join(f"`{t}`" for t in unpredictable)
                  + ": not in stacks/resource_types.yaml."]
    return lines + [""]


def _property_details(changes: list[dict], budget: int) -> list[str]:
    """Per-property before/after tables, as many resources as fit in `budget` characters."""
    detailed = [change for change in changes if change["properties"]]
    if not detailed:
        return []
    lines = ["<details><summary>Property changes</summary>", ""]
    closing = ["</details>", ""]
    used = sum(len(line) + 1 for line in lines + closing)
    for shown, change in enumerate(detailed):
        block = [f"**{_cell(change['name'])}** (`{change['type']}`, {change['op']})", "",
                 "| Property | Before | After | Forces replacement |", "|---|---|---|---|"]
        block += [f"| `{prop['path']}` | " + " | ".join(_values(prop)) + f" | {'yes' if prop['replaces'] else ''} |"
                  for prop in change["properties"]]
        block.append("")
        size = sum(len(line) + 1 for line in block)
        if used + size > budget:
            lines += [f"_{len(detailed) - shown} more changed resources: see the JSON report._", ""]
            break
        lines += block
        used += size
    return lines + closing


def _findings_section(title: str, section: dict, columns: Sequence[str], noun: str) -> list[str]:
    lines = [f"#### {title}", ""]
    if not section["available"]:
        return lines + [f"_Not available: {_cell(section['reason'])}._", ""]
    if not section["new"] and not section["fixed"]:
        return lines + [f"No new or fixed {noun}s ({section['current']} current).", ""]
    for label, items in (("New", section["new"]), ("Fixed", section["fixed"])):
        if items:
            lines += [f"{label} {noun}s: {len(items)}", "", "| " + " | ".join(c.capitalize() for c in columns) + " |",
                      "|" + "---|" * len(columns)]
            lines += ["| " + " | ".join(_cell(item[c]) for c in columns) + " |" for item in items]
            lines.append("")
    return lines


def _cost_section_markdown(section: dict) -> list[str]:
    lines = ["#### Maximum hourly GPU cost", ""]
    if not section["available"]:
        return lines + [f"_Not available: {_cell(section['reason'])}._", ""]
    lines += ["| Pool | Before | After | Change |", "|---|---:|---:|---:|"]
    for row in section["pools"]:
        before, after = row["before"], row["after"]
        lines.append(f"| {_cell(row['pool'])} | {_usd(before)} | {_usd(after)} | {_usd_change((after or 0) - (before or 0))} |")
    lines.append(f"| **total** | **{_usd(section['before'])}** | **{_usd(section['after'])}** | "
                 f"**{_usd_change(section['change'])}** |")
    return lines + [""]


def _graph_section(changes: list[dict], environment: str) -> list[str]:
    lines = ["#### Changed components", ""]
    if not changes:
        return lines + ["Nothing changed.", ""]
    ops: dict[str, dict[str, int]] = {}
    for change in changes:
        ops.setdefault(change["component"], dict.fromkeys(OPS, 0))[change["op"]] += 1
    node = {name: f"c{index}" for index, name in enumerate(sorted(ops))}
    lines += ["```mermaid", "graph LR", f'  env(["{_mermaid(environment)}"])']
    for name in sorted(ops):
        counts = ", ".join(f"{count} {op}" for op, count in ops[name].items() if count)
        lines.append(f'  {node[name]}["{_mermaid(name)}<br/>{counts}"]:::{_severity(ops[name])}')
        lines.append(f"  env --> {node[name]}")
    edges = sorted({(c["component"], used) for c in changes for used in c["uses"] if used in ops})
    lines += [f"  {node[a]} -. uses .-> {node[b]}" for a, b in edges]
    lines += ["  classDef create fill:#dafbe1,stroke:#1a7f37", "  classDef update fill:#fff8c5,stroke:#9a6700",
              "  classDef destroy fill:#ffebe9,stroke:#cf222e", "```", ""]
    return lines


def _severity(counts: dict[str, int]) -> str:
    if counts["delete"] or counts["replace"]:
        return "destroy"
    return "update" if counts["update"] else "create"


def _footer(source: str) -> str:
    if source == "pulumi preview":
        return "from `pulumi preview --json`"
    return ("offline plans of both sides, each built by its own commit's code · replacements predicted from "
            "stacks/resource_types.yaml · secret values are masked, so changes to them cannot be seen")


# --- text helpers --------------------------------------------------------------

def _cell(text: Any) -> str:
    """Text safe inside a Markdown table cell."""
    return html.escape(str(text if text is not None else ""), quote=False).replace("|", "&#124;").replace("\n", " ")


def _reason(reason: str) -> str:
    return f"`{reason}` changes" if _is_path(reason) else reason


def _is_path(text: str) -> bool:
    try:
        parse_path(text)
    except ParseError:
        return False
    return True


def _values(prop: dict) -> tuple[str, str]:
    """Before and after as table cells; two long texts are cut around where they first differ."""
    texts = [None if absent else (value if isinstance(value, str) else
                                  json.dumps(value, sort_keys=True, ensure_ascii=False))
             for value, absent in ((prop["old"], prop["kind"] == "add"), (prop["new"], prop["kind"] == "delete"))]
    start = 0
    if all(texts) and max(len(t) for t in texts) > VALUE_WIDTH:
        first = next((i for i, (a, b) in enumerate(zip(*texts)) if a != b), min(len(t) for t in texts))
        start = max(0, first - VALUE_WIDTH // 4)
    return tuple(_code(text, start) for text in texts)


def _code(text: Optional[str], start: int) -> str:
    if text is None:
        return "_(none)_"
    window = text[start:start + VALUE_WIDTH]
    shown = ("…" if start else "") + window + ("…" if start + VALUE_WIDTH < len(text) else "")
    return f"<code>{_cell(shown)}</code>"


def _mermaid(text: str) -> str:
    return re.sub(r'["<>]', "", text)


def _usd(value: Optional[float]) -> str:
    return "–" if value is None else f"${value:,.2f}"


def _usd_change(value: float) -> str:
    return "±$0.00" if abs(value) < 0.005 else f"{'+' if value > 0 else '−'}${abs(value):,.2f}"
