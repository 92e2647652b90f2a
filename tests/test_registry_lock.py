"""`stackyard lock` against a real MLflow registry, then `stackyard plan` from the lock alone.

The session's `mlflow server` (tests/mlflow_registry.py: SQLite backend,
artifacts recorded under an S3 prefix, loopback) holds two versions of a model,
with the alias @champion pointing at the older one.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path

import pytest

from environments import loader
from stacks import registry_lock
from conftest import FIXTURES, free_port, resources, run_cli
from mlflow_registry import MODEL, MODEL_CARD

SPEC_TEMPLATE = FIXTURES / "serving" / "registry-env.yaml"
ISVC = "kubernetes:serving.kserve.io/v1beta1:InferenceService"


@pytest.fixture(scope="module")
def registry(mlflow_registry):
    """The session's MLflow server (tests/mlflow_registry.py): `ranker` versions 1 and 2, @champion -> 1."""
    return mlflow_registry


def write_spec(directory: Path, tracking_uri: str, *replacements: tuple[str, str]) -> Path:
    text = SPEC_TEMPLATE.read_text().replace("TRACKING_URI", tracking_uri)
    for old, new in replacements:
        assert old in text
        text = text.replace(old, new)
    path = directory / "registry-test.yaml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def locked(registry, tmp_path_factory):
    """`stackyard lock` then `stackyard plan` on a spec pointing at the test registry."""
    directory = tmp_path_factory.mktemp("locked")
    spec = write_spec(directory, registry["uri"])
    lock = run_cli("lock", str(spec))
    assert lock.returncode == 0, lock.stderr
    plan = run_cli("plan", str(spec), "--out", str(directory / "plan"))
    assert plan.returncode == 0, plan.stderr
    return {"spec": spec, "lock": registry_lock.lock_path(spec), "lock_output": lock.stdout,
            "plan": json.loads((directory / "plan" / "plan.json").read_text())}


def inference_service(plan: dict, name: str) -> dict:
    (found,) = [r for r in resources(plan, ISVC) if r["inputs"]["metadata"]["name"] == name]
    return found["inputs"]


def test_storage_uri_is_the_registered_versions_source(registry, locked):
    version_2 = registry["versions"]["2"]
    predictor = inference_service(locked["plan"], "ranker-pinned")["spec"]["predictor"]
    assert predictor["model"]["storageUri"] == version_2["source"]
    entry = registry_lock.read(locked["lock"], "stackyard lock test").entry("ranker-pinned")
    assert (entry.ref.name, entry.ref.version) == (MODEL, 2)
    resolved = entry.resolved
    assert (resolved.version, resolved.source, resolved.run_id) == (2, version_2["source"], version_2["run_id"])
    assert resolved.model_card == MODEL_CARD.format(version=2)


def test_alias_resolves_to_the_version_it_points_at(registry, locked):
    version_1 = registry["versions"]["1"]
    service = inference_service(locked["plan"], "ranker-champion")
    # Version 1 is an MLflow 3 LoggedModel: its `models:/` source becomes the storage location.
    assert version_1["source"].startswith("models:/")
    assert service["spec"]["predictor"]["model"]["storageUri"] == version_1["storage"]
    assert service["metadata"]["labels"]["stackyard.dev/model-version"] == "1"
    assert service["metadata"]["annotations"]["stackyard.dev/model-run-id"] == version_1["run_id"]
    assert service["metadata"]["annotations"]["stackyard.dev/model-card"] == MODEL_CARD.format(version=1)


def test_locking_again_without_registry_changes_gives_the_same_bytes(locked):
    command = registry_lock.lock_command(locked["spec"])
    previous = registry_lock.read(locked["lock"], command)
    again = registry_lock.resolve(loader.load(str(locked["spec"])), previous, now="2099-01-01T00:00:00Z")
    assert registry_lock.to_yaml(again, command) == locked["lock"].read_text()


