"""Every invalid spec gets one located message per problem and exit code 2, never a traceback."""

from __future__ import annotations

import pytest

from conftest import FIXTURES, run_cli

BAD = FIXTURES / "bad_specs"

# fixture file -> (file:line the first message points at, JSON path, words the message must contain)
EXPECTED = {
    "unknown-key.yaml": (22, "$.endpoints[0].replcias", "did you mean 'replicas'"),
    "unknown-top-level-key.yaml": (16, "$.nodepools", "did you mean 'nodePools'"),
    "wrong-type.yaml": (22, "$.endpoints[0].replicas.min", "expected an integer, found string 'two'"),
    "missing-field.yaml": (17, "$.endpoints[0]", "missing required field 'model'"),
    "bad-enum.yaml": (20, "$.endpoints[0].format", "did you mean 'sklearn'"),
    "bad-api-version.yaml": (1, "$.apiVersion", "found string 'stackyard.dev/v2'"),
    "bad-kind.yaml": (2, "$.kind", "did you mean 'Environment'"),
    "missing-metadata-owner.yaml": (3, "$.metadata", "missing required field 'owner'"),
    "extends-missing.yaml": (3, "$.extends", "no environment 'no-such-base' to extend"),
    "extends-cycle-a.yaml": (3, "$.extends", "extends cycle: extends-cycle-a -> extends-cycle-b -> extends-cycle-a"),
    "extends-path-escape.yaml": (3, "$.extends", "expected the name of an environment in the same folder"),
    "yaml-syntax.yaml": (19, "$", "YAML syntax error"),
    "tab-indent.yaml": (17, "$", "indent with spaces, not tabs"),
    "duplicate-key.yaml": (19, "$.teams[0].owner", "duplicate key 'owner' (first defined at line 18)"),
    "secret-inline.yaml": (18, "$.monitoring.grafanaAdminPassword", "secret value written inline"),
    "secret-bad-arn.yaml": (19, "$.monitoring.grafanaAdminPassword.arn", "expected a Secrets Manager secret ARN"),
    "pool-min-greater-than-max.yaml": (19, "$.nodePools[0].minSize", "expected minSize <= maxSize (2), found 5"),
    "unknown-pool.yaml": (22, "$.endpoints[0].gpu.pool", "unknown node pool 'a100'"),
    "version-and-alias.yaml": (19, "$.endpoints[0].model", "either `version` or `alias`, not both"),
    "out-of-range.yaml": (17, "$.policy.maxGpusPerPod", "expected a number >= 1, found integer 0"),
    "bad-name.yaml": (4, "$.metadata.name", "expected a DNS-1123 label"),
    "exemption-bad-date.yaml": (22, "$.policy.exemptions[0].expires", "expected a date (YYYY-MM-DD)"),
    "eks-without-aws.yaml": (10, "$.cluster.type", "needs `cloud.provider: aws`"),
    "existing-without-kubeconfig.yaml": (9, "$.cluster", "missing required field 'kubeconfig'"),
    "public-endpoint-everyone.yaml": (13, "$.cluster.publicAccessCidrs", "found 0.0.0.0/0"),
    "duplicate-endpoint.yaml": (22, "$.endpoints[1].name", "duplicate name 'ranker' in endpoints"),
    "two-documents.yaml": (1, "$", "expected exactly one YAML document, found 2 documents"),
    "top-level-list.yaml": (1, "$", "expected a mapping at the top level, found a list"),
    "python-tag.yaml": (16, "$.teams", "YAML tag !!python/object/apply:os.system is not allowed"),
    "merge-key.yaml": (18, "$.teams[0]", "YAML merge keys ('<<') are not supported"),
    "not-utf8.yaml": (18, "$", "file is not valid UTF-8 (byte 0xe9)"),
}


def test_every_fixture_has_an_expectation():
    on_disk = {path.name for path in BAD.glob("*.yaml")} - {"extends-cycle-b.yaml"}
    assert on_disk == set(EXPECTED)


@pytest.mark.parametrize("fixture", sorted(EXPECTED))
def test_bad_spec_gives_located_message_and_exit_2(fixture):
    line, path, words = EXPECTED[fixture]
    result = run_cli("validate", str(BAD / fixture))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    errors = [l for l in result.stderr.splitlines() if l.startswith("error: ")]
    assert errors, result.stderr
    first = errors[0]
    assert f".yaml:{line}:" in first, first
    assert f": {path}: " in first, first
    assert words in first, first


def test_every_problem_is_reported_not_only_the_first(tmp_path):
    spec = (BAD / "unknown-key.yaml").read_text().replace("format: sklearn", "format: 12")
    (tmp_path / "two-problems.yaml").write_text(spec)
    result = run_cli("validate", str(tmp_path / "two-problems.yaml"))
    assert result.returncode == 2
    messages = [l for l in result.stderr.splitlines() if l.startswith("error: ")]
    assert len(messages) == 2, result.stderr
    assert "$.endpoints[0].format" in messages[0] and "$.endpoints[0].replcias" in messages[1]


def test_plan_refuses_a_bad_spec_before_running_the_program(tmp_path):
    result = run_cli("plan", str(BAD / "wrong-type.yaml"), "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_unknown_environment_name_suggests_the_closest(tmp_path):
    result = run_cli("validate", "prdo")
    assert result.returncode == 2
    assert "no environment 'prdo'" in result.stderr and "did you mean 'prod'" in result.stderr
