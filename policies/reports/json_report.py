"""The machine-readable report: everything the other formats show, as one JSON document."""

from __future__ import annotations

import json

from policies.audit import AuditReport
from policies.reports.summary import finding_order, status_counts, verdict
from environments import __version__


def _location(report: AuditReport, subject: str):
    location = report.location(subject)
    return None if location is None else {"file": location.file, "line": location.line, "column": location.column}


def as_document(report: AuditReport) -> dict:
    evaluation = report.evaluation
    return {
        "stackyard": __version__,
        "mode": report.mode,
        "environment": report.environment,
        "target": report.target,
        "specDigest": report.spec_digest,
        "commit": report.commit,
        "asOf": report.as_of,
        "passed": evaluation.passed,
        "verdict": verdict(report),
        "summary": status_counts(report),
        "controls": [{
            "id": control.rule.id,
            "title": control.rule.title,
            "severity": control.rule.severity,
            "level": control.level,
            "status": control.status,
            "frameworks": control.rule.frameworks.labels(),
            "remediation": control.rule.remediation,
            "examined": list(control.examined),
            "failing": list(control.failing),
            "exempted": list(control.exempted),
        } for control in evaluation.controls],
        "findings": [{
            "rule": finding.rule.id,
            "severity": finding.rule.severity,
            "level": finding.level,
            "blocking": finding.blocking,
            "subject": finding.subject,
            "resource": report.display(finding.subject),
            "message": finding.message,
            "location": _location(report, finding.subject),
            "exemption": finding.exemption.to_json() if finding.exemption else None,
        } for finding in sorted(evaluation.findings, key=finding_order)],
        "exemptions": [{**status.exemption.to_json(), "status": status.status, "covers": status.covers}
                       for status in report.exemptions],
        "models": [{
            "endpoint": card.endpoint, "team": card.team, "model": card.model, "requested": card.requested,
            "runtime": card.runtime, "replicas": card.replicas, "slo": card.slo,
            "locked": card.locked.to_json() if card.locked else None,
        } for card in report.models],
        "skipped": list(report.skipped),
        "notExamined": [release.to_json() for release in report.not_examined],
    }


def render(report: AuditReport) -> str:
    return json.dumps(as_document(report), indent=2, sort_keys=False, ensure_ascii=False) + "\n"
