"""Property-based tests: generated specs never crash Stackyard.

Seeds are the shipped environments, resolved (extends merged) and written as
standalone files. Hypothesis mutates them — structurally (wrong types, unknown
keys, missing fields, out-of-range numbers, broken `extends`) and textually
(duplicate keys, tabs, anchors, truncation, non-UTF-8 bytes, very large
files) — and every outcome must be either success or exit 2 with one located
line per problem: never a traceback, never another exit code.

The CLI runs in-process (stacks.cli.main) so that tens of thousands of cases
fit in CI time; `HYPOTHESIS_PROFILE=thorough` runs 25 times more.
"""

from __future__ import annotations

import contextlib
import copy
import io
import re
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings, strategies as st

from conftest import HYPOTHESIS_PROFILE, REPO, SHIPPED_ENVIRONMENTS
from spec_seeds import seed
from stacks.cli import main

# The `ci` profile (tests/conftest.py) runs 1,000 examples for each of the two validate tests,
# plus the smaller every-command and valid-plan tests below, which scale with the profile.
PROFILE = settings.get_profile(HYPOTHESIS_PROFILE)

LOCATED_LINE = re.compile(r"^error: (?P<file>[^:]+):(?P<line>\d+):(?P<column>\d+): \$[^ ]*: .+$")
SUMMARY_LINE = re.compile(r"^stackyard: \d+ problems? in environment '.+'$")


SEEDS = {name: seed(name) for name in SHIPPED_ENVIRONMENTS}


def _paths(document, prefix=()):
    """Every path in a document, containers and leaves."""
    yield prefix
    if isinstance(document, dict):
        for key, value in document.items():
            yield from _paths(value, prefix + (key,))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            yield from _paths(value, prefix + (index,))


def _get(document, path):
    for part in path:
        document = document[part]
    return document


def _set(document, path, value):
    _get(document, path[:-1])[path[-1]] = value


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def assert_clean_outcome(code: int, stdout: str, stderr: str) -> None:
    assert "Traceback" not in stderr and "Traceback" not in stdout
    assert code in (0, 2), (code, stderr)
    if code == 0:
        # A valid spec may still be warned about (a missing or stale lock that `plan` would stop on).
        assert "is valid" in stdout and all(line.startswith("warning: ") for line in stderr.splitlines()), stderr
        return
    assert stdout == ""
    lines = stderr.splitlines()
    assert lines and SUMMARY_LINE.match(lines[-1]) or len(lines) == 1, stderr
    for line in lines[:-1]:
        assert LOCATED_LINE.match(line), line


WRONG_VALUES = st.sampled_from([None, True, -1, 0, 10**12, 3.5, "", "x" * 300, "two", [], {}, [1, 2],
                                {"unexpected": 1}, "latest", "0.0.0.0/0", "../../etc/passwd"])


@st.composite
def structural_mutation(draw):
    name = draw(st.sampled_from(SHIPPED_ENVIRONMENTS))
    document = copy.deepcopy(SEEDS[name])
    paths = [p for p in _paths(document) if p]
    path = draw(st.sampled_from(paths))
    kind = draw(st.sampled_from(["replace", "unknown-key", "delete", "extends"]))
    parent = _get(document, path[:-1])
    if kind == "replace":
        _set(document, path, draw(WRONG_VALUES))
    elif kind == "unknown-key" and isinstance(parent, dict):
        parent[draw(st.sampled_from([f"{path[-1]}x", "replcias", "zz", "Name"]))] = 1
    elif kind == "delete":
        del parent[path[-1]]
    else:
        document["extends"] = draw(st.sampled_from(["missing-env", "../outside", "", "UPPER", "self"]))
    return document


@given(structural_mutation())
def test_structural_mutations_succeed_or_fail_cleanly(document):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "self.yaml"
        path.write_text(yaml.safe_dump(document, sort_keys=False))
        assert_clean_outcome(*run("validate", str(path)))


@st.composite
def textual_mutation(draw):
    name = draw(st.sampled_from(SHIPPED_ENVIRONMENTS))
    text = yaml.safe_dump(SEEDS[name], sort_keys=False).encode()
    lines = text.splitlines(keepends=True)
    index = draw(st.integers(0, len(lines) - 1))
    kind = draw(st.sampled_from(["duplicate-line", "tab", "truncate", "bytes", "anchor", "huge", "garbage"]))
    if kind == "duplicate-line":
        lines.insert(index, lines[index])
    elif kind == "tab":
        lines[index] = b"\t" + lines[index].lstrip(b" ")
    elif kind == "truncate":
        return text[: draw(st.integers(0, len(text)))]
    elif kind == "bytes":
        lines[index] = lines[index][:-1] + draw(st.binary(min_size=1, max_size=8)) + b"\n"
    elif kind == "anchor":
        lines.insert(index, b"x: &a [*a]\n" if draw(st.booleans()) else b"y: &b {k: v}\nz: *b\n")
    elif kind == "huge":
        lines.append(b"padding: '" + b"x" * draw(st.sampled_from([10, 5 * 1024 * 1024])) + b"'\n")
    else:
        lines[index] = draw(st.sampled_from([b"{{\n", b"- : -\n", b"? [a]\n: b\n", b"!!binary AAAA\n",
                                             b"key: !Ref other\n", b"%YAML 9.9\n", b"\xef\xbb\xbf\n"]))
    return b"".join(lines)


