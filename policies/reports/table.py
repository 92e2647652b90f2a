"""The terminal report: findings first (what to fix), then the exemptions, then one verdict line."""

from __future__ import annotations

from environments.safe_text import printable
from policies.audit import AuditReport
from policies.reports.summary import NOT_EXAMINED, finding_order, status_counts, title, verdict
from policies.text_table import table, terminal_width

SUBJECT_WIDTH = 48  # a subject is a kind and a name; the full URN is in the JSON and SARIF reports


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def render(report: AuditReport) -> str:
    header = [title(report),
              f"  target {report.target}"
              + (f", spec {report.spec_digest[:12]}" if report.spec_digest else "")
              + f", commit {report.commit[:12]}{'+uncommitted' if report.commit.endswith('+uncommitted') else ''}"
              + f", as of {report.as_of}"]
    sections = ["\n".join(header)]
    findings = sorted(report.evaluation.findings, key=finding_order)
    if findings:
        rows = []
        for finding in findings:
            state = "EXEMPT" if finding.exemption else ("FAIL" if finding.blocking else "WARN")
            location = report.location(finding.subject)
            rows.append([state, finding.rule.id, finding.level, finding.rule.severity,
                         _short(report.display(finding.subject), SUBJECT_WIDTH), str(location) if location else "",
                         finding.message])
        # The message goes last and wraps to the terminal's width: it is what a user reads, never cut.
        sections.append(table(["", "rule", "level", "severity", "subject", "where", "message"], rows,
                              width=terminal_width()))
    if report.exemptions:
        sections.append("Exemptions\n" + table(
            ["rule", "resource", "owner", "expires", "status", "covers"],
            [[e.exemption.rule, e.exemption.resource, e.exemption.owner, e.exemption.expires, e.status,
              str(e.covers)] for e in report.exemptions]))
    if report.skipped:
        sections.append("Skipped documents\n" + "\n".join(f"  {printable(line)}" for line in report.skipped))
    if report.not_examined:
        sections.append(NOT_EXAMINED + "\n" + "\n".join(f"  {release.describe()}" for release in report.not_examined))
    counts = status_counts(report)
    sections.append(f"{len(report.evaluation.controls)} rules: "
                    + ", ".join(f"{count} {status}" for status, count in counts.items() if count)
                    + f"\nVerdict: {verdict(report)}")
    return "\n\n".join(sections) + "\n"
