"""Shared test helpers: the repository, running the CLI, and cached offline plans."""

from __future__ import annotations

import contextlib
import functools
import io
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# pytest imports this file as `conftest` (tests/ is on sys.path). Without this alias an import of
# `tests.conftest` would make a second module object, with a second plan cache: every shipped
# plan would be built twice per session.
sys.modules.setdefault("tests.conftest", sys.modules[__name__])

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SHIPPED_ENVIRONMENTS = ("dev", "staging", "prod", "local")

# Hypothesis profiles for every property test. `ci` (the default) still runs thousands of cases
# and keeps the suite within its time budget; HYPOTHESIS_PROFILE=thorough runs 25 times more
# (a nightly or pre-release run). Tests derive smaller counts for expensive commands from
# `max_examples`, so one setting scales them all.
_PROFILE_SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("ci", max_examples=1000, **_PROFILE_SETTINGS)
settings.register_profile("thorough", max_examples=25000, **_PROFILE_SETTINGS)
HYPOTHESIS_PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
settings.load_profile(HYPOTHESIS_PROFILE)


@pytest.fixture(scope="session", autouse=True)
def _test_cache_directory(tmp_path_factory):
    """Stackyard's result cache (environments/result_cache.py) in a folder of this test session, not
    the user's ~/.cache; child processes (run_cli) inherit it."""
    previous = os.environ.get("STACKYARD_CACHE_DIR")
    os.environ["STACKYARD_CACHE_DIR"] = str(tmp_path_factory.mktemp("stackyard-cache"))
    yield
    if previous is None:
        os.environ.pop("STACKYARD_CACHE_DIR", None)
    else:
        os.environ["STACKYARD_CACHE_DIR"] = previous


def run_cli(*args: str, cwd: Path = REPO, env: dict | None = None, process: bool = False
            ) -> subprocess.CompletedProcess:
    """Run `stackyard ARGS` as a user would, and what it printed and returned.

    In this interpreter (`stacks.cli.main`, the function the console script calls), unless the test
    is about the process itself (`process=True`: start-up, signals, imports) or needs another working
    directory or environment: those get a fresh interpreter. A fresh interpreter costs seconds of
    imports per call, and most tests are about what a command does, not how a process starts."""
    if process or env or Path(cwd) != REPO:
        environ = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
        return subprocess.run([sys.executable, "-m", "stacks.cli", *args], cwd=cwd, env=environ,
                              capture_output=True, text=True, timeout=600)
    from stacks.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.chdir(REPO), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as exit:  # argparse's --help and usage errors, as the process would end
            code = exit.code if isinstance(exit.code, int) else int(exit.code is not None)
    return subprocess.CompletedProcess(["stackyard", *args], code, out.getvalue(), err.getvalue())


@contextlib.contextmanager
def inputs_without_a_value():
    """While planning, collect `type name.input` of every resource input that was an Output and resolved
    to None: the SDK drops such an input, so the plan would silently lack a value a deploy has."""
    import pulumi
    from pulumi.runtime import rpc

    found: list[str] = []
    serialize = rpc.serialize_properties

    async def watching(inputs, property_deps, resource_obj=None, *args, **kwargs):
        if isinstance(resource_obj, pulumi.Resource):
            for key in inputs:
                value = inputs[key]
                if isinstance(value, pulumi.Output) and await value.is_known() and await value.future() is None:
                    found.append(f"{resource_obj.pulumi_type} {resource_obj._name}.{key}")
        return await serialize(inputs, property_deps, resource_obj, *args, **kwargs)

    rpc.serialize_properties = watching
    try:
        yield found
    finally:
        rpc.serialize_properties = serialize


# environment -> what `inputs_without_a_value` found while plan_for built its plan
UNSET_INPUTS: dict[str, list[str]] = {}


@functools.lru_cache(maxsize=None)
def plan_for(environment: str) -> dict:
    """The offline plan of a shipped environment or spec file, built once per test session."""
    from environments import loader
    from stacks import plan

    spec = loader.load(environment)
    with inputs_without_a_value() as found:
        built = plan.build(spec, loader.spec_path(environment).resolve())
    UNSET_INPUTS[environment] = sorted(set(found))
    return built