def test_plan_reads_only_the_lock(registry, locked, tmp_path):
    """The same spec and lock plan to the same bytes with the registry's URI unreachable."""
    spec = tmp_path / locked["spec"].name
    shutil.copy(locked["spec"], spec)
    shutil.copy(locked["lock"], registry_lock.lock_path(spec))
    from stacks import plan

    offline = plan.build(loader.load(str(spec)), spec)
    assert [r["inputs"] for r in resources(offline, ISVC)] == [r["inputs"] for r in resources(locked["plan"], ISVC)]


def resolve_error(spec_path: Path) -> str:
    with pytest.raises(registry_lock.RegistryError) as error:
        registry_lock.resolve(loader.load(str(spec_path)))
    return str(error.value)


def test_missing_version_lists_the_versions_that_exist(registry, tmp_path):
    message = resolve_error(write_spec(tmp_path, registry["uri"], ("version: 2", "version: 9")))
    assert "model 'ranker' has no version 9" in message
    assert "its versions: 1, 2" in message


def test_alias_not_set_says_which_aliases_are(registry, tmp_path):
    message = resolve_error(write_spec(tmp_path, registry["uri"], ("alias: champion", "alias: shadow")))
    assert "has no alias @shadow" in message
    assert "@champion -> version 1" in message


def test_unknown_model_suggests_the_closest_name(registry, tmp_path):
    message = resolve_error(write_spec(tmp_path, registry["uri"], ("name: ranker\n", "name: rankr\n")))
    assert "no registered model 'rankr'" in message
    assert "did you mean 'ranker'?" in message


@pytest.mark.parametrize("source, reason", [
    ("s3://*/models", "concrete bucket"),
    ("s3://stackyard-test-models/*", "no wildcards"),
    ("s3://stackyard-test-models/ranker\n::error::forged", "control characters"),
])
def test_a_hostile_registry_answer_is_refused_and_nothing_is_locked(registry, tmp_path, source, reason):
    """Registry answers are untrusted: the source becomes an IAM grant and reaches CI logs."""
    from mlflow import MlflowClient

    name = f"hostile-{abs(hash(source)) % 10**8}"
    client = MlflowClient(tracking_uri=registry["uri"], registry_uri=registry["uri"])
    client.create_registered_model(name)
    client.create_model_version(name, source=source)
    spec = write_spec(tmp_path, registry["uri"], ("name: ranker\n      version: 2", f"name: {name}\n      version: 1"))
    result = run_cli("lock", str(spec))
    assert result.returncode == 2, result.stderr
    assert reason in result.stderr and "nothing was locked" in result.stderr
    assert "\n::error::" not in result.stderr and not registry_lock.lock_path(spec).exists()


def closed_port_uri() -> str:
    return f"http://127.0.0.1:{free_port()}"  # bound, released: nothing listens there now


def test_unreachable_registry_fails_with_uri_and_timeout_and_keeps_the_old_lock(locked, tmp_path, capsys):
    """The CLI in-process (mlflow is imported already); `locked` ran it as a subprocess."""
    from stacks.cli import main

    uri = closed_port_uri()
    spec = write_spec(tmp_path, uri)
    lock_file = registry_lock.lock_path(spec)
    shutil.copy(locked["lock"], lock_file)
    before = lock_file.read_bytes()
    assert main(["lock", str(spec)]) == 2
    stderr = capsys.readouterr().err
    assert f"the MLflow registry at {uri} is unreachable" in stderr
    assert "timeout of 2 s" in stderr
    assert "is unchanged" in stderr and "Traceback" not in stderr
    assert lock_file.read_bytes() == before


def test_unreachable_registry_fails_within_the_configured_timeout(registry, tmp_path):
    """No retries: MLflow's default policy (7 retries, exponential backoff) would wait minutes here.

    The bound is the spec's timeoutSeconds (2 s) and the failure (connection
    refused) is immediate, so this separates "no retries" from MLflow's
    defaults without depending on the machine's speed.
    """
    spec = loader.load(str(write_spec(tmp_path, closed_port_uri())))
    started = time.monotonic()
    with pytest.raises(registry_lock.RegistryError, match="unreachable"):
        registry_lock.resolve(spec)
    assert time.monotonic() - started < spec.serving.registry.timeout_seconds


