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
from environments.safe_text import printable, scrub
from stacks.diff import OPS, PlanDiff, ResourceChange, Verdict
from stacks.property_paths import ParseError, parse_path
from policies.engine import Finding
from stacks.review_sources import PolicyReview, SideReview, Unavailable, new_and_fixed

# GitHub refuses comments over 65536 characters; keep room for the other environments' sections.
MARKDOWN_BUDGET = 60000
VALUE_WIDTH = 80
LIST_OPEN_UP_TO = 25  # longer lists of resource changes are folded
_PROTECTION = {None: "", "kept": "**yes**: Pulumi refuses", "lifted": "lifted by this change"}
_OP_WORDS = {"create": "to create", "update": "to update", "replace": "to replace", "delete": "to delete"}
_OP_SIGNS = {"create": "+", "update": "~", "replace": "+-", "delete": "-"}


# --- the document ------------------------------------------------------------

def build(*, environment: str, source: str, base: dict, head: dict, diff: PlanDiff, verdict: Verdict,
          base_review: Optional[SideReview], head_review: Optional[SideReview],
          unavailable_reason: str = "", errors: Sequence[str] = ()) -> dict:
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
        "errors": list(errors),  # the engine's error diagnostics: the change set is incomplete
        "summary": {**{op: diff.count(op) for op in OPS}, "unchanged": diff.unchanged},
        "components": [{"component": name, **counts} for name, counts in sorted(components.items())],
        "changes": [_change_document(change) for change in diff.changes],
        "unpredictableTypes": list(diff.unpredictable_types),
        "dataLoss": {
            "status": verdict.status,
            "risks": [{"urn": risk.change.urn, "type": risk.change.type, "name": risk.change.name,
                       "op": risk.change.op, "data": risk.change.stateful,
                       "renameOf": risk.change.rename_of, "protection": risk.change.protection,
                       "blocked": risk.blocked,
                       "acknowledgement": _acknowledgement(risk.acknowledgement)} for risk in verdict.risks],
            "carriedOver": [_acknowledgement(ack) for ack in verdict.carried_over],
        },
        "policy": _policy_section(base_review and base_review.policy, head_review and head_review.policy,
                                  unavailable_reason),
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


def _finding(finding: Finding, review: PolicyReview) -> dict:
    where = review.locations.get(finding.subject)
    return {"rule": finding.rule.id, "resource": finding.subject, "message": finding.message,
            "level": finding.level, "exempted": finding.exemption is not None, "blocking": finding.blocking,
            "location": {"file": where.file, "line": where.line} if where else None}


def _same_finding(finding: Finding) -> tuple[str, str, str]:
    """One finding on both sides of a change: same rule, subject and message (a subject can have several)."""
    return (finding.rule.id, finding.subject, finding.message)


def _policy_section(base: Any, head: Any, reason: str) -> dict:
    """The head's findings as `stackyard audit` counts them, and what the change does to them.

    A finding whose level or exemption is all that differs is "changed", not
    fixed and new, so raising a rule to mandatory or exempting a finding shows
    as such.
    """
    missing = _missing(base, head, reason)
    if missing:
        return missing
    before = {_same_finding(f): f for f in base.findings}
    after = {_same_finding(f) for f in head.findings}
    changed = [{**_finding(f, head), "before": {"level": before[key].level,
                                                "exempted": before[key].exemption is not None}}
               for f in head.findings if (key := _same_finding(f)) in before
               and (f.level, f.exemption is None) != (before[key].level, before[key].exemption is None)]
    return {"available": True, "counts": _finding_counts(head.findings), "baseCounts": _finding_counts(base.findings),
            "blocking": [_finding(f, head) for f in head.findings if f.blocking],
            "new": [_finding(f, head) for f in head.findings if _same_finding(f) not in before],
            "fixed": [_finding(f, base) for f in base.findings if _same_finding(f) not in after],
            "changed": changed, "current": len(head.findings)}