def resources(plan: dict, type_: str) -> list[dict]:
    return [r for r in plan["resources"] if r["type"] == type_]


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture(scope="session")
def mlflow_registry(tmp_path_factory):
    """One seeded `mlflow server` on loopback for the whole session (see tests/mlflow_registry.py)."""
    from mlflow_registry import seeded_registry

    with seeded_registry(tmp_path_factory.mktemp("mlflow")) as registry:
        yield registry


def descendants(plan: dict, component_type: str) -> list[dict]:
    """Every resource below the (one) component of `component_type`, e.g. stackyard:features:FeatureStore."""
    by_urn = {r["urn"]: r for r in plan["resources"]}

    def under(resource: dict) -> bool:
        parent = by_urn.get(resource["parent"])
        while parent is not None:
            if parent["type"] == component_type:
                return True
            parent = by_urn.get(parent["parent"])
        return False

    return [r for r in plan["resources"] if under(r)]


def require_tool(name: str, package: str) -> str:
    """The path of a command-line tool a test checks against; fail in CI without it, skip locally."""
    path = shutil.which(name)
    if path:
        return path
    message = f"{name} is not installed (Debian package {package}; .ci/run installs it)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def lock_beside(spec_file: Path, shipped_environment: str) -> None:
    """Write the registry lock a spec copy needs to plan: the shipped environment's entries, plus an
    entry for each endpoint the copy adds, as a test registry would resolve an approved version. Invalid
    copies get none."""
    from environments import loader
    from environments.errors import SpecError
    from environments.spec import (APPROVAL_EVIDENCE_TAG, APPROVED_AT_TAG, APPROVED_BY_TAG, MODEL_CARD_TAG,
                                   ResolvedModel)
    from stacks import registry_lock

    try:
        spec = loader.load(str(spec_file))
    except SpecError:
        return
    if not spec.endpoints or spec.serving.registry is None:
        return
    shipped = registry_lock.read(registry_lock.lock_path(loader.spec_path(shipped_environment)), "stackyard lock")
    entries = []
    for endpoint in spec.endpoints:
        entry = shipped.entry(endpoint.name)
        if entry is None or entry.ref != endpoint.model:
            version = endpoint.model.version or 1
            entry = registry_lock.LockEntry(endpoint.name, endpoint.model, ResolvedModel(
                name=endpoint.model.name, version=version, run_id="0" * 32, resolved_at="2026-01-01T00:00:00Z",
                source=f"s3://stackyard-test-models/{endpoint.model.name}/{version}/artifacts",
                tags={MODEL_CARD_TAG: f"https://cards.example.com/{endpoint.model.name}/{version}",
                      APPROVED_BY_TAG: "reviewer@example.com", APPROVED_AT_TAG: "2026-01-01T00:00:00Z",
                      APPROVAL_EVIDENCE_TAG: f"https://evals.example.com/{endpoint.model.name}/{version}"}))
        entries.append(entry)
    lock = registry_lock.RegistryLock(spec.name, spec.serving.registry.tracking_uri, tuple(entries))
    registry_lock.lock_path(spec_file).write_text(registry_lock.to_yaml(lock, "stackyard lock"))


def repository_copy(repo: Path) -> Path:
    """A fresh git repository at `repo` (branch main, nothing committed yet) holding the files of this
    checkout that git sees: tracked, and untracked but not ignored, as they are in the working tree."""
    listed = subprocess.run(["git", "-C", str(REPO), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            capture_output=True, check=True).stdout.decode().split("\0")
    for relative in filter(None, listed):
        if (REPO / relative).is_file():
            (repo / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / relative, repo / relative)
    subprocess.run(["git", "--no-optional-locks", "-C", str(repo), "init", "-q", "-b", "main"], capture_output=True,
                   text=True, check=True)
    return repo


def free_port() -> int:
    """A loopback port nothing listens on now (bound, then released), for a server a test starts."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