# --- what locking changes: old -> new, rollbacks, --check, --endpoint --------------

def _champion(uri: str, version: str) -> None:
    from mlflow import MlflowClient

    MlflowClient(tracking_uri=uri, registry_uri=uri).set_registered_model_alias(MODEL, "champion", version)


def test_an_alias_moved_back_is_shown_as_a_rollback_and_check_finds_the_stale_lock(registry, tmp_path, capsys):
    from stacks.cli import main

    spec = write_spec(tmp_path, registry["uri"])
    lock_file = registry_lock.lock_path(spec)
    try:
        _champion(registry["uri"], "2")
        assert main(["lock", str(spec)]) == 0
        capsys.readouterr()
        _champion(registry["uri"], "1")  # @champion moves back from version 2 to 1

        before = lock_file.read_bytes()
        assert main(["lock", str(spec), "--check"]) == 6  # stale, and nothing written
        out, err = capsys.readouterr()
        assert lock_file.read_bytes() == before and "is stale: run `stackyard lock" in err

        assert main(["lock", str(spec)]) == 0
        out, err = capsys.readouterr()
        (row,) = [line for line in out.splitlines() if line.startswith("ranker-champion")]
        assert "2 → 1" in row and "rollback" in row
        (pinned,) = [line for line in out.splitlines() if line.startswith("ranker-pinned")]
        assert "→" not in pinned and "rollback" not in pinned
        assert "warning: ranker-champion: ranker alias @champion moves back from version 2 to 1 (a rollback)" in err

        assert main(["lock", str(spec), "--check", "--format", "json"]) == 0
        report = json.loads(capsys.readouterr().out)
        assert report["stale"] is False and report["written"] is False
        assert {entry["change"] for entry in report["entries"]} == {"unchanged"}
    finally:
        _champion(registry["uri"], "1")


def test_lock_endpoint_resolves_one_endpoint_and_keeps_the_others(registry, locked, tmp_path, capsys):
    from stacks.cli import main

    spec = write_spec(tmp_path, registry["uri"])
    lock_file = registry_lock.lock_path(spec)
    shutil.copy(locked["lock"], lock_file)
    pinned_before = registry_lock.read(lock_file, "x").entry("ranker-pinned")
    try:
        _champion(registry["uri"], "2")
        assert main(["lock", str(spec), "--endpoint", "ranker-champion"]) == 0
        lock = registry_lock.read(lock_file, "x")
        assert lock.entry("ranker-champion").resolved.version == 2
        assert lock.entry("ranker-pinned") == pinned_before  # not asked again: resolvedAt kept too
        capsys.readouterr()
        assert main(["lock", str(spec), "--endpoint", "ranker-champoin"]) == 2
        assert "has no endpoint 'ranker-champoin'; did you mean 'ranker-champion'?" in capsys.readouterr().err
    finally:
        _champion(registry["uri"], "1")


# --- approval ------------------------------------------------------------------------------

EVIDENCE = "https://github.example.com/ml-platform/evaluations/blob/main/ranker/v{version}.md"


def production_spec(directory: Path, tracking_uri: str) -> Path:
    spec = write_spec(directory, tracking_uri)
    spec.write_text(spec.read_text() + "\npolicy:\n  production: true\n")
    return spec


def approval_verdicts(plan: dict, spec: Path) -> dict[str, list[str]]:
    """SY-SRV-007 on the plan's InferenceServices, in the context the spec's lock gives."""
    from policies.environment import context_from_spec
    from policies.rules import RULES_BY_ID
    from policies.rules.model import Resource

    services = [Resource.from_plan_entry(entry) for entry in resources(plan, ISVC)]
    verdicts = RULES_BY_ID["SY-SRV-007"].run(services, context_from_spec(loader.load(str(spec)), spec))
    assert len(verdicts) == 2
    return verdicts


