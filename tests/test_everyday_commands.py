"""The everyday commands for people and machines: JSON out, several files in, progress on a terminal,
output arguments checked before the slow work, plain words ("1 node pool")."""

from __future__ import annotations

import io
import json
import shutil

import pytest

from stacks import cli
from stacks import plan as offline_plan
from conftest import REPO, plan_for


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(scope="module")
def prod_plan_file(tmp_path_factory):
    out = tmp_path_factory.mktemp("plan")
    offline_plan.write(plan_for("prod"), out)
    return out / "plan.json"


def test_audit_reads_an_existing_plan_and_refuses_one_of_another_spec(prod_plan_file, tmp_path, capsys):
    assert cli.main(["audit", "prod", "--plan", str(prod_plan_file), "--format", "json"]) == 0
    from_plan = json.loads(capsys.readouterr().out)
    assert cli.main(["audit", "prod", "--format", "json"]) == 0  # the same audit, planning itself
    planned = json.loads(capsys.readouterr().out)
    assert from_plan["environment"] == "prod" and from_plan["findings"] and from_plan["findings"] == planned["findings"]
    assert cli.main(["audit", "dev", "--plan", str(prod_plan_file)]) == 2
    assert "is the plan of 'prod'" in capsys.readouterr().err
    stale = json.loads(prod_plan_file.read_text())
    stale["specDigest"] = "0" * 64
    (tmp_path / "plan.json").write_text(json.dumps(stale))
    assert cli.main(["audit", "prod", "--plan", str(tmp_path / "plan.json")]) == 2
    assert "plan again with `stackyard plan prod --out DIR`" in capsys.readouterr().err


def test_progress_goes_to_a_terminal_only_and_not_with_quiet(prod_plan_file, monkeypatch, capsys):
    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    assert cli.main(["audit", "prod", "--plan", str(prod_plan_file)]) == 0
    lines = terminal.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].startswith("stackyard: evaluating the policy rules… ")
    assert lines[0].endswith(" s")
    quiet = Terminal()
    monkeypatch.setattr("sys.stderr", quiet)
    assert cli.main(["audit", "prod", "--plan", str(prod_plan_file), "--quiet"]) == 0
    assert quiet.getvalue() == ""
    monkeypatch.undo()
    assert cli.main(["audit", "prod", "--plan", str(prod_plan_file)]) == 0
    assert capsys.readouterr().err == ""  # not a terminal: nothing


