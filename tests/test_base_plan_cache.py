"""The base-plan cache of `stackyard diff` / `stackyard review` can never serve a stale plan.

The base side is planned by the base commit's own code (`python -m stacks.cli
plan ENV --out DIR` in a checkout of it). Here that code is a tiny stand-in
committed to a scratch repository: its "plan" records the spec, the lock and
its own marker, and it counts its runs, so the test sees exactly when the
cache answered and whether the answer matched the commit's files.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

import environments
from stacks import git_base

GIT_IDENTITY = ("-c", "user.name=Stackyard Tests", "-c", "user.email=tests@stackyard.invalid")

# The base commit's "Stackyard": writes a plan.json made of what it read, and counts its runs.
STAND_IN_CLI = '''\
import json, pathlib, sys
environment, out = sys.argv[2], pathlib.Path(sys.argv[4])
spec = pathlib.Path(environment)
with open("LOG_PATH", "a") as log:
    log.write(environment + "\\n")
out.mkdir(parents=True, exist_ok=True)
(out / "plan.json").write_text(json.dumps({
    "environment": spec.stem, "specDigest": None, "code": "CODE_MARKER",
    "resources": [{"spec": spec.read_text(), "lock": spec.with_suffix(".lock.yaml").read_text()}]}))
'''


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *GIT_IDENTITY, *args], capture_output=True, text=True,
                          check=True).stdout.strip()


@pytest.fixture
def repo(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("STACKYARD_CACHE_DIR", str(tmp_path / "cache"))
    repo = tmp_path / "repo"
    (repo / "stacks").mkdir(parents=True)
    (repo / "environments").mkdir()
    (repo / "stacks" / "__init__.py").write_text("")
    (repo / "stacks" / "cli.py").write_text(STAND_IN_CLI.replace("CODE_MARKER", "code-1")
                                            .replace("LOG_PATH", str(tmp_path / "runs.log")))
    (repo / "environments" / "pr.yaml").write_text("spec: 1\n")
    (repo / "environments" / "pr.lock.yaml").write_text("lock: 1\n")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    return repo


def base_plan(repo: Path) -> dict:
    commit = git(repo, "rev-parse", "HEAD")
    with git_base.checkout(repo, commit) as worktree:
        return git_base.cached_plan_with_own_code(repo, commit, worktree, Path("."), Path("environments/pr.yaml"),
                                                  "test base")


def runs(repo: Path) -> int:
    log = repo.parent / "runs.log"
    return len(log.read_text().splitlines()) if log.exists() else 0


def commit_change(repo: Path, relative: str, old: str, new: str) -> None:
    path = repo / relative
    path.write_text(path.read_text().replace(old, new))
    git(repo, "commit", "-q", "-am", f"change {relative}")


def test_a_base_plan_is_reused_until_its_spec_lock_code_or_stackyard_version_changes(repo, monkeypatch):
    first = base_plan(repo)
    assert runs(repo) == 1 and first["resources"] == [{"spec": "spec: 1\n", "lock": "lock: 1\n"}]
    assert base_plan(repo) == first and runs(repo) == 1  # same commit: the cache answers
    # An unrelated new commit with the same project tree (an empty commit) reuses it too.
    git(repo, "commit", "-q", "--allow-empty", "-m", "nothing")
    assert base_plan(repo) == first and runs(repo) == 1

    commit_change(repo, "environments/pr.yaml", "spec: 1", "spec: 2")
    assert base_plan(repo)["resources"][0]["spec"] == "spec: 2\n" and runs(repo) == 2
    commit_change(repo, "environments/pr.lock.yaml", "lock: 1", "lock: 2")
    assert base_plan(repo)["resources"][0]["lock"] == "lock: 2\n" and runs(repo) == 3
    commit_change(repo, "stacks/cli.py", "code-1", "code-2")
    assert base_plan(repo)["code"] == "code-2" and runs(repo) == 4
    assert base_plan(repo)["code"] == "code-2" and runs(repo) == 4
    monkeypatch.setattr(environments, "__version__", environments.__version__ + ".dev-other")
    assert base_plan(repo)["code"] == "code-2" and runs(repo) == 5


def test_a_corrupt_or_foreign_cache_entry_is_planned_again(repo):
    from environments import result_cache

    commit = git(repo, "rev-parse", "HEAD")
    key = git_base.base_plan_key(repo, commit, Path("."), Path("environments/pr.yaml"))
    base_plan(repo)
    entry = next((result_cache.directory() / git_base.BASE_PLAN_CACHE).glob("*.json"))
    entry.write_text("{ not json")
    assert base_plan(repo)["resources"][0]["spec"] == "spec: 1\n" and runs(repo) == 2
    # An entry whose stored key is another one's (a copied or colliding file) is not served.
    stored = json.loads(entry.read_text())
    assert stored["key"] == key
    entry.write_text(json.dumps({"key": {**key, "tree": "0" * 40}, "value": {"resources": ["stale"]}}))
    assert base_plan(repo)["resources"][0]["spec"] == "spec: 1\n" and runs(repo) == 3