def test_approval_tags_match_the_policy_packs_copy():
    from environments.spec import APPROVAL_TAGS
    from policies.rules.serving import APPROVAL_TAGS as RULE_TAGS

    assert RULE_TAGS == APPROVAL_TAGS


def test_bad_approvals_are_refused_before_the_registry_is_touched(registry, tmp_path, capsys):
    from stacks.cli import main

    spec = str(production_spec(tmp_path, registry["uri"]))
    for arguments, message in ((["--version", "2", "--by", "ml-leads@example.com", "--evidence", "see slack"],
                                "--evidence: expected an http(s) link"),
                               (["--version", "2", "--by", "https://x", "--evidence", EVIDENCE],
                                "--by: expected an e-mail address or login name"),
                               (["--version", "9", "--by", "ml-leads@example.com", "--evidence", EVIDENCE],
                                "has no version 9 in the MLflow registry")):
        assert main(["approve", spec, "ranker-pinned", *arguments]) == 2
        stderr = capsys.readouterr().err
        assert message in stderr and "Traceback" not in stderr
    assert main(["approve", spec, "no-such-endpoint", "--version", "2", "--by", "a@b.c", "--evidence", EVIDENCE]) == 2
    assert "has no endpoint 'no-such-endpoint'; its endpoints: ranker-pinned, ranker-champion" in \
        capsys.readouterr().err


def test_production_needs_approved_versions_in_lock_and_policy(registry, locked, tmp_path, capsys):
    """Unapproved: `lock` refuses (exit 3) and SY-SRV-007 fails; approved with `stackyard approve`: both
    accept, and the lock carries who approved which version, when, on what evidence."""
    from mlflow import MlflowClient

    from environments.spec import APPROVAL_TAGS
    from stacks.cli import main

    spec = production_spec(tmp_path, registry["uri"])
    lock_file = registry_lock.lock_path(spec)
    assert main(["lock", str(spec)]) == 3
    stderr = capsys.readouterr().err
    assert "production endpoint 'ranker-pinned' would serve model 'ranker' version 2, which has no approval" in stderr
    assert f"`stackyard approve {spec} ranker-pinned --version 2 --by WHO --evidence URL`" in stderr
    assert not lock_file.exists()

    shutil.copy(locked["lock"], lock_file)  # the lock a non-production environment accepted
    verdicts = approval_verdicts(locked["plan"], spec)
    assert all(len(problems) == 1 and "which has no approval in the registry" in problems[0]
               for problems in verdicts.values()), verdicts

    client = MlflowClient(tracking_uri=registry["uri"], registry_uri=registry["uri"])
    try:
        for endpoint, version in (("ranker-pinned", 2), ("ranker-champion", 1)):
            assert main(["approve", str(spec), endpoint, "--version", str(version), "--by", "ml-leads@example.com",
                         "--evidence", EVIDENCE.format(version=version)]) == 0
        tags = client.get_model_version(MODEL, "2").tags
        assert tags["stackyard.approval.by"] == "ml-leads@example.com"
        assert tags["stackyard.approval.evidence"] == EVIDENCE.format(version=2)

        assert main(["lock", str(spec)]) == 0
        entry = registry_lock.read(lock_file, "stackyard lock test").entry("ranker-pinned")
        assert entry.resolved.approved and entry.resolved.version == 2
        assert entry.resolved.tags["stackyard.approval.by"] == "ml-leads@example.com"
        assert entry.resolved.tags["stackyard.approval.evidence"] == EVIDENCE.format(version=2)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", entry.resolved.tags["stackyard.approval.at"])
        assert "stackyard.approval.by: ml-leads@example.com" in lock_file.read_text()
        assert approval_verdicts(locked["plan"], spec) == {urn: [] for urn in approval_verdicts(locked["plan"], spec)}
    finally:  # the session's registry is shared: leave its versions unapproved again
        for version in ("1", "2"):
            for tag in APPROVAL_TAGS:
                client.delete_model_version_tag(MODEL, version, tag)
