"""The base side of a diff: a git ref checked out in a temporary worktree, planned by its own code.

The base plan is built by the base commit's own Stackyard, in a subprocess
(`python -m stacks.cli plan ENV --out DIR` with the worktree as working
directory and PYTHONPATH). That is slower than planning the base spec with
the current code, but it is the only way the diff shows what a change to the
components (not just to the spec) does: the base is planned exactly as it
was deployed. The environment's lock file (environments/<env>.lock.yaml) and
everything else the program reads come from the same commit.

Base plans are cached (environments/result_cache.py) under the git tree id of the project
at the base commit (so the spec, its lock and all the code the plan is made
with), the spec's path, this Stackyard's version and the installed packages:
a pull request's review plans each base once, and any change to one of those
inputs plans it again.

The user's checkout is never touched: the base is a detached `git worktree`
in a temporary directory (hooks off), removed again in every case. Status is
read with --no-optional-locks so not even the index is refreshed.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

from stacks.errors import ExitCode, StackyardError

DEFAULT_BRANCH_CANDIDATES = ("origin/main", "origin/master", "main", "master")


def git(repository: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    try:
        result = subprocess.run(["git", "--no-optional-locks", "-C", str(repository), *args],
                                capture_output=True, text=True, timeout=300)
    except FileNotFoundError:
        raise StackyardError("git is not installed; `stackyard diff` needs it to read the base commit",
                             ExitCode.INVALID_INPUT) from None
    if check and result.returncode != 0:
        detail = (result.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise StackyardError(f"git {' '.join(args)} failed: {detail}", ExitCode.INVALID_INPUT)
    return result


def toplevel(path: Path) -> Path:
    result = git(path, "rev-parse", "--show-toplevel", check=False)
    if result.returncode != 0:
        raise StackyardError(f"{path} is not inside a git repository; `stackyard diff` compares git commits",
                             ExitCode.INVALID_INPUT)
    return Path(result.stdout.strip()).resolve()


def default_branch(repository: Path) -> str:
    """origin/HEAD if the clone knows it, else the first of origin/main, origin/master, main, master."""
    result = git(repository, "symbolic-ref", "--quiet", "--short", "refs/remotes/origin/HEAD", check=False)
    if result.returncode == 0 and result.stdout.strip():
        return result.stdout.strip()
    for candidate in DEFAULT_BRANCH_CANDIDATES:
        if git(repository, "rev-parse", "--verify", "--quiet", f"{candidate}^{{commit}}", check=False).returncode == 0:
            return candidate
    raise StackyardError("cannot find the default branch (no origin/HEAD, origin/main, origin/master, main or "
                         "master): pass --base REF", ExitCode.INVALID_INPUT)


@dataclass(frozen=True)
class BaseRef:
    label: str  # what the user asked for, or how the default was chosen
    commit: str


def resolve_base(repository: Path, ref: Optional[str]) -> BaseRef:
    if ref is None:
        branch = default_branch(repository)
        result = git(repository, "merge-base", "HEAD", branch, check=False)
        if result.returncode != 0:
            raise StackyardError(f"no merge base of HEAD and {branch} (a shallow clone? fetch with depth 0, "
                                 "or pass --base REF)", ExitCode.INVALID_INPUT)
        return BaseRef(f"merge base with {branch}", result.stdout.strip())
    result = git(repository, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False)
    if result.returncode != 0:
        raise StackyardError(f"unknown git revision {ref!r} (in a CI clone, fetch it first)", ExitCode.INVALID_INPUT)
    return BaseRef(ref, result.stdout.strip())


def head_label(repository: Path) -> str:
    head = git(repository, "rev-parse", "--short=12", "HEAD", check=False).stdout.strip() or "no commit"
    dirty = git(repository, "status", "--porcelain", "--untracked-files=no", check=False).stdout.strip()
    return f"working tree (HEAD {head}{' with uncommitted changes' if dirty else ''})"


def file_at(repository: Path, commit: str, relative: Path) -> Optional[str]:
    """A file's text at a commit, or None where it did not exist."""
    result = git(repository, "show", f"{commit}:{relative.as_posix()}", check=False)
    return result.stdout if result.returncode == 0 else None


@contextlib.contextmanager
def checkout(repository: Path, commit: str) -> Iterator[Path]:
    """A detached worktree of `commit` in a temporary directory, removed on exit whatever happens."""
    scratch = Path(tempfile.mkdtemp(prefix="stackyard-base-"))
    worktree = scratch / "checkout"
    try:
        git(repository, "-c", "core.hooksPath=/dev/null", "worktree", "add", "--detach", "--quiet",
            str(worktree), commit)
        yield worktree
    finally:
        removed = git(repository, "worktree", "remove", "--force", str(worktree), check=False).returncode == 0
        shutil.rmtree(scratch, ignore_errors=True)
        if not removed and (Path(repository) / ".git").is_dir():
            # Only when git could not remove our worktree: drop its now dangling record.
            git(repository, "worktree", "prune", check=False)


def plan_with_own_code(project: Path, environment: str, label: str) -> dict:
    """The plan.json document the code in `project` makes for `environment` (its name or spec path)."""
    out = Path(tempfile.mkdtemp(prefix="stackyard-base-plan-"))
    try:
        environ = {**os.environ, "PYTHONPATH": str(project)}
        result = subprocess.run([sys.executable, "-m", "stacks.cli", "plan", environment, "--out", str(out)],
                                cwd=project, env=environ, capture_output=True, text=True, timeout=900)
        if result.returncode != 0:
            lines = [line for line in result.stderr.strip().splitlines() if line.strip()] or ["(no output)"]
            code = ExitCode.INVALID_INPUT if result.returncode == ExitCode.INVALID_INPUT else ExitCode.INTERNAL_ERROR
            raise StackyardError(f"cannot build the base plan at {label}: " + " / ".join(lines[-3:]), code)
        return json.loads((out / "plan.json").read_text(encoding="utf-8"))
    finally:
        shutil.rmtree(out, ignore_errors=True)


BASE_PLAN_CACHE = "base-plan"


def base_plan_key(repository: Path, commit: str, project: Path, spec_file: Path) -> dict:
    """Everything the base plan of `spec_file` (relative to the repository) at `commit` depends on."""
    from environments import __version__, result_cache

    relative_project = project.as_posix().strip("/")
    tree = git(repository, "rev-parse", "--verify", "--quiet",
               f"{commit}:{relative_project}" if relative_project not in ("", ".") else f"{commit}^{{tree}}",
               check=False).stdout.strip()
    return {"format": 1, "stackyard": __version__, "installation": result_cache.installation_digest(),
            "tree": tree, "spec": spec_file.as_posix()}


def cached_plan_with_own_code(repository: Path, commit: str, worktree: Path, project: Path, spec_file: Path,
                              label: str) -> dict:
    """`plan_with_own_code` for `spec_file` at `commit` (checked out in `worktree`; `project` and
    `spec_file` relative to the repository), from the cache when none of its inputs changed."""
    from environments import result_cache

    key = base_plan_key(repository, commit, project, spec_file)
    cached = result_cache.load(BASE_PLAN_CACHE, key) if key["tree"] else None
    if isinstance(cached, dict) and isinstance(cached.get("resources"), list):
        return cached
    plan = plan_with_own_code(worktree / project, str(worktree / spec_file), label)
    if key["tree"]:
        result_cache.store(BASE_PLAN_CACHE, key, plan)
    return plan
