"""`stackyard promote`: minimal, comment-preserving rewrites of the target spec and lock, and its refusals."""

from __future__ import annotations

import difflib
import os
import shutil
import stat
import sys
import types
from pathlib import Path

import pytest

from environments import loader, promotion
from stacks import cli
from stacks.commands import promote
from stacks.errors import ExitCode, StackyardError

PROD_COMMENT = "      # pinned after the 2025-05 A/B test; see the model card\n"

LOCK = """\
# Written by `stackyard lock {env}`: the registry versions this environment serves.
environment: {env}
endpoints:
  recsys-ranker:
    name: recsys-ranker
    version: {recsys}
    source: s3://models/recsys-ranker/{recsys}/artifacts
    run_id: run-{recsys}
    tags: {{model_card: https://cards.example.com/recsys-ranker/{recsys}}}
    resolved_at: '2025-06-0{recsys}T10:00:00Z'
  fraud-scorer:
    name: fraud-xgb
    version: 5
    source: s3://models/fraud-xgb/5/artifacts
    run_id: run-fraud-5
    tags: {{}}
    resolved_at: '2025-06-01T10:00:00Z'
"""


@pytest.fixture
def environments(tmp_path) -> Path:
    """staging serves recsys-ranker version 8, prod version 7; prod's file carries comments to keep."""
    for name in ("base", "staging", "prod"):
        shutil.copy(loader.ENVIRONMENTS_DIR / f"{name}.yaml", tmp_path / f"{name}.yaml")
    staging = tmp_path / "staging.yaml"
    staging.write_text(staging.read_text().replace("      name: recsys-ranker\n      version: 7\n",
                                                   "      name: recsys-ranker\n      version: 8\n", 1))
    prod = tmp_path / "prod.yaml"
    text = prod.read_text()
    marker = "      name: recsys-ranker\n      version: 7\n"
    assert text.count(marker) == 1
    prod.write_text(text.replace(marker, "      name: recsys-ranker\n" + PROD_COMMENT
                                 + "      version: 7  # promoted from staging\n"))
    return tmp_path


@pytest.fixture
def audit_passes(monkeypatch):
    calls = []

    def passing_audit(environment):
        calls.append(environment)
        return 0, "audit: 0 mandatory failures\n"

    monkeypatch.setattr(promote, "source_audit", passing_audit)
    return calls


def run_promote(environments: Path, *args: str) -> int:
    return cli.main(["promote", str(environments / "staging.yaml"), str(environments / "prod.yaml"), *args])


def changed_lines(before: str, after: str) -> list[str]:
    return [line for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
            if line[:1] in "+-" and not line.startswith(("+++", "---"))]


def test_promoting_one_endpoint_changes_only_its_model_version_line(environments, audit_passes, capsys):
    before = (environments / "prod.yaml").read_text()
    assert run_promote(environments, "--endpoint", "recsys-ranker") == 0
    after = (environments / "prod.yaml").read_text()
    assert changed_lines(before, after) == ["-      version: 7  # promoted from staging",
                                            "+      version: 8  # promoted from staging"]
    assert PROD_COMMENT in after
    assert [line for line in after.splitlines() if "#" in line] == \
        [line.replace("version: 7", "version: 8") for line in before.splitlines() if "#" in line]
    assert audit_passes == [str(environments / "staging.yaml")]
    output = capsys.readouterr().out
    assert "audit of staging: passed" in output
    assert "promoted endpoints[recsys-ranker].model.version: 7 -> 8" in output
    assert "+      version: 8  # promoted from staging" in output  # the diff is shown
    model = next(e for e in loader.load(str(environments / "prod.yaml")).endpoints if e.name == "recsys-ranker").model
    assert model.version == 8


def test_a_switch_from_alias_to_version_replaces_that_line_only(environments, audit_passes):
    staging = environments / "staging.yaml"
    staging.write_text(staging.read_text().replace("      name: fraud-xgb\n      alias: champion\n",
                                                   "      name: fraud-xgb\n      version: 5\n"))
    before = (environments / "prod.yaml").read_text()
    assert run_promote(environments, "--endpoint", "fraud-scorer") == 0
    assert changed_lines(before, (environments / "prod.yaml").read_text()) == ["-      alias: champion",
                                                                               "+      version: 5"]


def test_the_lock_entry_travels_with_the_pin(environments, audit_passes):
    (environments / "staging.lock.yaml").write_text(LOCK.format(env="staging", recsys=8))
    prod_lock = environments / "prod.lock.yaml"
    prod_lock.write_text(LOCK.format(env="prod", recsys=7))
    assert run_promote(environments, "--endpoint", "recsys-ranker") == 0
    assert changed_lines(LOCK.format(env="prod", recsys=7), prod_lock.read_text()) == [
        "-    version: 7", "-    source: s3://models/recsys-ranker/7/artifacts", "-    run_id: run-7",
        "-    tags: {model_card: https://cards.example.com/recsys-ranker/7}",
        "-    resolved_at: '2025-06-07T10:00:00Z'",
        "+    version: 8", "+    source: s3://models/recsys-ranker/8/artifacts", "+    run_id: run-8",
        "+    tags: {model_card: https://cards.example.com/recsys-ranker/8}",
        "+    resolved_at: '2025-06-08T10:00:00Z'"]


