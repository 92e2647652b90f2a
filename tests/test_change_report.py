"""Diffing plans, the data-loss guard, the change report, and reading `pulumi preview --json`.

The fixture change (tests/fixtures/change_report/) is the one the git tests
make with tests/fixtures/diff/pr-*.yaml: base-plan.json and head-plan.json
are the offline plans of both sides, preview.json the same change as
`pulumi preview --json` prints it (real URNs carry the whole parent chain).
expected.md is the Markdown report of the offline pair; regenerate it with
STACKYARD_REGENERATE=1 and read the diff before committing it.
"""

from __future__ import annotations

import json
import os
import shutil

import pytest

from stacks import change_report, preview_json
from stacks.diff import Acknowledgement, data_loss_verdict, diff_plans, spec_acknowledgements
from stacks.errors import StackyardError
from stacks.resource_rules import table
from policies.engine import Finding
from policies.rules import RULES_BY_ID
from stacks.review_sources import ParityDifference, PolicyReview, SideReview, Unavailable
from conftest import FIXTURES, run_cli

REPORTS = FIXTURES / "change_report"
CLUSTER = "urn:pulumi:t::stackyard::stackyard:compute:Cluster"


def _plan(name: str) -> dict:
    return json.loads((REPORTS / name).read_text())


def _resource(urn: str, type_: str, inputs: dict, provider: str = "", protect: bool = False) -> dict:
    return {"urn": urn, "type": type_, "name": urn.rsplit("::", 1)[-1], "parent": "", "provider": provider,
            "dependencies": [], "protect": protect, "inputs": inputs}


# --- diffing plans -----------------------------------------------------------

def test_fixture_change_has_one_of_each_kind():
    diff = diff_plans(_plan("base-plan.json"), _plan("head-plan.json"), table())
    by_name = {change.name: change for change in diff.changes}
    assert by_name["pr-monitoring-ns"].op == "create"
    assert by_name["pr-cluster-eks"].op == "update"
    assert [p.path for p in by_name["pr-cluster-eks"].properties] == [
        "enabledClusterLogTypes[2]", "enabledClusterLogTypes[3]", "enabledClusterLogTypes[4]"]
    assert by_name["pr-serving-ns"].op == "replace"
    assert by_name["pr-serving-ns"].replace_reasons == ("metadata.name",)
    assert [(p.path, p.old, p.new, p.replaces) for p in by_name["pr-serving-ns"].properties] == [
        ("metadata.name", "serving", "inference", True)]
    assert by_name["pr-pipelines-ns"].op == "delete"
    assert diff.unchanged == 5


def test_replacing_a_provider_replaces_what_it_manages():
    provider = f"{CLUSTER}$pulumi:providers:kubernetes::k8s"
    namespace = "urn:pulumi:t::stackyard::stackyard:serving:Serving$kubernetes:core/v1:Namespace::ns"
    base = {"resources": [_resource(provider, "pulumi:providers:kubernetes", {"kubeconfig": "one"}),
                          _resource(namespace, "kubernetes:core/v1:Namespace", {"metadata": {"name": "s"}}, provider)]}
    head = json.loads(json.dumps(base))
    head["resources"][0]["inputs"]["kubeconfig"] = "two"
    changes = {c.name: c for c in diff_plans(base, head, table()).changes}
    assert changes["k8s"].op == "replace" and changes["k8s"].replace_reasons == ("kubeconfig",)
    assert changes["ns"].op == "replace"
    assert changes["ns"].replace_reasons == ("its provider k8s is replaced",)
    assert changes["ns"].properties == ()


def test_a_delete_with_the_same_inputs_created_elsewhere_is_a_rename_hint():
    old = _resource("urn:pulumi:t::stackyard::stackyard:features:FeatureStore$aws:s3/bucket:Bucket::offline",
                    "aws:s3/bucket:Bucket", {"bucket": "b"})
    new = _resource("urn:pulumi:t::stackyard::stackyard:features:Store$aws:s3/bucket:Bucket::offline",
                    "aws:s3/bucket:Bucket", {"bucket": "b"})
    diff = diff_plans({"resources": [old]}, {"resources": [new]}, table())
    deleted = next(c for c in diff.changes if c.op == "delete")
    assert deleted.rename_of == new["urn"]
    assert "every object in the bucket" in deleted.stateful


