"""`stackyard review`: one run, each environment planned once, its diff, audit and parity from that plan."""

from __future__ import annotations

import json

from stacks.commands.review import Step, render_markdown, worst
from conftest import repository_copy, run_cli
from test_diff_git import git


def test_the_exit_code_is_the_worst_step():
    assert worst([0, 0]) == 0
    assert worst([0, 2, 3]) == 3
    assert worst([3, 4, 2]) == 4
    assert worst([0, 2, 1]) == 2


def test_failed_steps_show_their_error_in_place():
    text = render_markdown([Step("stackyard diff dev", 0, "{}", "## dev\n"),
                            Step("stackyard audit dev", 2, "stackyard: no lock\n")])
    assert text.startswith("## dev\n")
    assert "<details><summary>stackyard audit dev (exit 2)</summary>" in text and "stackyard: no lock" in text


def test_a_review_reports_the_diff_and_audit_of_one_plan_and_caches_the_base_plan(tmp_path):
    repo = repository_copy(tmp_path / "repo")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    spec = repo / "environments" / "local.yaml"
    spec.write_text(spec.read_text().replace("costCenter: ", "costCenter: x", 1))
    cache = tmp_path / "cache"

    out = tmp_path / "reports"
    result = run_cli("review", "local", "dev", "--base", "main", "--out", str(out), "--format", "json", cwd=repo,
                     env={"PYTHONPATH": str(repo), "STACKYARD_CACHE_DIR": str(cache)})
    first = json.loads(result.stdout)
    assert [step["command"] for step in first["steps"]] == ["stackyard diff local", "stackyard audit local",
                                                             "stackyard diff dev", "stackyard audit dev"]
    assert result.returncode == first["exitCode"] == max(step["exitCode"] for step in first["steps"])
    change = json.loads((out / "diff-local.json").read_text())
    assert change["environment"] == "local" and change["summary"]["update"] > 0
    assert json.loads((out / "diff-dev.json").read_text())["summary"]["update"] == 0  # dev did not change
    assert json.loads((out / "sarif" / "audit-local.sarif").read_text())["runs"]
    assert (out / "audit-local.junit").read_text().startswith("<?xml")
    report = (out / "full.md").read_text()
    assert "<details><summary>stackyard audit local (exit" in report
    assert len(list((cache / "base-plan").glob("*.json"))) == 2  # the next review of this base reuses them


def test_a_step_that_cannot_run_leaves_its_error_for_the_comment(tmp_path):
    from stacks.commands.review import _captured
    from stacks.errors import ExitCode, StackyardError

    def broken():
        raise StackyardError("no lock for prod", ExitCode.INVALID_INPUT)

    step = _captured("stackyard diff prod", broken)
    assert (step.code, step.text) == (2, "stackyard: no lock for prod\n")
    assert step.files == (("errors/stackyard_diff_prod.err", step.text),)
