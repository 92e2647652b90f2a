"""JUnit XML for CI test views: one test case per rule.

A rule with mandatory violations is a failure; advisory violations, exemptions
and not-applicable rules pass with what happened in system-out, so the test
view fails exactly when the audit's exit code does. Disabled rules are skipped.
"""

from __future__ import annotations

from xml.etree import ElementTree

from policies.audit import AuditReport
from policies.reports.summary import NOT_EXAMINED


def render(report: AuditReport) -> str:
    findings_by_rule: dict[str, list] = {}
    for finding in report.evaluation.findings:
        findings_by_rule.setdefault(finding.rule.id, []).append(finding)
    suite_name = f"stackyard policy {report.environment or report.target}"
    controls = report.evaluation.controls
    suite = ElementTree.Element("testsuite", {
        "name": suite_name,
        "tests": str(len(controls)),
        "failures": str(sum(1 for c in controls if any(f.blocking for f in findings_by_rule.get(c.rule.id, [])))),
        "errors": "0",
        "skipped": str(sum(1 for c in controls if c.status == "disabled")),
    })
    properties = ElementTree.SubElement(suite, "properties")
    for name, value in (("environment", report.environment), ("target", report.target),
                        ("specDigest", report.spec_digest), ("commit", report.commit), ("asOf", report.as_of)):
        ElementTree.SubElement(properties, "property", {"name": name, "value": value})
    for control in controls:
        rule = control.rule
        case = ElementTree.SubElement(suite, "testcase", {
            "classname": f"stackyard.policy.{rule.id.split('-')[1].lower()}",
            "name": f"{rule.id} {rule.title}",
        })
        findings = findings_by_rule.get(rule.id, [])
        blocking = [f for f in findings if f.blocking]
        if control.status == "disabled":
            ElementTree.SubElement(case, "skipped", {"message": "rule disabled in this environment"})
        elif blocking:
            failure = ElementTree.SubElement(case, "failure", {
                "type": rule.severity,
                "message": f"{len(blocking)} mandatory violation{'s' if len(blocking) != 1 else ''}"})
            failure.text = "\n".join(f"{report.display(f.subject)}: {f.message}" for f in blocking)
        lines = [f"{'exempted' if f.exemption else f.level}: {report.display(f.subject)}: {f.message}"
                 for f in findings if not f.blocking]
        lines.append(f"status {control.status}; examined {len(control.examined)} subject(s)")
        ElementTree.SubElement(case, "system-out").text = "\n".join(lines)
    if report.not_examined:
        ElementTree.SubElement(suite, "system-out").text = "\n".join(
            [NOT_EXAMINED] + [release.describe() for release in report.not_examined])
    suites = ElementTree.Element("testsuites", {"name": "stackyard policy audit"})
    suites.append(suite)
    ElementTree.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(suites, encoding="unicode") + "\n"
