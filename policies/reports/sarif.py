"""SARIF 2.1.0 for code scanning: one run, every rule as a reportingDescriptor, every finding as a result.

A result points at the environment spec entry it comes from (or the manifest
document), so code scanning annotates the line a reviewer would change.
Exempted findings are kept as results with an accepted external suppression.
"""

from __future__ import annotations

import hashlib
import json

from policies.audit import AuditReport
from policies.engine import MANDATORY, Finding
from policies.reports.summary import finding_order
from environments import __version__

SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
INFORMATION_URI = "https://stackyard.dev/docs/policies"
# GitHub code scanning ranks security results by this number (0-10).
SECURITY_SEVERITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0"}


def _level(level: str) -> str:
    return "error" if level == MANDATORY else "warning"


def _descriptor(control) -> dict:
    rule = control.rule
    return {
        "id": rule.id,
        "name": "".join(word.capitalize() for word in rule.id.split("-")),
        "shortDescription": {"text": rule.title},
        "fullDescription": {"text": rule.rationale},
        "help": {"text": f"{rule.rationale}\nRemediation: {rule.remediation}",
                 "markdown": f"{rule.rationale}\n\n**Remediation:** {rule.remediation}\n\n"
                             f"**Frameworks:** {', '.join(rule.frameworks.labels()) or 'none'}"},
        "defaultConfiguration": {"level": _level(control.level), "enabled": control.level != "disabled"},
        "properties": {"tags": ["security", "policy", *rule.frameworks.labels()],
                       "security-severity": SECURITY_SEVERITY[rule.severity],
                       "problem.severity": rule.severity, "precision": "high"},
    }


def _fingerprint(finding: Finding) -> str:
    return hashlib.sha256(f"{finding.rule.id}|{finding.subject}|{finding.message}".encode()).hexdigest()[:32]


def _result(report: AuditReport, finding: Finding, rule_index: int) -> dict:
    location = report.location(finding.subject)
    located: dict = {"logicalLocations": [{"fullyQualifiedName": finding.subject, "kind": "resource"}]}
    if location is not None:
        located["physicalLocation"] = {
            "artifactLocation": {"uri": location.file, "uriBaseId": "%SRCROOT%"},
            "region": {"startLine": location.line, "startColumn": location.column},
        }
    result = {
        "ruleId": finding.rule.id,
        "ruleIndex": rule_index,
        "level": _level(finding.level),
        "message": {"text": f"{report.display(finding.subject)}: {finding.message}"},
        "locations": [located],
        "partialFingerprints": {"stackyardFinding/v1": _fingerprint(finding)},
        "properties": {"severity": finding.rule.severity, "enforcement": finding.level},
    }
    if finding.exemption is not None:
        exemption = finding.exemption
        result["suppressions"] = [{
            "kind": "external", "status": "accepted",
            "justification": f"{exemption.justification} (owner {exemption.owner}, expires {exemption.expires})",
        }]
    return result


def as_document(report: AuditReport) -> dict:
    controls = list(report.evaluation.controls)
    index = {control.rule.id: number for number, control in enumerate(controls)}
    notifications = [{"level": "note", "message": {"text": f"skipped {line}"}} for line in report.skipped]
    notifications += [{"level": "warning", "message": {"text": f"not examined: {release.describe()} (Helm renders "
                                                               "its objects at deploy time)"}}
                      for release in report.not_examined]
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "stackyard", "version": __version__, "informationUri": INFORMATION_URI,
                                "rules": [_descriptor(control) for control in controls]}},
            "automationDetails": {"id": f"stackyard/{report.mode}/{report.environment or report.target}/"},
            "invocations": [{"executionSuccessful": True, "toolExecutionNotifications": notifications}],
            "results": [_result(report, finding, index[finding.rule.id])
                        for finding in sorted(report.evaluation.findings, key=finding_order)],
            "properties": {"environment": report.environment, "target": report.target,
                           "specDigest": report.spec_digest, "commit": report.commit, "asOf": report.as_of},
        }],
    }


def render(report: AuditReport) -> str:
    return json.dumps(as_document(report), indent=2, ensure_ascii=False) + "\n"