def test_protected_resources_are_stateful_and_unknown_types_are_reported():
    urn = "urn:pulumi:t::stackyard::stackyard:x:X$aws:mq/broker:Broker::q"  # a type the table lacks
    base = {"resources": [_resource(urn, "aws:mq/broker:Broker", {"name": "a"}, protect=True)]}
    head = {"resources": [_resource(urn, "aws:mq/broker:Broker", {"name": "b"})]}
    diff = diff_plans(base, head, table())
    assert diff.unpredictable_types == ("aws:mq/broker:Broker",)
    assert diff_plans(base, {"resources": []}, table()).changes[0].stateful.startswith("protected")


# --- the data-loss guard -----------------------------------------------------

def test_acknowledgements_match_urn_or_name_globs():
    diff = diff_plans(_plan("base-plan.json"), _plan("head-plan.json"), table())
    assert data_loss_verdict(diff.changes, []).status == "blocked"
    by_name = Acknowledgement("pr-*-ns", "the namespaces move, their data is backed up", "ana", "command line")
    verdict = data_loss_verdict(diff.changes, [by_name])
    assert verdict.status == "acknowledged"
    assert {risk.change.name for risk in verdict.risks} == {"pr-serving-ns", "pr-pipelines-ns"}
    by_urn = Acknowledgement("*Serving$kubernetes:core/v1:Namespace::*", "moving the namespace", "ana", "spec")
    assert [r.change.name for r in data_loss_verdict(diff.changes, [by_urn]).blocked] == ["pr-pipelines-ns"]


def test_an_acknowledgement_already_in_the_base_spec_does_not_apply_again():
    class Entry:
        def __init__(self, resource):
            self.resource, self.reason, self.by = resource, "an old migration, done", "ana"

    applicable, carried = spec_acknowledgements([Entry("pr-*-ns"), Entry("new-*")], [Entry("pr-*-ns")], "pr.yaml")
    assert [a.resource for a in applicable] == ["new-*"] and [a.resource for a in carried] == ["pr-*-ns"]
    diff = diff_plans(_plan("base-plan.json"), _plan("head-plan.json"), table())
    verdict = data_loss_verdict(diff.changes, applicable, carried)
    assert verdict.status == "blocked" and [a.resource for a in verdict.carried_over] == ["pr-*-ns"]


# --- the report --------------------------------------------------------------

def _fixture_report(review: bool = True) -> dict:
    diff = diff_plans(_plan("base-plan.json"), _plan("head-plan.json"), table())
    acknowledgement = Acknowledgement("pr-pipelines-ns", "Kubeflow moves to the shared cluster; runs archived",
                                      "ana@example.com", "environments/pr.yaml")
    verdict = data_loss_verdict(diff.changes, [acknowledgement])
    # Sample answers of the sources, to show how the report renders them (not real findings).
    base_side = SideReview(
        policy=PolicyReview([Finding(RULES_BY_ID["SY-WKL-013"], "mandatory", "pr-pipelines-ns",
                                     "namespace has no owner label")]),
        parity=[], cost={"t4-dev": 1.05})
    head_side = SideReview(
        policy=PolicyReview([Finding(RULES_BY_ID["SY-SRV-005"], "advisory", "pr-monitoring-ns",
                                     "no retention set | default used")]),
        parity=[ParityDifference("serving.namespace", "allowed", "may differ freely", "staging:prod")],
        cost={"t4-dev": 1.05, "l4-batch": 3.2})
    return change_report.build(
        environment="pr", source="offline plan",
        base={"label": "merge base with main (1442561e0f7c)", "commit": "1442561e0f7c", "specDigest": None},
        head={"label": "working tree (HEAD ab423c17e4fd)", "specDigest": None},
        diff=diff, verdict=verdict, base_review=base_side if review else None,
        head_review=head_side if review else None, unavailable_reason="not asked for")