def test_a_target_lock_without_a_source_lock_is_refused(environments, audit_passes, capsys):
    (environments / "prod.lock.yaml").write_text(LOCK.format(env="prod", recsys=7))
    before = (environments / "prod.yaml").read_text()
    assert run_promote(environments, "--endpoint", "recsys-ranker") == ExitCode.INVALID_INPUT
    assert "run `stackyard lock staging` first" in capsys.readouterr().err
    assert (environments / "prod.yaml").read_text() == before


def test_pipeline_code_that_does_not_fit_the_targets_parameters_is_refused(environments, audit_passes, capsys):
    # Staging moved drift-recsys to other code with other parameters. Promote carries the
    # code but keeps prod's parameters, which that code does not take: the result is not a
    # valid spec, so nothing is written.
    staging = environments / "staging.yaml"
    staging.write_text(staging.read_text().replace(
        "    source: pipelines/drift.py\n    function: drift_pipeline\n",
        "    source: pipelines/training.py\n    function: training_pipeline\n").replace(
        "          endpoint: recsys-ranker\n          threshold: 0.15\n",
        "          model_name: recsys-ranker\n          min_accuracy: 0.8\n"))
    before = (environments / "prod.yaml").read_text()
    assert run_promote(environments, "--pipeline", "drift-recsys") == ExitCode.INVALID_INPUT
    assert "unknown parameter 'endpoint'" in capsys.readouterr().err
    assert (environments / "prod.yaml").read_text() == before


def test_promoting_everything_touches_only_what_differs(environments, audit_passes):
    before = (environments / "prod.yaml").read_text()
    assert run_promote(environments) == 0
    assert len(changed_lines(before, (environments / "prod.yaml").read_text())) == 2


def test_nothing_to_promote_writes_nothing(environments, audit_passes, capsys):
    assert run_promote(environments, "--endpoint", "image-tagger") == 0
    assert "nothing to promote" in capsys.readouterr().out


def test_dry_run_prints_the_diff_and_writes_nothing(environments, audit_passes, capsys):
    before = (environments / "prod.yaml").read_text()
    assert run_promote(environments, "--endpoint", "recsys-ranker", "--dry-run") == 0
    assert "+      version: 8" in capsys.readouterr().out
    assert (environments / "prod.yaml").read_text() == before


