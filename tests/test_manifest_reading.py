"""Reading manifests fast must read them as PyYAML does: the same values, the same refusals.

policies/manifests.py builds values from libyaml's nodes itself (faster than SafeConstructor),
caches tag resolution and reads large folders on every core. These tests hold each of those
to PyYAML's own answers and to the single-process reading.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time

import yaml
from hypothesis import given
from hypothesis import strategies as st

from policies import audit, manifests
from policies.rules.governance import UNREADABLE_MANIFEST
from conftest import REPO, run_cli

# Plain scalars whose YAML 1.1 type is not a string, or nearly so: what a faster reader gets wrong first.
_TRICKY_SCALARS = ["yes", "No", "on", "OFF", "y", "~", "null", "Null", "", "true", "False", "0x1F", "0o17", "017",
                   "0b101", "1_000", "-12", "+3", "1e3", "1.5e-3", "1.", ".5", ".inf", "-.Inf", ".NaN", "190:20:30",
                   "2024-01-01", "2001-12-14t21:59:43.10-05:00", "2001-12-14 21:59:43.10", "=", "<<", "a: b",
                   "'quoted'", '"yes"', "- item", "#not-a-comment", "x#y", "ünïcødé", "12:30"]
_TAGS = ["", "", "", "!!str ", "!!int ", "!!float ", "!!bool ", "!!null ", "!!binary ", "!!timestamp ", "!custom "]


def _scalar_text(draw) -> str:
    text = draw(st.sampled_from(_TRICKY_SCALARS) | st.from_regex(r"[a-z0-9.:_/-]{0,12}", fullmatch=True))
    if draw(st.booleans()) and text not in ("a: b", "- item", "'quoted'", '"yes"'):
        text = json.dumps(text)  # the same text, quoted: always a string
    return draw(st.sampled_from(_TAGS)) + text


@st.composite
def yaml_documents(draw) -> str:
    """A flow-style YAML document of tricky scalars, tags, anchors, aliases and merge keys: valid
    or not (an alias before its anchor, a binary that is not base64); both readers must agree."""
    anchors: list[str] = []

    def value(depth: int) -> str:
        choice = draw(st.integers(0, 9 if depth < 4 else 3))
        if choice <= 3:
            text = _scalar_text(draw)
        elif choice == 4 and anchors:
            return "*" + draw(st.sampled_from(anchors))
        elif choice <= 6:
            text = "[" + ", ".join(value(depth + 1) for _ in range(draw(st.integers(0, 4)))) + "]"
        else:
            entries = []
            for _ in range(draw(st.integers(0, 4))):
                if anchors and draw(st.integers(0, 5)) == 0:
                    entries.append("<<: *" + draw(st.sampled_from(anchors)))
                else:
                    entries.append(f"{_scalar_text(draw) or 'k'}: {value(depth + 1)}")
            text = "{" + ", ".join(entries) + "}"
        if draw(st.integers(0, 4)) == 0:
            anchors.append(f"a{len(anchors)}")
            return f"&{anchors[-1]} {text}"
        return text

    return value(0) + "\n"


def _canonical(value):
    """A value with its types spelled out: True == 1 and nan != nan in Python, not here."""
    if isinstance(value, dict):
        return ("map", [(_canonical(k), _canonical(v)) for k, v in value.items()])
    if isinstance(value, list):
        return ("seq", [_canonical(item) for item in value])
    if isinstance(value, float) and math.isnan(value):
        return ("float", "nan")
    if isinstance(value, set):
        return ("set", sorted(map(repr, value)))
    return (type(value).__name__, repr(value))


def _outcome(read):
    try:
        return ("value", _canonical(read()))
    except Exception:  # PyYAML raises ValueError for `!!int yes`; the reader a YAMLError with its place
        return ("refused",)


@given(yaml_documents())
def test_a_document_reads_as_pyyaml_reads_it(text):
    ours = _outcome(lambda: manifests._parse_yaml(text, manifests._fast_loader())[1])
    theirs = _outcome(lambda: yaml.load(text, Loader=yaml.CSafeLoader))
    assert ours == theirs, text


def test_every_vendored_upstream_document_reads_as_pyyaml_reads_it():
    documents = 0
    for file in sorted((REPO / "tests" / "upstream").rglob("*.yaml")):
        for _line, chunk in manifests._yaml_chunks(file.read_text(encoding="utf-8")):
            theirs = _outcome(lambda: yaml.load(chunk, Loader=yaml.CSafeLoader))
            if theirs[0] == "value":
                documents += 1
                assert _outcome(lambda: manifests._parse_yaml(chunk, manifests._fast_loader())[1]) == theirs, file
    assert documents > 500  # the CRDs, charts and Kyverno resources are all there


def test_an_alias_bomb_is_one_finding_not_an_audit_that_never_ends(tmp_path):
    # Nine aliases of nine aliases ...: a few hundred bytes that expand to 9**9 values.
    lines = ["apiVersion: v1", "kind: ConfigMap", "metadata: {name: bomb}", "data:",
             '  a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    lines += [f"  a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
    (tmp_path / "bomb.yaml").write_text("\n".join(lines) + "\n")
    (tmp_path / "fine.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: fine}\n")
    began = time.perf_counter()
    found = manifests.load(tmp_path)
    assert time.perf_counter() - began < 30  # before the guard: no end in sight
    unreadable = [r for r in found.resources if r.type == UNREADABLE_MANIFEST]
    assert len(unreadable) == 1 and "bomb.yaml:1:1" in unreadable[0].inputs["error"]
    assert f"more than {manifests.MAX_VALUES:,} values once its aliases are expanded" in unreadable[0].inputs["error"]
    assert [r.name for r in found.resources if r.type != UNREADABLE_MANIFEST] == ["fine"]
    report = audit.audit_manifests(tmp_path)
    assert [f.rule.id for f in report.evaluation.findings if f.blocking] == ["SY-GOV-003"]


def test_shares_are_contiguous_and_balanced_by_cost(tmp_path):
    files = []
    for number, size in enumerate([50_000, 10, 10, 10, 10, 10, 10, 50_000, 10, 10]):
        path = tmp_path / f"{number:02}.yaml"
        path.write_text("#" * size)
        files.append((path, path.name))
    shares = manifests._shares(files, 2)
    assert len(shares) == 2 and [entry for share in shares for entry in share] == files
    cost = {name: manifests.FILE_COST_IN_BYTES + path.stat().st_size for path, name in files}
    first, second = (sum(cost[name] for _path, name in share) for share in shares)
    assert abs(first - second) <= max(cost.values())  # as even as whole files allow
    assert manifests._shares(files, 1) == [files] and manifests._shares(files[:1], 4) == [files[:1]]


_PARALLEL_SCRIPT = """
import pickle, sys
from pathlib import Path
from policies import manifests
files = manifests._files(Path(sys.argv[1]))
one = pickle.dumps(manifests._read_shares([files]))
assert manifests._usable_cores() >= 1
for count in (2, 3):
    shares = manifests._shares(files, count)
    assert len(shares) == count, (count, len(shares))
    assert pickle.dumps(manifests._read_shares(shares)) == one, count