def test_markdown_report_of_the_fixture_change_matches_the_expected_file():
    markdown = change_report.render_markdown(_fixture_report())
    expected = REPORTS / "expected.md"
    if os.environ.get("STACKYARD_REGENERATE"):
        expected.write_text(markdown)
    assert markdown == expected.read_text()


def test_json_report_is_the_same_document_markdown_is_rendered_from():
    report = _fixture_report()
    assert json.loads(change_report.to_json(report)) == report
    assert report["summary"] == {"create": 2, "update": 1, "replace": 1, "delete": 2, "unchanged": 5}
    assert report["dataLoss"]["status"] == "blocked"
    assert report["gpuCost"] == {"available": True, "before": 1.05, "after": 4.25, "change": 3.2, "pools": [
        {"pool": "l4-batch", "before": None, "after": 3.2}, {"pool": "t4-dev", "before": 1.05, "after": 1.05}]}
    assert [f["rule"] for f in report["policy"]["new"]] == ["SY-SRV-005"]
    assert [f["rule"] for f in report["policy"]["fixed"]] == ["SY-WKL-013"]


def test_unavailable_sources_are_said_in_one_line_each():
    markdown = change_report.render_markdown(_fixture_report(review=False))
    assert markdown.count("_Not available: not asked for._") == 3
    side = SideReview(policy=Unavailable("policies.audit is not part of this checkout"), parity=[], cost={})
    report = change_report.build(environment="pr", source="offline plan", base={"label": "b"}, head={"label": "h"},
                                 diff=diff_plans({}, {}, table()), verdict=data_loss_verdict([], []),
                                 base_review=side, head_review=side)
    assert report["policy"] == {"available": False, "reason": "policies.audit is not part of this checkout (head)"}


def _structure(markdown: str) -> list[str]:
    """Headings and table headers: what a reader navigates by."""
    lines = markdown.splitlines()
    return [line for i, line in enumerate(lines)
            if line.startswith("#") or (line.startswith("|") and i + 1 < len(lines) and lines[i + 1].startswith("|---"))]


def test_a_real_preview_renders_like_the_offline_diff():
    diff, stack = preview_json.read(json.loads((REPORTS / "preview.json").read_text()), table())
    assert stack == "pr"
    acknowledgement = Acknowledgement("pr-pipelines-ns", "Kubeflow moves to the shared cluster; runs archived",
                                      "ana@example.com", "environments/pr.yaml")
    from_preview = change_report.build(
        environment="pr", source="pulumi preview", base={"label": "deployed"}, head={"label": "preview"},
        diff=diff, verdict=data_loss_verdict(diff.changes, [acknowledgement]), base_review=None, head_review=None,
        unavailable_reason="a Pulumi preview carries no spec")
    offline = _fixture_report(review=False)  # the sources are unavailable for both, as for any preview
    assert _structure(change_report.render_markdown(from_preview)) == _structure(change_report.render_markdown(offline))
    assert from_preview["summary"] == offline["summary"]
    assert from_preview["components"] == offline["components"]

    def risks(report):
        return [(r["name"], r["op"], r["data"], r["acknowledgement"]) for r in report["dataLoss"]["risks"]]

    def changes(report):
        return [(c["name"], c["op"], c["component"], c["uses"], [(p["path"], p["old"], p["new"], p["replaces"])
                                                              for p in c["properties"]]) for c in report["changes"]]

    assert risks(from_preview) == risks(offline)
    assert changes(from_preview) == changes(offline)


@pytest.mark.parametrize("document, message", [
    ([], "no `steps` list"),
    ({"steps": [{"op": "create"}]}, r"steps\[0\] needs a string `op` and `urn`"),
])
def test_preview_documents_of_the_wrong_shape_are_refused(document, message):
    with pytest.raises(StackyardError, match=message) as error:
        preview_json.read(document, table())
    assert error.value.code == 2


