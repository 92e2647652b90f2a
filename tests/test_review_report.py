"""The pull-request review tells the truth: one count of findings everywhere, one comment that fits.

`stackyard diff`, `stackyard audit` and the pull-request comment all count
policy findings with policies.audit.audit_plan (the spec's levels and
exemptions, the registry lock beside the spec); these tests hold them to the
same numbers on the shipped prod and on a prod that raises a rule to
mandatory and exempts two of its findings. Planning is the slow part, so the
changed prod reuses the shipped prod's cached plan: the `policy:` block shapes
no resource (checked once when this test was written: the plans' resources are
identical).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from environments import loader
from policies.audit import audit_plan
from stacks import change_report
from stacks.diff import data_loss_verdict, diff_plans
from stacks.resource_rules import table
from stacks.review_sources import review_side
from conftest import REPO, plan_for

RAISED_AND_EXEMPTED = """policy:
  enforcement: mandatory
  rules: {SY-WKL-004: mandatory}
  exemptions:
    - {rule: SY-WKL-004, resource: "*::prod-features-server", owner: ml-platform@example.com,
       justification: Feast publishes no digests for this release yet, expires: "2099-12-31"}
    - {rule: SY-WKL-004, resource: "*::prod-features-materialize", owner: ml-platform@example.com,
       justification: Feast publishes no digests for this release yet, expires: "2099-12-31"}
