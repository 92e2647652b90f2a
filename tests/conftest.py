"""Shared test helpers: the repository, running the CLI, and cached offline plans."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SHIPPED_ENVIRONMENTS = ("dev", "staging", "prod", "local")


@pytest.fixture(scope="session", autouse=True)
def _test_cache_directory(tmp_path_factory):
    """Stackyard's result cache (stacks/cache.py) in a folder of this test session, not the user's
    ~/.cache; child processes (run_cli) inherit it."""
    previous = os.environ.get("STACKYARD_CACHE_DIR")
    os.environ["STACKYARD_CACHE_DIR"] = str(tmp_path_factory.mktemp("stackyard-cache"))
    yield
    if previous is None:
        os.environ.pop("STACKYARD_CACHE_DIR", None)
    else:
        os.environ["STACKYARD_CACHE_DIR"] = previous


def run_cli(*args: str, cwd: Path = REPO, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run `stackyard ARGS` in a fresh interpreter, as a user would."""
    environ = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run([sys.executable, "-m", "stacks.cli", *args], cwd=cwd, env=environ,
                          capture_output=True, text=True, timeout=600)


@functools.lru_cache(maxsize=None)
def plan_for(environment: str) -> dict:
    """The offline plan of a shipped environment or spec file, built once per test session."""
    from environments import loader
    from stacks import plan

    spec = loader.load(environment)
    return plan.build(spec, loader.spec_path(environment).resolve())


def resources(plan: dict, type_: str) -> list[dict]:
    return [r for r in plan["resources"] if r["type"] == type_]


@pytest.fixture
def cli():
    return run_cli


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
    entry for each endpoint the copy adds, as a test registry would resolve it. Invalid copies get none."""
    import dataclasses

    from environments import loader
    from environments.errors import SpecError
    from environments.spec import MODEL_CARD_TAG, ResolvedModel
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
                tags={MODEL_CARD_TAG: f"https://cards.example.com/{endpoint.model.name}/{version}"}))
        entries.append(entry)
    lock = registry_lock.RegistryLock(spec.name, spec.serving.registry.tracking_uri, tuple(entries))
    registry_lock.lock_path(spec_file).write_text(registry_lock.to_yaml(lock, "stackyard lock"))