def test_report_preview_command(tmp_path):
    preview = REPORTS / "preview.json"
    blocked = run_cli("report-preview", str(preview), "--json", str(tmp_path / "r.json"))
    assert blocked.returncode == 4, blocked.stderr
    assert "data-loss guard: 2 unacknowledged" in blocked.stderr
    assert json.loads((tmp_path / "r.json").read_text())["source"] == "pulumi preview"
    allowed = run_cli("report-preview", str(preview), "--allow-data-loss", "pr-*-ns", "--reason",
                      "namespaces are recreated empty on purpose", "--by", "ana")
    assert allowed.returncode == 0, allowed.stderr
    assert "by ana (command line): namespaces are recreated empty on purpose" in allowed.stdout
    no_reason = run_cli("report-preview", str(preview), "--allow-data-loss", "*")
    assert no_reason.returncode == 2 and "needs --reason" in no_reason.stderr
    (tmp_path / "bad.json").write_text("{\n  \"steps\": [,]\n}")
    bad = run_cli("report-preview", str(tmp_path / "bad.json"))
    assert bad.returncode == 2 and "bad.json:2:13: not JSON" in bad.stderr


def test_secrets_stay_masked_and_unchanged_secrets_are_no_change():
    urn = "urn:pulumi:t::stackyard::stackyard:x:X$kubernetes:core/v1:Secret::s"
    base = {"resources": [_resource(urn, "kubernetes:core/v1:Secret", {"data": {"token": "[secret]"}, "type": "Opaque"})]}
    same = {"resources": [_resource(urn, "kubernetes:core/v1:Secret", {"data": {"token": "[secret]"}, "type": "Opaque"})]}
    assert diff_plans(base, same, table()).changes == ()
    retyped = {"resources": [_resource(urn, "kubernetes:core/v1:Secret", {"data": {"token": "[secret]"}, "type": "tls"})]}
    change = diff_plans(base, retyped, table()).changes[0]
    assert change.op == "replace" and [p.path for p in change.properties] == ["type"]


def test_parity_changes_come_from_the_parity_contract(tmp_path):
    from stacks.review_sources import new_and_fixed, parity_differences
    from conftest import REPO

    before = parity_differences("prod", REPO / "environments")
    assert not isinstance(before, Unavailable), before
    changed = tmp_path / "environments"
    shutil.copytree(REPO / "environments", changed)
    (changed / "prod.yaml").write_text((changed / "prod.yaml").read_text() + "\nversions:\n  kserve: v0.20.1\n")
    new, fixed = new_and_fixed(before, parity_differences("prod", changed))
    assert [(d.pair, d.path, d.verdict) for d in new] == [("staging:prod", "versions.kserve", "forbidden")]
    assert "v0.20.0 → v0.20.1" in new[0].message and fixed == []