def refuse(*args, **kwargs):
    raise OSError("the pipe broke")
pickle.dump = refuse  # only the forked children write a pickle: each fails, its share is read here
assert pickle.dumps(manifests._read_shares(manifests._shares(files, 3))) == one
print(len(pickle.loads(one).resources))
"""


def test_a_folder_read_on_several_cores_is_the_folder_read_on_one():
    # In a fresh interpreter: a test worker has threads, and the reader forks only a process without.
    done = subprocess.run([sys.executable, "-c", _PARALLEL_SCRIPT, str(REPO / "tests" / "upstream")],
                          cwd=REPO, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) > 500


def test_a_value_its_tag_cannot_hold_is_a_finding_not_an_internal_error(tmp_path):
    # Before: "internal error: ValueError: invalid literal for int()" and no report.
    values = {"!!int yes": "the value 'yes' is not a valid !!int",
              "!!timestamp soon": "the value 'soon' is not a valid !!timestamp",
              "!!binary 'a'": "failed to decode base64 data: Invalid base64-encoded string: "  # PyYAML's own message
                              "number of data characters (1) cannot be 1 more than a multiple of 4",
              "!!float [1]": "expected a scalar node, but found sequence"}
    for number, value in enumerate(values):
        (tmp_path / f"{number}.yaml").write_text(f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c{number}}}\n"
                                                  f"data:\n  key: {value}\n")
    done = run_cli("audit", "--manifests", str(tmp_path), "--format", "json")
    assert done.returncode == 3, done.stderr
    errors = {r["message"].split("/")[-1] for r in json.loads(done.stdout)["findings"] if r["rule"] == "SY-GOV-003"}
    assert errors == {f"{number}.yaml:5:8: YAML error: {problem}" for number, problem in enumerate(values.values())}


def test_a_fork_the_system_refuses_means_the_share_is_read_here(monkeypatch):
    def refused():
        raise BlockingIOError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(manifests.os, "fork", refused)  # fork is never reached for real: it raises first
    files = manifests._files(REPO / "tests" / "upstream" / "kyverno__policies@b9c4317")
    one = manifests._read_shares([files])
    both = manifests._read_shares(manifests._shares(files, 2))
    assert [r.urn for r in both.resources] == [r.urn for r in one.resources] and both.files == one.files