def _finding_counts(findings: Sequence[Finding]) -> dict[str, int]:
    """Findings by state: blocking (mandatory, not exempted), advisory, exempted; and in all."""
    return {"blocking": sum(f.blocking for f in findings),
            "advisory": sum(not f.blocking and f.exemption is None for f in findings),
            "exempted": sum(f.exemption is not None for f in findings), "total": len(findings)}


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
           *_errors_lines(report.get("errors", ())),
           _summary_line(summary), "", _verdict_line(report["dataLoss"]), "", policy_verdict(report["policy"]), ""]
    top += _components_table(report["components"])
    top += _data_loss_section(report["dataLoss"])
    top += _changes_section(report["changes"], report["unpredictableTypes"])
    rest = _policy_markdown(report["policy"])
    rest += _findings_section("Parity", report["parity"], ("pair", "path", "verdict", "message"), "difference")
    rest += _cost_section_markdown(report["gpuCost"])
    rest += _graph_section(report["changes"], report["environment"])
    rest += [f"<sub>stackyard {report['stackyard']} · {_footer(report['source'])}</sub>", ""]
    budget = MARKDOWN_BUDGET - sum(len(line) + 1 for line in top + rest)
    return scrub("\n".join(top + _property_details(report["changes"], budget) + rest))


def _errors_lines(errors: Sequence[str]) -> list[str]:
    if not errors:
        return []
    plural = "s" if len(errors) != 1 else ""
    return [f"⛔ **The preview failed: {len(errors)} error{plural}.** The changes below may be incomplete.", "",
            *(f"- {_cell(error)}" for error in errors[:BLOCKING_SHOWN]), ""]


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
    unacknowledged = sum(1 for risk in risks if risk["acknowledgement"] is None)
    protected = sum(1 for risk in risks if risk["protection"] == "kept")
    reasons = ([f"{unacknowledged} without an acknowledgement"] if unacknowledged else []) + (
        [f"{protected} protected (protect=true), which Pulumi refuses to delete or replace"] if protected else [])
    return (f"⛔ **Data-loss guard: blocked (exit 4).** Of {count} deleted or replaced, "
            f"{' and '.join(reasons)}.")


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
    lines += ["| Resource | Change | Data at risk | Protected | Acknowledged |", "|---|---|---|---|---|"]
    for risk in data_loss["risks"]:
        ack = risk["acknowledgement"]
        allowed = (f"by {_cell(ack['by'])} ({_cell(ack['source'])}): {_cell(ack['reason'])}" if ack
                   else "**no**")
        lines.append(f"| {_literal(risk['type'])} {_cell(risk['name'])} | {risk['op']} | {_cell(risk['data'])} | "
                     f"{_PROTECTION[risk['protection']]} | {allowed} |")
    lines.append("")
    if any(risk["protection"] == "kept" for risk in data_loss["risks"]):
        lines += ["A protected resource blocks even when acknowledged: `pulumi up` would fail on it after the merge. "
                  "Lift the protection first (a change that sets `protect: false`, deployed before this one, or "
                  "`pulumi state unprotect URN`).", ""]
    for risk in data_loss["risks"]:
        if risk["renameOf"]:
            lines.append(f"- {_cell(risk['name'])}: the same inputs are created as {_literal(risk['renameOf'])}. If this is "
                         "a move or a rename, give the new resource an alias of the old URN and nothing is deleted.")
    for ack in data_loss["carriedOver"]:
        lines.append(f"- The acknowledgement {_literal(ack['resource'])} by {_cell(ack['by'])} is already in the "
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
    items = [f"- `{_OP_SIGNS[change['op']]}` **{change['op']}** {_literal(change['type'])} {_cell(change['name'])}"
             + (f" ({change['component']})" if change["component"] else "")
             + (f" — replaced: {'; '.join(_reason(r) for r in change['replaceReasons'])}"
                if change["op"] == "replace" and change["replaceReasons"] else "") for change in changes]
    if len(items) > LIST_OPEN_UP_TO:
        items = [f"<details><summary>{len(items)} resources</summary>", "", *items, "", "</details>"]
    lines += items
    if unpredictable:
        lines += ["", "Replacement is not predicted for " + ", ".join(f"{_literal(t)}" for t in unpredictable)
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
        block = [f"**{_cell(change['name'])}** ({_literal(change['type'])}, {change['op']})", "",
                 "| Property | Before | After | Forces replacement |", "|---|---|---|---|"]
        block += [f"| {_literal(prop['path'])} | " + " | ".join(_values(prop)) + f" | {'yes' if prop['replaces'] else ''} |"
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


def policy_verdict(section: dict) -> str:
    """One line: the head's policy verdict with the audit's counts (what `stackyard audit ENV` says)."""
    if not section["available"]:
        return f"❔ **Policy: not available:** {_cell(section['reason'])}"
    counts = section["counts"]
    tally = (f"{counts['advisory']} advisory · {counts['exempted']} exempted · {counts['total']} "
             f"finding{'s' if counts['total'] != 1 else ''} in all")
    if counts["blocking"]:
        plural = "s" if counts["blocking"] != 1 else ""
        return f"⛔ **Policy: {counts['blocking']} mandatory violation{plural} (exit 3).** {tally}"
    return f"✅ **Policy: passed.** {tally}"


def _policy_markdown(section: dict) -> list[str]:
    if not section["available"]:
        return ["#### Policy findings", "", f"_Not available: {_cell(section['reason'])}._", ""]
    lines = ["#### Policy findings", "", policy_verdict(section), ""]
    columns = ("rule", "resource", "level", "message")
    tables = (("Blocking (mandatory, not exempted)", section["blocking"]), ("New", section["new"]),
              ("Fixed", section["fixed"]))
    for label, items in tables:
        if items:
            lines += [f"{label}: {len(items)}", "", "| " + " | ".join(c.capitalize() for c in columns) + " |",
                      "|" + "---|" * len(columns)]
            lines += ["| " + " | ".join(_cell(_state(item) if c == "level" else item[c]) for c in columns) + " |"
                      for item in items]
            lines.append("")
    if section["changed"]:
        lines += [f"Changed level or exemption: {len(section['changed'])}", "",
                  "| Rule | Resource | Before | After | Message |", "|---|---|---|---|---|"]
        lines += [f"| {_cell(item['rule'])} | {_cell(item['resource'])} | {_cell(_state(item['before']))} | "
                  f"{_cell(_state(item))} | {_cell(item['message'])} |" for item in section["changed"]]
        lines.append("")
    if not any(items for _, items in tables) and not section["changed"]:
        lines += ["The change adds, fixes or re-levels no finding.", ""]
    return lines


def _state(finding: dict) -> str:
    return finding["level"] + (" (exempted)" if finding["exempted"] else "")


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
    """Text safe inside a Markdown table cell, a list item or a <details> block: HTML escaped (no
    `</details>` can close a block), `|` and backticks as entities (no cell split, no code span
    opened), control characters made visible (a newline cannot start a line)."""
    shown = printable(text if text is not None else "")
    return html.escape(shown, quote=False).replace("|", "&#124;").replace("`", "&#96;")


_PLAIN_CODE = re.compile(r"^[A-Za-z0-9 :/._*@=,+\-\[\]]*\Z")


def _literal(text: Any) -> str:
    """A value shown as code: a `code span` where the text is plain, else <code> with escaped text
    (a backtick, `|`, `<` or a control character cannot be held safely in a Markdown code span)."""
    text = str(text if text is not None else "")
    return f"`{text}`" if _PLAIN_CODE.match(text) else f"<code>{_cell(text)}</code>"


def _reason(reason: str) -> str:
    return f"{_literal(reason)} changes" if _is_path(reason) else reason


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
    return re.sub(r'["<>`|{}\[\]()]', "", printable(text))


def _usd(value: Optional[float]) -> str:
    return "–" if value is None else f"${value:,.2f}"


def _usd_change(value: float) -> str:
    return "±$0.00" if abs(value) < 0.005 else f"{'+' if value > 0 else '−'}${abs(value):,.2f}"


# --- the pull-request comment --------------------------------------------------

# GitHub rejects an issue or pull-request comment body over 65536 characters. The sticky-comment
# action adds its own marker line, so the comment stays a little under the limit.
COMMENT_LIMIT = 65536
COMMENT_BUDGET = COMMENT_LIMIT - 1024
BLOCKING_SHOWN = 30  # per environment and kind; the rest are in the full reports


def render_comment(change_reports: Sequence[dict], parity_reports: Sequence[dict],
                   failures: Sequence[tuple[str, str]] = (), details: str = "") -> str:
    """The one comment for a pull request across environments, always under COMMENT_LIMIT.

    A summary row per environment and parity pair, then everything that blocks
    the merge (unacknowledged data loss, mandatory findings, forbidden parity
    differences, commands that failed), then each environment's changes by
    component while they fit. The full reports are elsewhere (`details` says
    where: the job summary and the artifacts).
    """
    required = ["### Stackyard review", ""]
    required += _comment_table(change_reports, parity_reports, failures)
    required += _comment_blocking(change_reports, parity_reports, failures)
    footer = ["", f"<sub>{_cell(details)}</sub>" if details else "", ""]
    optional = []
    for report in change_reports:
        block = [f"<details><summary><code>{_cell(report['environment'])}</code>: "
                 f"{_summary_line(report['summary']).replace('**', '')}</summary>", ""]
        block += _components_table(report["components"]) + ["</details>", ""]
        optional.append(block)
    lines = list(required)
    used = _size(lines) + _size(footer)
    for block in optional:
        if used + _size(block) > COMMENT_BUDGET:
            lines += ["_More changes than fit here: see the full reports._", ""]
            break
        lines += block
        used += _size(block)
    text = "\n".join(lines + footer)
    if len(text) > COMMENT_BUDGET:  # only if the blocking lists themselves are that long
        cut = text.rfind("\n", 0, COMMENT_BUDGET - 200)
        text = text[:cut] + "\n\n_The comment is cut here: the full reports have everything._\n"
    return text


def _size(lines: Sequence[str]) -> int:
    return sum(len(line) + 1 for line in lines)


def _comment_table(change_reports: Sequence[dict], parity_reports: Sequence[dict],
                   failures: Sequence[tuple[str, str]]) -> list[str]:
    lines = ["| Environment | Changes | Data-loss guard | Policy |", "|---|---|---|---|"]
    for report in change_reports:
        guard = {"none": "✅ passed", "acknowledged": "⚠️ acknowledged", "blocked": "⛔ **blocked**"}[
            report["dataLoss"]["status"]]
        lines.append(f"| `{_cell(report['environment'])}` | {_summary_line(report['summary'])} | {guard} | "
                     f"{policy_verdict(report['policy'])} |")
    for command, _ in failures:
        lines.append(f"| {_cell(command)} | ⛔ **failed** | | |")
    lines.append("")
    for parity in parity_reports:
        summary = parity["summary"]
        verdict = "✅ passed" if parity["passed"] else f"⛔ **{summary['forbidden']} forbidden**"
        lines.append(f"- Parity `{_cell(parity['from'])}` → `{_cell(parity['to'])}`: {verdict} · "
                     f"{summary['allowed']} allowed · {summary['bounded']} bounded")
    return lines + ([""] if parity_reports else [])


def _comment_blocking(change_reports: Sequence[dict], parity_reports: Sequence[dict],
                      failures: Sequence[tuple[str, str]]) -> list[str]:
    lines: list[str] = []
    for report in change_reports:
        name = _cell(report["environment"])
        blocked = [risk for risk in report["dataLoss"]["risks"] if risk["blocked"]]
        lines += _capped(f"`{name}`: data-loss guard", blocked,
                         lambda r: f"- {r['op']} `{r['type']}` {_cell(r['name'])}: {_cell(r['data'])}"
                                   + (" · **protected**" if r["protection"] == "kept" else "")
                                   + ("" if r["acknowledgement"] else " · not acknowledged"))
        if report["policy"]["available"]:
            lines += _capped(f"`{name}`: mandatory findings", report["policy"]["blocking"],
                             lambda f: f"- **{_cell(f['rule'])}** {_cell(f['resource'])}: {_cell(f['message'])}"
                                       + (f" ({_cell(f['location']['file'])}:{f['location']['line']})"
                                          if f.get("location") else ""))
    for parity in parity_reports:
        forbidden = [d for d in parity["differences"] if d["verdict"] == "forbidden"]
        lines += _capped(f"Parity `{_cell(parity['from'])}` → `{_cell(parity['to'])}`: forbidden differences",
                         forbidden, lambda d: f"- `{_cell(d['path'])}`: {_cell(d['reason'])}")
    for command, error in failures:
        tail = error.strip().splitlines()[-20:] or ["(no output)"]
        lines += [f"**{_cell(command)} failed:**", "", "```", *(line[:300].replace("```", "'''") for line in tail),
                  "```", ""]
    if lines:
        lines = ["#### Blocking", "", *lines]
    return lines


def _capped(title: str, items: Sequence[dict], line) -> list[str]:
    if not items:
        return []
    shown = [line(item) for item in items[:BLOCKING_SHOWN]]
    if len(items) > BLOCKING_SHOWN:
        shown.append(f"- … and {len(items) - BLOCKING_SHOWN} more in the full reports")
    return [f"**{title}: {len(items)}**", "", *shown, ""]
