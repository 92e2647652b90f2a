"""The CrossGuard pack reaches the offline audit's verdicts, in the pack's own virtual environment.

pulumi-policy pins protobuf 5 and cannot be imported here (kfp and kserve need
protobuf 6), so a session fixture builds the pack's environment from
policies/requirements.txt exactly as Pulumi would, cached by the requirements'
hash, and tests/crossguard_driver.py runs inside it.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from policies import engine
from policies.environment import context_from_spec, levels_from_spec
from policies.pack_config import pack_config
from policies.rules import RULES, RULES_BY_ID
from policies.rules.model import Context, Resource
from policy_cases import all_cases
from policy_variants import broken_prod  # noqa: F401 - a fixture, used by name

REPO = Path(__file__).resolve().parent.parent
REQUIREMENTS = REPO / "policies" / "requirements.txt"
DRIVER = Path(__file__).resolve().parent / "crossguard_driver.py"


def _cache_dir() -> Path:
    base = os.environ.get("STACKYARD_CACHE_DIR") or os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "stackyard"


@pytest.fixture(scope="session")
def pack_python() -> Path:
    """The interpreter of the pack's virtual environment, built once per requirements file."""
    key = hashlib.sha256(REQUIREMENTS.read_bytes() + sys.version.encode()).hexdigest()[:16]
    venv = _cache_dir() / f"policy-pack-venv-{key}"
    python = venv / "bin" / "python"
    ready = venv / ".stackyard-ready"
    venv.parent.mkdir(parents=True, exist_ok=True)
    # Parallel test workers (pytest-xdist) and concurrent sessions build the venv once: the first
    # takes the lock and builds, the others wait for it and find it ready.
    with open(venv.parent / f"{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not ready.is_file():
            shutil.rmtree(venv, ignore_errors=True)
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
            subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                            "-r", str(REQUIREMENTS)], check=True, timeout=1200)
            ready.write_text(REQUIREMENTS.read_text())
    return python


def drive(pack_python: Path, job: dict):
    done = subprocess.run([str(pack_python), str(DRIVER)], input=json.dumps(job), capture_output=True, text=True,
                          timeout=600, cwd=REPO)
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout)


def _config(context: Context, levels: engine.Levels) -> dict:
    return {rule.id: {"enforcementLevel": levels.of(rule), "context": context.to_json()} for rule in RULES}


def offline_verdicts(entries, context: Context, levels: engine.Levels) -> list[list]:
    """What the offline audit reports, in the driver's shape: [rule, urn or "", message, level]."""
    resources = [Resource.from_plan_entry(entry) for entry in entries]
    found = []
    for rule in RULES:
        level = levels.of(rule)
        if level == engine.DISABLED:
            continue
        for subject, message in engine.violations(rule, resources, context):
            found.append([rule.id, subject if subject.startswith("urn:") else "", message, level])
    return sorted(found)


def test_pack_and_offline_audit_agree_on_every_fixture(pack_python):
    cases = all_cases()
    job = {"mode": "validate", "cases": [
        {"id": case.id, "resources": list(case.resources),
         "config": _config(Context.from_json(case.context), engine.Levels())} for case in cases]}
    pack = drive(pack_python, job)
    for case in cases:
        offline = offline_verdicts(case.resources, Context.from_json(case.context), engine.Levels())
        assert sorted(pack[case.id]) == offline, case.id
        # ... and the verdict is the one the fixture expects of its rule.
        rule_findings = [v for v in pack[case.id] if v[0] == case.rule]
        assert bool(rule_findings) == (case.expect == "fail"), case.id


def test_pack_configured_like_the_cli_agrees_with_the_audit_of_a_broken_prod(pack_python, broken_prod):
    """The real pack over gRPC, configured from `stackyard policy-config`, on a prod variant with
    rule overrides, an active and an expired exemption and deliberately broken resources."""
    spec, spec_file, plan = broken_prod
    config = pack_config(spec, spec_file)
    result = drive(pack_python, {"mode": "grpc", "config": config, "resources": plan["resources"]})

    context, levels = context_from_spec(spec, spec_file), levels_from_spec(spec)
    offline = offline_verdicts(plan["resources"], context, levels)
    assert sorted(result["violations"]) == offline
    found = {(v[0], v[3]) for v in offline}
    # The expired exemption covers nothing and is itself a violation; the active one holds.
    assert {("SY-GOV-002", "mandatory"), ("SY-WKL-010", "mandatory"), ("SY-AWS-001", "mandatory"),
            ("SY-WKL-013", "advisory")} <= found
    assert not {rule for rule, _level in found} & {"SY-WKL-007", "SY-WKL-011"}

    # The pack describes itself as the rule table does, and the CLI would accept our config.
    assert result["pack"] == "stackyard"
    by_name = {policy["name"]: policy for policy in result["policies"]}
    assert set(by_name) == set(RULES_BY_ID)
    for rule in RULES:
        policy = by_name[rule.id]
        assert policy["description"] == rule.title
        assert policy["severity"] == f"POLICY_SEVERITY_{rule.severity.upper()}"
        assert policy.get("enforcementLevel", "ADVISORY") == rule.enforcement.upper()
        schema = {"type": "object", **policy["configSchema"]}
        properties = {k: v for k, v in config[rule.id].items() if k != "enforcementLevel"}
        jsonschema.validate(properties, schema)
