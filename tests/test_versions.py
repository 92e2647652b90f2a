"""Pins that work together: environments/compatibility.yaml, `stackyard validate` and `stackyard versions`."""

from __future__ import annotations

import contextlib
import io
import shutil

import pytest
import yaml

from conftest import REPO, SHIPPED_ENVIRONMENTS, run_cli
from environments import compatibility, loader
from stacks import cli


def test_the_shipped_pins_break_no_rule_and_every_rule_applies_to_some_shipped_pin():
    applied = set()
    for environment in SHIPPED_ENVIRONMENTS:
        verdicts = compatibility.verdicts(loader.load(environment).versions)
        assert [v.describe(loader.load(environment).versions) for v in verdicts if not v.ok] == []
        applied |= {id(v.rule) for v in verdicts}
    _checked, rules = compatibility.table()
    assert [rule.source for rule in rules if id(rule) not in applied] == []


def test_every_rule_names_real_pins_and_a_source():
    pins = set(yaml.safe_load((REPO / "environments" / "base.yaml").read_text())["versions"])
    _checked, rules = compatibility.table()
    for rule in rules:
        named = {*rule.when, *rule.requires} | {c.removeprefix(compatibility.SAME_MINOR_AS)
                                                 for c in rule.requires.values()
                                                 if c.startswith(compatibility.SAME_MINOR_AS)}
        assert {key for key in named if not key.startswith(compatibility.SDK_PREFIX)} <= pins, rule
        assert len(rule.source) > 20, rule


@pytest.mark.parametrize(("version", "constraint", "ok"), [
    ("1.33", ">=1.30,<=1.35", True), ("1.35.2", "<=1.35", True), ("1.36", "<=1.35", False),
    ("v1.20.3", ">=1.15.0", True), ("v1.14.9", ">=1.15.0", False), ("v1.21.1", ">=1.21.0,<1.22.0", True),
    ("v1.22.0", ">=1.21.0,<1.22.0", False), ("9.51.0", ">=9.47.0,<9.52.0", True), ("9.46.6", ">=9.47.0,<9.52.0", False),
])
def test_constraints(version, constraint, ok):
    assert compatibility._satisfies(compatibility.numbers(version), constraint) is ok


def test_a_kfp_backend_older_than_the_sdk_is_refused():
    (verdict,) = [v for v in compatibility.verdicts({"kubeflowPipelines": "2.5.0"}) if v.pin == "kubeflowPipelines"]
    assert not verdict.ok and verdict.blamed == "kubeflowPipelines" and "ConfigMapAsEnv.optional" in verdict.rule.source


def test_validate_refuses_a_kserve_release_outside_its_kubernetes_range_with_the_located_field(tmp_path):
    environments = tmp_path / "environments"
    shutil.copytree(REPO / "environments", environments)
    base = environments / "base.yaml"
    base.write_text(base.read_text().replace('  kubernetes: "1.33"', '  kubernetes: "1.29"'))
    result = run_cli("validate", str(environments / "dev.yaml"))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    line = next(number for number, text in enumerate(base.read_text().splitlines(), start=1)
                if text.startswith("  kserve:"))
    assert (f"error: {base}:{line}:3: $.versions.kserve: incompatible pins: kserve v0.20.0 needs kubernetes >=1.30, "
            f"found 1.29") in result.stderr


def test_versions_prints_each_pin_and_what_it_was_checked_against():
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.main(["versions", "prod"]) == 0
    text = out.getvalue()
    checked, _rules = compatibility.table()
    assert f"versions of prod, checked against upstream on {checked}" in text
    lines = text.splitlines()
    kserve = next(i for i, line in enumerate(lines) if line.split()[:2] == ["kserve", "v0.20.0"])
    assert lines[kserve + 1].split()[0] == "ok:" and "needs kubernetes >=1.30, found 1.33" in lines[kserve + 1]
    assert any(line.split()[:2] == ["sdk:kfp", compatibility.installed_sdk("sdk:kfp")] for line in lines)
