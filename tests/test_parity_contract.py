"""The parity contract: the shipped file loads, bad contracts fail with located errors, rules match by specificity."""

from __future__ import annotations

import pytest

from environments import loader
from environments.errors import SpecError
from environments.parity_contract import (CONTRACT_FILE, ITEM, KEY, PathSyntaxError, load_contract, parse_path,
                                          render_path)


def contract_line(text: str, source: str = "staging") -> int:
    """The 1-based line holding `text` (exactly once) in the shipped contract's pair from `source`."""
    lines, inside = [], False
    for number, line in enumerate(CONTRACT_FILE.read_text().splitlines(), 1):
        if line.lstrip().startswith("- from:"):
            inside = line.split(":", 1)[1].strip() == source
        elif inside and text in line:
            lines.append(number)
    assert len(lines) == 1, f"{text!r} appears on lines {lines}"
    return lines[0]


def write_contract(tmp_path, rules: str, otherwise: str = "equal"):
    path = tmp_path / "parity.yaml"
    path.write_text("apiVersion: stackyard.dev/v1\nkind: ParityContract\npairs:\n"
                    f"  - from: staging\n    to: prod\n    otherwise: {otherwise}\n    rules:\n{rules}")
    return path


def problems_of(path) -> list[str]:
    with pytest.raises(SpecError) as caught:
        load_contract(path)
    return [str(problem) for problem in caught.value.problems]


def test_shipped_contract_covers_staging_to_prod_and_dev_to_staging():
    contract = load_contract()
    staging_prod = contract.pair("staging", "prod")
    assert staging_prod.otherwise.relation == "equal"
    assert staging_prod.otherwise.location.line == contract_line("otherwise: equal")
    assert contract.pair("dev", "staging").otherwise.relation == "free"


def test_reversed_pair_is_refused_with_the_direction_that_exists():
    with pytest.raises(LookupError, match="compare staging prod"):
        load_contract().pair("prod", "staging")


def test_the_contract_is_not_an_environment():
    assert "parity" not in loader.environment_names()
    assert {"staging", "prod"} <= set(loader.environment_names())


@pytest.mark.parametrize("text, segments", [
    ("versions.*", ((KEY, "versions"), (KEY, "*"))),
    ("nodePools[*].maxSize", ((KEY, "nodePools"), (ITEM, "*"), (KEY, "maxSize"))),
    ('cloud.tags["stackyard.dev/repository"]', ((KEY, "cloud"), (KEY, "tags"), (KEY, "stackyard.dev/repository"))),
    ("plan[kubernetes:core/v1:Namespace][*]", ((KEY, "plan"), (ITEM, "kubernetes:core/v1:Namespace"), (ITEM, "*"))),
])
def test_paths_parse_and_render_back(text, segments):
    assert parse_path(text) == segments
    assert render_path(segments) == text


@pytest.mark.parametrize("text", ["", ".versions", "a..b", "a[x]b", "a[", 'a["x"'])
def test_malformed_paths_are_rejected(text):
    with pytest.raises(PathSyntaxError):
        parse_path(text)


def test_most_specific_rule_decides(tmp_path):
    path = write_contract(tmp_path, (
        '      - {path: "endpoints", relation: equal}\n'
        '      - {path: "endpoints[*].replicas", relation: free}\n'
        '      - {path: "endpoints[recsys-ranker].replicas", relation: bounded, minRatio: 1}\n'
        '      - {path: "endpoints[*].*", relation: free}\n'))
    pair = load_contract(path).pair("staging", "prod")
    decide = lambda text: pair.rule_for(parse_path(text))  # noqa: E731
    assert decide("endpoints[fraud-scorer]").location.line == 8
    assert decide("endpoints[fraud-scorer].replicas.min").location.line == 9
    assert decide("endpoints[recsys-ranker].replicas.min").location.line == 10
    assert decide("endpoints[fraud-scorer].model").location.line == 11
    assert decide("versions.kserve") is pair.otherwise


def test_unknown_relation_is_located_with_a_suggestion(tmp_path):
    path = write_contract(tmp_path, '      - {path: "versions", relation: equals}\n')
    (problem,) = problems_of(path)
    assert "parity.yaml:8:" in problem
    assert "$.pairs[0].rules[0].relation" in problem
    assert "did you mean 'equal'" in problem


def test_unknown_key_is_located(tmp_path):
    path = write_contract(tmp_path, '      - {path: "versions", relation: equal, maxratio: 2}\n')
    (problem,) = problems_of(path)
    assert "parity.yaml:8:" in problem and "unknown key 'maxratio'" in problem


def test_semantic_problems_are_located(tmp_path):
    path = write_contract(tmp_path, (
        '      - {path: "versions", relation: equal, maxRatio: 2}\n'
        '      - {path: "nodePools[*].maxSize", relation: bounded}\n'
        '      - {path: "a..b", relation: free}\n'
        '      - {path: "versions", relation: free}\n'
        '      - {path: "policy.enforcement", relation: stricter}\n'
        '      - {path: "endpoints[*].replicas", relation: bounded, minRatio: 3, maxRatio: 2}\n'))
    problems = problems_of(path)
    expected = [
        (":8:", "'maxRatio' applies to relation bounded, not 'equal'"),
        (":9:", "a bounded rule needs maxRatio, minRatio or both"),
        (":10:", "cannot read path 'a..b'"),
        (":11:", "path 'versions' already has a rule (rules[0])"),
        (":12:", "a stricter rule needs `order`"),
        (":13:", "expected minRatio <= maxRatio (2), found 3"),
    ]
    assert len(problems) == len(expected)
    for (line, message), problem in zip(expected, problems):
        assert line in problem and message in problem, problem


def test_yaml_errors_are_located(tmp_path):
    path = write_contract(tmp_path, '      - {path: nodePools[*].maxSize, relation: free}\n')
    (problem,) = problems_of(path)
    assert "parity.yaml:8:" in problem and "YAML syntax error" in problem


def test_missing_contract_is_a_clear_error(tmp_path):
    (problem,) = problems_of(tmp_path / "nope.yaml")
    assert "no parity contract" in problem


def test_otherwise_is_equal_or_free(tmp_path):
    path = write_contract(tmp_path, '      - {path: "versions", relation: equal}\n', otherwise="bounded")
    (problem,) = problems_of(path)
    assert "parity.yaml:6:" in problem and "expected one of ['equal', 'free']" in problem