"""


def _copy_environments(target: Path) -> Path:
    shutil.copytree(REPO / "environments", target, ignore=shutil.ignore_patterns("*.py", "schema", "__pycache__"))
    return target


@pytest.fixture(scope="module")
def changed_prod(tmp_path_factory) -> Path:
    folder = _copy_environments(tmp_path_factory.mktemp("repository") / "environments")
    spec_file = folder / "prod.yaml"
    text = spec_file.read_text()
    assert "policy:\n  enforcement: mandatory\n" in text
    spec_file.write_text(text.replace("policy:\n  enforcement: mandatory\n", RAISED_AND_EXEMPTED))
    return spec_file


def _side(spec_file: Path):
    spec = loader.load(str(spec_file))
    return spec, review_side(spec, plan_for("prod"), spec_file, spec_file.parent)


def _audit(spec_file: Path):
    spec = loader.load(str(spec_file))
    document, _ = loader.load_document(str(spec_file))
    return audit_plan(spec, document, plan_for("prod"), spec_file=spec_file)


def _report(base_file: Path, head_file: Path) -> dict:
    (_, base_side), (_, head_side) = _side(base_file), _side(head_file)
    diff = diff_plans(plan_for("prod"), plan_for("prod"), table())
    return change_report.build(environment="prod", source="offline plan", base={"label": "base"},
                               head={"label": "head"}, diff=diff, verdict=data_loss_verdict(diff.changes, []),
                               base_review=base_side, head_review=head_side)


def _counts(audit) -> dict:
    findings = audit.evaluation.findings
    return {"blocking": len(audit.evaluation.blocking), "total": len(findings),
            "exempted": sum(f.exemption is not None for f in findings),
            "advisory": sum(not f.blocking and f.exemption is None for f in findings)}


SHIPPED_PROD = REPO / "environments" / "prod.yaml"


def test_unchanged_prod_counts_what_the_audit_counts():
    audit = _audit(SHIPPED_PROD)
    report = _report(SHIPPED_PROD, SHIPPED_PROD)
    policy = report["policy"]
    assert policy["counts"] == _counts(audit)
    # The lock beside the spec is read: no finding about unlocked models is invented.
    assert {f["rule"] for f in (*policy["new"], *policy["blocking"])} == set()
    assert not any(f.rule.id == "SY-SRV-004" for f in audit.evaluation.findings)
    assert policy["current"] == len(audit.evaluation.findings) > 0
    assert (policy["new"], policy["fixed"], policy["changed"]) == ([], [], [])


def test_a_raised_level_and_new_exemptions_are_changes_not_new_and_fixed_findings(changed_prod):
    base, audit = _audit(SHIPPED_PROD), _audit(changed_prod)
    report = _report(SHIPPED_PROD, changed_prod)
    policy = report["policy"]
    assert policy["counts"] == _counts(audit) and policy["baseCounts"] == _counts(base)
    assert not audit.evaluation.passed and policy["counts"]["blocking"] == len(audit.evaluation.blocking) > 0
    # The same findings on both sides: nothing is new or fixed, only levels and exemptions change.
    assert policy["fixed"] == [] and policy["new"] == []

    def state(finding):
        return (finding.level, finding.exemption is not None)

    before = {(f.rule.id, f.subject, f.message): state(f) for f in base.evaluation.findings}
    expected = {(f.rule.id, f.subject): (before[(f.rule.id, f.subject, f.message)], state(f))
                for f in audit.evaluation.findings if state(f) != before[(f.rule.id, f.subject, f.message)]}
    assert {(f["rule"], f["resource"]): ((f["before"]["level"], f["before"]["exempted"]),
                                         (f["level"], f["exempted"])) for f in policy["changed"]} == expected
    raised = {key[1].rsplit("::", 1)[1]: after for key, (was, after) in expected.items() if key[0] == "SY-WKL-004"}
    assert raised["prod-features-server"] == raised["prod-features-materialize"] == ("mandatory", True)
    digests = sum(1 for f in base.evaluation.findings if f.rule.id == "SY-WKL-004")
    assert len(raised) == digests and list(raised.values()).count(("mandatory", False)) == digests - 2
    # Blocking items lead: they are in the report's first lines, not only deep in a table.
    markdown = change_report.render_markdown(report)
    blocking = len(audit.evaluation.blocking)
    assert f"Policy: {blocking} mandatory violations (exit 3)" in "\n".join(markdown.splitlines()[:12])
    assert f"Blocking (mandatory, not exempted): {blocking}" in markdown
    # Each blocking finding says where the spec sets it.
    assert all(f["location"] and f["location"]["line"] > 0 for f in policy["blocking"])


def test_the_comment_says_the_audit_verdict_and_annotates_the_spec(changed_prod, tmp_path, capsys):
    from stacks import cli

    report_file = tmp_path / "diff-prod.json"
    report_file.write_text(change_report.to_json(_report(SHIPPED_PROD, changed_prod)))
    comment = tmp_path / "comment.md"
    assert cli.main(["pr-comment", str(report_file), "--annotations", "--output", str(comment)]) == 0
    blocking = len(_audit(changed_prod).evaluation.blocking)
    assert f"Policy: {blocking} mandatory violations (exit 3)" in comment.read_text()
    annotations = [line for line in capsys.readouterr().out.splitlines() if line.startswith("::error ")]
    assert len(annotations) == blocking
    assert all(line.startswith("::error file=") and ".yaml,line=" in line for line in annotations)
    rules = sorted(f.rule.id for f in _audit(changed_prod).evaluation.blocking)
    assert sorted(line.split("::")[2].split()[1] for line in annotations) == rules


# --- the worst realistic pull request ---------------------------------------------

def _aged(value):
    """Every string of a plan's inputs changed, so every resource is updated or replaced."""
    if isinstance(value, dict):
        return {key: _aged(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_aged(item) for item in value]
    return value + "-previous" if isinstance(value, str) else value


def test_the_comment_fits_github_on_the_worst_realistic_change(changed_prod):
    head = plan_for("prod")
    base = {**head, "resources": [{**r, "inputs": _aged(r["inputs"])} for r in head["resources"]]}
    diff = diff_plans(base, head, table())
    assert diff.count("replace") + diff.count("update") > 0.9 * len(head["resources"])
    (_, base_side), (_, head_side) = _side(SHIPPED_PROD), _side(changed_prod)
    reports = [change_report.build(environment=name, source="offline plan", base={"label": "base"},
                                   head={"label": "head"}, diff=diff, verdict=data_loss_verdict(diff.changes, []),
                                   base_review=base_side, head_review=head_side)
               for name in ("dev", "staging", "prod")]
    parity = {"from": "staging", "to": "prod", "passed": False,
              "summary": {"allowed": 40, "bounded": 10, "forbidden": 400},
              "differences": [{"path": f"serving.endpoints[{i}].runtime", "verdict": "forbidden",
                               "reason": "the runtime must be the same in both " * 4} for i in range(400)]}
    failure = ("stackyard parity dev staging", "error: " + "x" * 10000 + "\n" * 50)
    full = sum(len(change_report.render_markdown(r)) for r in reports)
    assert full > change_report.COMMENT_LIMIT  # what the workflow used to post

    comment = change_report.render_comment(reports, [parity], [failure], details="Full reports: the job summary")
    assert len(comment) < change_report.COMMENT_LIMIT
    data_loss = sum(1 for risk in reports[0]["dataLoss"]["risks"] if risk["blocked"])
    blocking = reports[0]["policy"]["counts"]["blocking"]
    for name in ("dev", "staging", "prod"):
        assert f"`{name}`: data-loss guard: {data_loss}**" in comment
        assert f"`{name}`: mandatory findings: {blocking}**" in comment
    assert "forbidden differences: 400**" in comment and "… and 370 more in the full reports" in comment
    assert "stackyard parity dev staging failed:" in comment
    assert comment.rstrip().endswith("<sub>Full reports: the job summary</sub>")
    # The summary table comes first, the blocking items right after it.
    assert comment.index("| Environment |") < comment.index("#### Blocking") < comment.index("<details>")


def test_the_comment_refuses_files_that_are_not_reports(tmp_path, capsys):
    from stacks import cli

    stray = tmp_path / "plan.json"
    stray.write_text(json.dumps({"resources": []}))
    assert cli.main(["pr-comment", str(stray), "--output", str(tmp_path / "c.md")]) == 2
    assert "neither a change report" in capsys.readouterr().err
    assert not (tmp_path / "c.md").exists()


# --- where a finding points ----------------------------------------------------------

def test_an_inherited_value_is_located_where_the_base_spec_sets_it():
    from policies.reports import sarif

    audit = _audit(SHIPPED_PROD)
    runtimes = [f for f in audit.evaluation.findings if "::prod-serving-runtime-" in f.subject]
    assert len(runtimes) == 4
    base_lines = (REPO / "environments" / "base.yaml").read_text().splitlines()
    for finding in runtimes:
        where = audit.location(finding.subject)
        assert where.file == "environments/base.yaml"
        line = base_lines[where.line - 1]
        assert line.strip().startswith("image: ") and line.split("image: ")[1] in finding.message
    results = sarif.as_document(audit)["runs"][0]["results"]
    located = {result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for result in results
               if "::prod-serving-runtime-" in result["locations"][0]["logicalLocations"][0]["fullyQualifiedName"]}
    assert located == {"environments/base.yaml"}
    # A value derived elsewhere keeps the section it belongs to: the payload logger's image comes from
    # versions.kserve, not from the runtime that happens to hold the same text.
    logger = next(f for f in audit.evaluation.findings if f.subject.endswith("::prod-monitoring-payload-logger"))
    assert audit.location(logger.subject).file == "environments/prod.yaml"
