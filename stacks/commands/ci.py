"""`stackyard ci init github [--dir DIR]`: write the GitOps workflows into a repository.

The environments are the Pulumi stacks of the project (a stack config
stacks/Pulumi.<env>.yaml) whose spec provisions cloud resources
(`cloud.provider` other than none), in promotion order dev, staging, prod,
then the others. Parity pairs default to consecutive
environments from staging on (staging and prod). Existing workflow files
are kept unless --force.
"""

from __future__ import annotations

import re
from pathlib import Path

from environments.safe_text import printable
from stacks.errors import ExitCode, StackyardError


def configure(parser) -> None:
    parser.add_argument("action", choices=("init",), metavar="init", help="write the workflows")
    parser.add_argument("provider", choices=("github",), metavar="github", help="the CI system: GitHub Actions")
    parser.add_argument("--dir", type=Path, default=Path("."), metavar="DIR",
                        help="the repository to write .github/workflows/ into (default: the current directory)")
    parser.add_argument("--environments", default=None, metavar="A,B,...",
                        help="environments to deploy, in promotion order (default: every cloud environment)")
    parser.add_argument("--parity", action="append", default=None, metavar="A:B",
                        help="an environment pair `stackyard parity` checks on pull requests (repeatable; "
                             "default: staging:prod)")
    parser.add_argument("--branch", default=None, metavar="NAME",
                        help="the default branch (default: the repository's origin/HEAD, else main)")
    parser.add_argument("--python", default="3.11", metavar="VERSION", help="Python version for the jobs")
    parser.add_argument("--force", action="store_true", help="overwrite existing workflow files")


def run(args) -> int:
    from stacks import atomic
    from stacks.ci_github import promotion_order, workflows

    environments = cloud_environments(args.environments)
    pairs = parity_pairs(args.parity, environments)
    _check_flags(args)
    root = args.dir.resolve()
    if not root.is_dir():
        raise StackyardError(f"--dir {args.dir}: not a directory", ExitCode.INVALID_INPUT)
    target = root / ".github" / "workflows"
    files = workflows(promotion_order(environments), pairs, args.branch or _default_branch(root), args.python,
                      policy_pack=(root / "policies" / "PulumiPolicy.yaml").is_file())
    existing = [name for name in files if (target / name).exists()]
    if existing and not args.force:
        raise StackyardError(f"{', '.join(existing)} already exist in {target}; pass --force to overwrite",
                             ExitCode.INVALID_INPUT)
    for name, text in files.items():
        atomic.write_text(target / name, text)
        print(f"wrote {target / name}")
    print("next: create the GitHub environments " + ", ".join(promotion_order(environments))
          + " with their protection rules, and the secrets and variables the README lists")
    return 0


def cloud_environments(listed) -> list[str]:
    from environments import loader
    from environments.errors import SpecError
    from stacks import spec_loading

    if listed:
        names = [name.strip() for name in listed.split(",") if name.strip()]
        unknown = sorted(set(names) - set(loader.environment_names()))
        if unknown:
            raise StackyardError(f"--environments: no such environment {', '.join(unknown)} "
                                 f"(known: {', '.join(loader.environment_names())})", ExitCode.INVALID_INPUT)
        return _job_names(names)
    stacks_dir = loader.repository_root() / "stacks"
    names = []
    for name in loader.environment_names():
        if not (stacks_dir / f"Pulumi.{name}.yaml").is_file():
            continue  # no stack: a shared base like base.yaml, not an environment of its own
        try:
            spec = spec_loading.load(name)
        except SpecError as error:
            raise StackyardError(f"environment {name!r} is invalid ({len(error.problems)} problems; run "
                                 f"`stackyard validate {name}`)", ExitCode.INVALID_INPUT) from None
        if spec.cloud.provider != "none":
            names.append(name)
    if not names:
        raise StackyardError("no Pulumi stack of this project provisions cloud resources; pass --environments",
                             ExitCode.INVALID_INPUT)
    return _job_names(names)


def _job_names(names: list[str]) -> list[str]:
    """Environments become job ids (`deploy-<env>`) and outputs read as `needs.changes.outputs.<env>`."""
    for name in names:
        if not _JOB_NAME.match(name):
            raise StackyardError(f"environment {name!r} cannot name a GitHub Actions output (`needs.changes."
                                 f"outputs.{name}` must start with a letter); rename the environment",
                                 ExitCode.INVALID_INPUT)
    return names


# What may be written into a workflow unquoted: every flag is checked against these, so no value can
# end a YAML scalar, start a shell command in a `run:` step, or break a `needs.<job>` expression.
_JOB_NAME = re.compile(r"^[a-z][a-z0-9-]*\Z")  # GitHub job and output ids start with a letter
_BRANCH = re.compile(r"^(?!-)(?!.*\.\.)(?!.*//)(?!.*@\{)[A-Za-z0-9._/-]+(?<![./])(?<!\.lock)\Z")
_PYTHON = re.compile(r"^3\.[0-9]{1,2}(\.[0-9]{1,2})?\Z")


def _check_flags(args) -> None:
    if args.branch is not None and not _BRANCH.match(args.branch):
        raise StackyardError(f"--branch {printable(args.branch)!r}: expected a git branch name (letters, digits, "
                             "'.', '_', '-', '/')", ExitCode.INVALID_INPUT)
    if not _PYTHON.match(args.python):
        raise StackyardError(f"--python {printable(args.python)!r}: expected a Python version like 3.11",
                             ExitCode.INVALID_INPUT)


def parity_pairs(given, environments: list[str]) -> list[tuple[str, str]]:
    from environments import loader

    if given is None:
        return [("staging", "prod")] if {"staging", "prod"} <= set(environments) else []
    known = loader.environment_names()
    pairs = []
    for text in given:
        left, _, right = text.partition(":")
        if not left or not right:
            raise StackyardError(f"--parity {printable(text)!r}: expected A:B, e.g. staging:prod",
                                 ExitCode.INVALID_INPUT)
        for side in (left, right):
            if side not in known:
                raise StackyardError(f"--parity {printable(text)!r}: no environment {printable(side)!r} "
                                     f"(known: {', '.join(known)})", ExitCode.INVALID_INPUT)
        if left == right:
            raise StackyardError(f"--parity {text!r}: compares an environment with itself", ExitCode.INVALID_INPUT)
        pairs.append((left, right))
    return pairs


def _default_branch(root: Path) -> str:
    from stacks import git_base

    try:
        return git_base.default_branch(git_base.toplevel(root)).removeprefix("origin/")
    except StackyardError:
        return "main"