def test_a_renamed_source_function_fails_the_import_instead_of_reading_as_unavailable(tmp_path):
    """review_sources imports its sources directly: on a copy of the tree where policies.parity's
    `compare` is renamed, importing it fails and names the function."""
    import subprocess
    import sys

    from conftest import REPO

    for package in ("environments", "pipelines", "components", "policies", "stacks"):
        shutil.copytree(REPO / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    parity = tmp_path / "policies" / "parity.py"
    parity.write_text(parity.read_text().replace("def compare(", "def compare_specs("))
    done = subprocess.run([sys.executable, "-c", "import stacks.review_sources"], cwd=tmp_path,
                          env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"}, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 1
    assert "ImportError: cannot import name 'compare' from 'policies.parity'" in done.stderr


# --- protection ------------------------------------------------------------------

BUCKET = "urn:pulumi:t::stackyard::stackyard:features:FeatureStore$aws:s3/bucket:Bucket::prod-features-offline"


def _bucket_change(new_bucket: dict | None):
    old = _resource(BUCKET, "aws:s3/bucket:Bucket", {"bucket": "prod-features-offline"}, protect=True)
    diff = diff_plans({"resources": [old]}, {"resources": [new_bucket] if new_bucket else []}, table())
    acknowledged = [Acknowledgement("*::prod-features-offline", "moved to the data lake", "ana", "prod.yaml")]
    return diff, data_loss_verdict(diff.changes, acknowledged)


def test_an_acknowledged_replacement_of_a_protected_bucket_still_blocks():
    renamed = _resource(BUCKET, "aws:s3/bucket:Bucket", {"bucket": "prod-features-archive"}, protect=True)
    diff, verdict = _bucket_change(renamed)
    assert [(c.op, c.protection) for c in diff.changes] == [("replace", "kept")]
    assert verdict.status == "blocked" and verdict.risks[0].acknowledgement is not None
    report = change_report.build(environment="prod", source="offline plan", base={"label": "b"}, head={"label": "h"},
                                 diff=diff, verdict=verdict, base_review=None, head_review=None,
                                 unavailable_reason="not asked for")
    assert change_report_exit(report) == 4
    markdown = change_report.render_markdown(report)
    assert "1 protected (protect=true), which Pulumi refuses to delete or replace" in markdown
    assert "`pulumi state unprotect URN`" in markdown


def test_a_replacement_that_lifts_the_protection_is_acknowledgeable_and_a_delete_is_not():
    lifted = _resource(BUCKET, "aws:s3/bucket:Bucket", {"bucket": "prod-features-archive"}, protect=False)
    diff, verdict = _bucket_change(lifted)
    assert [(c.op, c.protection) for c in diff.changes] == [("replace", "lifted")]
    assert verdict.status == "acknowledged"
    diff, verdict = _bucket_change(None)
    assert [(c.op, c.protection) for c in diff.changes] == [("delete", "kept")] and verdict.status == "blocked"


def change_report_exit(report: dict, detailed: bool = False) -> int:
    from stacks.commands.change_common import exit_code

    return exit_code(report, detailed)


def test_a_preview_with_error_diagnostics_fails(tmp_path, capsys):
    from stacks import cli

    document = json.loads((REPORTS / "preview.json").read_text())
    # Pulumi's apitype.DiagnosticEvent: urn, prefix, message, color, severity (info, info#err, warning, error).
    document["diagnostics"] = [
        {"urn": CLUSTER + "::pr-cluster", "prefix": "warning: ", "message": "deprecated field", "color": "never",
         "severity": "warning"},
        {"urn": CLUSTER + "::pr-cluster", "prefix": "error: ", "message": "AccessDenied: eks:DescribeCluster\n",
         "color": "never", "severity": "error"}]
    preview = tmp_path / "preview.json"
    preview.write_text(json.dumps(document))
    code = cli.main(["report-preview", str(preview), "--allow-data-loss", "pr-*-ns", "--reason",
                     "namespaces are recreated empty on purpose", "--by", "ana"])
    out, err = capsys.readouterr()
    assert code == 5
    assert "the preview failed: 1 error diagnostic (pr-cluster: AccessDenied: eks:DescribeCluster)" in err
    assert out.splitlines()[4].startswith("⛔ **The preview failed: 1 error.**")
    assert "No changes" not in out and "deprecated field" not in out


def test_detailed_exitcode_says_changes_are_present_without_colliding(capsys):
    from stacks import cli

    preview = str(REPORTS / "preview.json")
    allow = ["--allow-data-loss", "pr-*-ns", "--reason", "namespaces are recreated empty on purpose", "--by", "ana"]
    assert cli.main(["report-preview", preview, *allow]) == 0
    assert cli.main(["report-preview", preview, *allow, "--detailed-exitcode"]) == 6
    assert cli.main(["report-preview", preview, "--detailed-exitcode"]) == 4  # the guard still wins
    document = json.loads((REPORTS / "preview.json").read_text())
    unchanged = {**document, "steps": [step for step in document["steps"] if step["op"] == "same"]}
    capsys.readouterr()
    assert change_report_exit(_report_of(unchanged), detailed=True) == 0


def _report_of(document: dict) -> dict:
    diff, _ = preview_json.read(document, table())
    return change_report.build(environment="pr", source="pulumi preview", base={"label": "b"}, head={"label": "h"},
                               diff=diff, verdict=data_loss_verdict(diff.changes, []), base_review=None,
                               head_review=None, unavailable_reason="not asked for")
