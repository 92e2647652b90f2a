"""What every report format says the same way: counts, the verdict, orderings."""

from __future__ import annotations

from collections import Counter

from policies.audit import AuditReport
from policies.engine import Finding
from policies.rules.model import SEVERITIES

STATUSES = ("failed", "exempted", "passed", "not applicable", "disabled")
NOT_EXAMINED = "Not examined (Helm renders these releases' objects at deploy time; no rule saw their pods)"


def status_counts(report: AuditReport) -> dict[str, int]:
    counts = Counter(control.status for control in report.evaluation.controls)
    return {status: counts.get(status, 0) for status in STATUSES}


def verdict(report: AuditReport) -> str:
    blocking = len(report.evaluation.blocking)
    if blocking:
        return f"FAIL: {blocking} mandatory violation{'s' if blocking != 1 else ''}"
    advisory = sum(1 for f in report.evaluation.findings if not f.exemption and not f.blocking)
    return f"PASS ({advisory} advisory finding{'s' if advisory != 1 else ''})" if advisory else "PASS"


def finding_order(finding: Finding) -> tuple:
    """Blocking first, then by severity, rule and subject."""
    return (not finding.blocking, finding.exemption is not None, SEVERITIES.index(finding.rule.severity),
            finding.rule.id, finding.subject, finding.message)


def title(report: AuditReport) -> str:
    if report.mode == "environment":
        return f"Policy audit of environment {report.environment}"
    rules = f" with the rules of environment {report.environment}" if report.environment else ""
    return f"Policy audit of manifests {report.target}{rules}"