def test_the_rewritten_file_keeps_its_mode(environments, audit_passes):
    os.chmod(environments / "prod.yaml", 0o644)
    assert run_promote(environments, "--endpoint", "recsys-ranker") == 0
    assert stat.S_IMODE((environments / "prod.yaml").stat().st_mode) == 0o644
    assert [p.name for p in environments.iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize("args, message", [
    (("--endpoint", "no-such-endpoint"), "staging has no endpoint 'no-such-endpoint'"),
    (("--pipeline", "no-such-pipeline"), "staging has no pipeline 'no-such-pipeline'"),
])
def test_unknown_names_exit_2_before_the_audit(environments, audit_passes, capsys, args, message):
    assert run_promote(environments, *args) == ExitCode.INVALID_INPUT
    assert message in capsys.readouterr().err
    assert audit_passes == []


def test_a_name_the_target_lacks_exits_2(environments, audit_passes, capsys):
    prod = environments / "prod.yaml"
    prod.write_text(prod.read_text().replace("  - name: drift-recsys\n", "  - name: drift-recsys-v2\n"))
    assert run_promote(environments, "--pipeline", "drift-recsys") == ExitCode.INVALID_INPUT
    assert "prod has no pipeline 'drift-recsys'" in capsys.readouterr().err


def test_a_source_that_fails_its_audit_is_refused_with_exit_3(environments, monkeypatch, capsys):
    monkeypatch.setattr(promote, "source_audit", lambda env: (3, "SY-GPU-001  mandatory  failed\n"))
    before = (environments / "prod.yaml").read_text()
    assert run_promote(environments, "--endpoint", "recsys-ranker") == ExitCode.POLICY_VIOLATION
    err = capsys.readouterr().err
    assert "SY-GPU-001" in err and "staging fails its own audit" in err
    assert (environments / "prod.yaml").read_text() == before


def test_without_an_audit_promote_refuses_instead_of_assuming_a_pass(environments, monkeypatch, capsys):
    monkeypatch.setattr(promote, "AUDIT_COMMAND", "stacks.commands.no_such_audit")
    with pytest.raises(StackyardError) as caught:
        promote.source_audit("staging")
    assert caught.value.code == ExitCode.INTERNAL_ERROR
    before = (environments / "prod.yaml").read_text()
    assert run_promote(environments, "--endpoint", "recsys-ranker") == ExitCode.INTERNAL_ERROR
    assert "the audit (stacks.commands.no_such_audit) is not available" in capsys.readouterr().err
    assert (environments / "prod.yaml").read_text() == before


def test_the_audit_seam_runs_the_audit_command_and_returns_its_exit_code(monkeypatch):
    module = types.ModuleType("fake_audit_command")
    module.configure = lambda parser: parser.add_argument("environment")

    def run(args):
        print(f"audited {args.environment}")
        return 3

    module.run = run
    monkeypatch.setitem(sys.modules, "fake_audit_command", module)
    monkeypatch.setattr(promote, "AUDIT_COMMAND", "fake_audit_command")
    assert promote.source_audit("staging") == (3, "audited staging\n")


# --- the text functions directly ------------------------------------------------

SOURCE = {"metadata": {"name": "staging"},
          "endpoints": [{"name": "a", "model": {"name": "m", "version": 4}}],
          "pipelines": [{"name": "p", "source": "pipelines/x.py", "function": "f"}]}


def test_an_inherited_item_is_refused():
    target = "endpoints:\n  - name: b\n    model: {name: n, version: 1}\n"
    with pytest.raises(promotion.PromotionError, match="does not declare endpoint 'a' itself"):
        promotion.promote_spec_text(target, "prod.yaml", SOURCE, promotion.Selection(("a",), ()))


def test_flow_style_and_quotes_are_kept():
    target = ('endpoints:\n  - name: a  # first\n    model: {name: "m", alias: "champion"}\n'
              'pipelines:\n  - name: p\n    source: "pipelines/y.py"\n    function: f\n')
    text, changes = promotion.promote_spec_text(target, "prod.yaml", SOURCE, promotion.Selection(("a",), ("p",)))
    assert text == ('endpoints:\n  - name: a  # first\n    model: {name: "m", version: 4}\n'
                    'pipelines:\n  - name: p\n    source: "pipelines/x.py"\n    function: f\n')
    assert [str(c) for c in changes] == ["endpoints[a].model.alias: champion -> (removed)",
                                         "endpoints[a].model.version: (none) -> 4",
                                         "pipelines[p].source: pipelines/y.py -> pipelines/x.py"]


def test_other_indentation_styles_are_reproduced():
    target = "endpoints:\n- name: a\n  model:\n    name: m\n    version: 3\n"
    text, _ = promotion.promote_spec_text(target, "prod.yaml", SOURCE, promotion.Selection(("a",), ()))
    assert text == target.replace("version: 3", "version: 4")


def test_a_file_that_cannot_be_reproduced_is_refused_not_reformatted():
    target = "endpoints:\n   - name: a\n     model:\n        name: m\n        version: 3\n"
    with pytest.raises(promotion.PromotionError, match="without reformatting"):
        promotion.promote_spec_text(target, "prod.yaml", SOURCE, promotion.Selection(("a",), ()))


def test_a_lock_with_a_list_of_entries_is_updated_by_name():
    source = "endpoints:\n  - name: a\n    version: 4\n  - name: b\n    version: 9\n"
    target = "endpoints:\n  - name: a\n    version: 3\n  - name: b\n    version: 1\n"
    assert promotion.promote_lock_text(source, "s.lock.yaml", target, "t.lock.yaml", ["a"], "staging") == \
        "endpoints:\n  - name: a\n    version: 4\n  - name: b\n    version: 1\n"


def test_a_result_that_would_not_be_a_valid_spec_is_refused(environments, audit_passes, capsys, tmp_path_factory):
    # prod's own base also pins fraud-scorer by alias: swapping prod.yaml's alias for staging's version
    # would leave the merged model with both, which the schema rejects.
    target_dir = tmp_path_factory.mktemp("target")
    shutil.copy(environments / "prod.yaml", target_dir / "prod.yaml")
    (target_dir / "base.yaml").write_text((environments / "base.yaml").read_text() + (
        "endpoints:\n  - name: fraud-scorer\n    team: recsys\n    model: {name: fraud-xgb, alias: champion}\n"
        "    format: xgboost\n    runtime: kserve-xgbserver\n"))
    staging = environments / "staging.yaml"
    staging.write_text(staging.read_text().replace("      name: fraud-xgb\n      alias: champion\n",
                                                   "      name: fraud-xgb\n      version: 5\n"))
    before = (target_dir / "prod.yaml").read_text()
    assert cli.main(["promote", str(staging), str(target_dir / "prod.yaml"), "--endpoint", "fraud-scorer"]) == 2
    err = capsys.readouterr().err
    assert "set either `version` or `alias`, not both" in err
    assert f"{target_dir / 'prod.yaml'}:" in err and ".promote" not in err
    assert (target_dir / "prod.yaml").read_text() == before
    assert sorted(p.name for p in target_dir.iterdir()) == ["base.yaml", "prod.yaml"]