def test_output_arguments_are_checked_before_any_planning(tmp_path, capsys, monkeypatch):
    def no_planning(*args, **kwargs):
        raise AssertionError("planned before checking the output arguments")

    monkeypatch.setattr(offline_plan, "build", no_planning)
    assert cli.main(["diff", "prod", "--markdown", str(tmp_path)]) == 2
    assert "it is a folder; name a file" in capsys.readouterr().err
    (tmp_path / "file").write_text("")
    assert cli.main(["audit", "prod", "--output", str(tmp_path / "file" / "audit.txt")]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
    assert cli.main(["plan", "prod", "--out", str(tmp_path / "file")]) == 2
    assert cli.main(["parity", "staging", "prod", "--json", str(tmp_path)]) == 2


def test_validate_takes_several_files_and_speaks_json(tmp_path, capsys):
    broken = tmp_path / "broken.yaml"
    broken.write_text((REPO / "environments" / "dev.yaml").read_text().replace("metadata:\n", "metadata:\n  x: 1\n", 1))
    shutil.copy(REPO / "environments" / "base.yaml", tmp_path / "base.yaml")
    assert cli.main(["validate", "dev", "prod", str(broken), "--format", "json"]) == 2
    document = json.loads(capsys.readouterr().out)
    assert document["valid"] is False
    assert [e["valid"] for e in document["environments"]] == [True, True, False]
    (problem,) = document["environments"][2]["problems"]
    line = broken.read_text().splitlines().index("  x: 1") + 1
    assert (problem["line"], problem["path"]) == (line, ["metadata", "x"]) and "unknown key 'x'" in problem["message"]
    assert cli.main(["validate", "dev", "prod"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("environments/dev.yaml: environment dev is valid (1 node pool, 1 endpoint, 1 pipeline;")


def test_validate_warns_when_plan_would_stop_on_the_lock(tmp_path, capsys):
    for name in ("base.yaml", "prod.yaml"):
        shutil.copy(REPO / "environments" / name, tmp_path / name)  # no prod.lock.yaml beside the copy
    assert cli.main(["validate", str(tmp_path / "prod.yaml")]) == 0
    err = capsys.readouterr().err
    assert "the spec is valid, but `stackyard plan` would stop:" in err and "run `stackyard lock" in err


def test_the_plan_summary_counts_what_the_diff_counts_and_speaks_json():
    plan = plan_for("prod")
    headline = offline_plan.render_summary(plan).splitlines()[0]
    assert headline.startswith(f"environment prod: {len(plan['resources'])} resources (")
    document = offline_plan.summary_document(plan)
    assert document["resources"] == len(plan["resources"])
    assert document["provisioned"] == sum(t["count"] for t in document["types"]) < document["resources"]


def test_the_audit_table_fits_the_terminal_and_never_cuts_a_message(monkeypatch):
    from environments import loader
    from policies.audit import audit_plan
    from policies.reports import render

    spec_file = loader.spec_path("prod").resolve()
    report = audit_plan(loader.load("prod"), loader.load_document(str(spec_file))[0], plan_for("prod"),
                        spec_file=spec_file)
    for columns in (100, 160):
        monkeypatch.setenv("COLUMNS", str(columns))
        findings = render(report, "table").split("\n\n")[1].splitlines()
        start = findings[0].index("message")
        lead = len(findings[0][:start])
        # Only a single word longer than the column (an image reference) may run past the edge.
        assert all(len(line) <= max(columns, lead + 30) or " " not in line[start:].strip() for line in findings)
        column = " ".join(line[start:].strip() for line in findings[2:])
        for finding in report.evaluation.findings:
            assert finding.message in column


@pytest.mark.parametrize("old, new, message", [
    ('cron: "0 6 * * 1"', 'cron: "@daily"', "invalid cron schedule: expected 5 fields (minute hour day-of-month "
                                            "month day-of-week), found 1 in '@daily'"),
    ("runtime: sklearnserver", "runtime: sklearnservr",
     "unknown serving runtime 'sklearnservr'; did you mean 'sklearnserver'?"),
    ("model_name: recsys-ranker", "model_nme: recsys-ranker", "did you mean 'model_name'?"),
])
def test_spec_problems_say_what_a_user_means(old, new, message, tmp_path, capsys):
    spec = tmp_path / "dev.yaml"
    text = (REPO / "environments" / "dev.yaml").read_text()
    assert old in text
    spec.write_text(text.replace(old, new, 1))
    shutil.copy(REPO / "environments" / "base.yaml", tmp_path / "base.yaml")
    assert cli.main(["validate", str(spec)]) == 2
    assert message in capsys.readouterr().err


def test_ci_help_names_its_words_plainly(capsys):
    with pytest.raises(SystemExit):
        cli.main(["ci", "--help"])
    out = capsys.readouterr().out
    assert "init github" in out and "{init}" not in out


def test_spec_problems_are_annotations_under_github_actions(tmp_path, capsys, monkeypatch):
    spec = tmp_path / "dev.yaml"
    spec.write_text((REPO / "environments" / "dev.yaml").read_text().replace("metadata:\n", "metadata:\n  x: 1\n", 1))
    shutil.copy(REPO / "environments" / "base.yaml", tmp_path / "base.yaml")
    line = spec.read_text().splitlines().index("  x: 1") + 1
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    assert cli.main(["audit", str(spec)]) == 2
    annotations = [text for text in capsys.readouterr().err.splitlines() if text.startswith("::error ")]
    assert len(annotations) == 1 and f"dev.yaml,line={line}::" in annotations[0]
    monkeypatch.delenv("GITHUB_ACTIONS")
    assert cli.main(["validate", str(spec)]) == 2
    assert "::error" not in capsys.readouterr().err