@given(textual_mutation())
def test_textual_mutations_succeed_or_fail_cleanly(raw):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "mutated.yaml"
        path.write_bytes(raw)
        assert_clean_outcome(*run("validate", str(path)))


@pytest.mark.parametrize("name", SHIPPED_ENVIRONMENTS)
def test_resolved_seed_round_trips(name, tmp_path):
    """The seeds themselves are valid: mutations start from a passing spec."""
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(SEEDS[name], sort_keys=False))
    code, stdout, stderr = run("validate", str(path))
    assert code == 0, stderr


# --- every command shares the loader: invalid specs fail the same way through each ---------

ONE_LINE_COMMANDS = {
    "plan": lambda spec: ["plan", spec],
    "audit": lambda spec: ["audit", spec, "--format", "json"],
    "parity": lambda spec: ["parity", "staging", spec],
    "diff": lambda spec: ["diff", spec, "--base", "HEAD"],
}
EVERY_COMMAND_EXAMPLES = max(10, PROFILE.max_examples // 25)


def assert_clean_failure(code: int, stdout: str, stderr: str) -> None:
    assert "Traceback" not in stderr and "internal error" not in stderr, stderr
    assert code == 2, (code, stderr)
    lines = stderr.splitlines()
    assert lines and (SUMMARY_LINE.match(lines[-1]) or len(lines) == 1), stderr
    for line in lines[:-1]:
        assert LOCATED_LINE.match(line), line


@settings(max_examples=EVERY_COMMAND_EXAMPLES)
@given(structural_mutation())
def test_invalid_specs_fail_cleanly_through_every_command(document):
    """Mutations that validate rejects end plan, audit, parity and diff with exit 2 and located lines.

    The file lives inside the repository (in a hidden temporary folder) because `diff` compares
    commits of the repository and refuses a spec outside it before reading it."""
    with tempfile.TemporaryDirectory(dir=REPO / "tests", prefix=".property-spec-") as folder:
        path = Path(folder) / "self.yaml"
        path.write_text(yaml.safe_dump(document, sort_keys=False))
        code, stdout, stderr = run("validate", str(path))
        assert_clean_outcome(code, stdout, stderr)
        if code == 0:
            return  # a valid mutation: the valid-spec test below plans those
        for command, argv in ONE_LINE_COMMANDS.items():
            assert_clean_failure(*run(*argv(str(path))))


# --- valid generated specs plan, and plan identically twice -----------------------------------

@st.composite
def valid_mutation(draw):
    """Changes that keep a spec valid: replica counts within bounds, an endpoint renamed, one copied."""
    document = copy.deepcopy(SEEDS["dev"])
    endpoints = document.get("endpoints") or []
    kind = draw(st.sampled_from(["replicas", "rename", "copy"] if endpoints else ["replicas"]))
    if kind == "replicas":
        for endpoint in endpoints:
            replicas = endpoint.get("replicas")
            if isinstance(replicas, dict) and "min" in replicas and "max" in replicas:
                low = draw(st.integers(1, 3))
                replicas.update({"min": low, "max": low + draw(st.integers(0, 3))})
    elif kind == "rename":
        endpoint = draw(st.sampled_from(endpoints))
        endpoint["name"] = draw(st.from_regex(r"\Aep-[a-z][a-z0-9]{0,8}\Z"))
    else:
        copied = copy.deepcopy(draw(st.sampled_from(endpoints)))
        copied["name"] = draw(st.from_regex(r"\Acopy-[a-z][a-z0-9]{0,8}\Z"))
        endpoints.append(copied)
    return document


@settings(max_examples=max(3, PROFILE.max_examples // 500))
@given(valid_mutation())
def test_valid_specs_plan_byte_identically_twice(document):
    from conftest import lock_beside

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "dev.yaml"
        path.write_text(yaml.safe_dump(document, sort_keys=False))
        lock_beside(path, "dev")
        outputs = []
        for attempt in ("first", "second"):
            out = Path(folder) / attempt
            code, stdout, stderr = run("plan", str(path), "--out", str(out))
            assert code == 0, stderr
            outputs.append({str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()})
        assert outputs[0] == outputs[1]
        assert "plan.json" in outputs[0]
