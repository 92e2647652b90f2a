"""`stackyard diff ENV [--base REF]`: what merging the working tree would change, before anyone deploys.

The head side is the working tree, planned in-process by the current code;
the base side (default: the merge base with the default branch) is planned
by the base commit's own code in a temporary worktree (stacks/git_base.py).
Exit 4 when a stateful resource would be deleted or replaced without an
acknowledgement.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from environments.spec import Spec
from stacks.commands.change_common import (add_report_options, command_line_acknowledgements, emit, exit_code,
                                           raw_acknowledgements)
from stacks.commands.common import add_environment_argument, load_spec
from stacks.errors import ExitCode, StackyardError


def configure(parser) -> None:
    add_environment_argument(parser)
    parser.add_argument("--base", default=None, metavar="REF",
                        help="the git revision to compare with (default: the merge base of HEAD and the default "
                             "branch: origin/HEAD, else main or master)")
    add_report_options(parser)


def _empty_plan(environment: str) -> dict:
    return {"environment": environment, "specDigest": None, "resources": []}


def run(args) -> int:
    from environments import loader
    from stacks import git_base

    cli_acknowledgements = command_line_acknowledgements(args)
    repository = git_base.toplevel(loader.repository_root())
    base_ref = git_base.resolve_base(repository, args.base)
    # The head first: a broken working tree fails fast, before the slower base plan.
    head = head_side(args.environment, repository)
    with git_base.checkout(repository, base_ref.commit) as worktree:
        report = change_report(head, repository, base_ref, worktree, cli_acknowledgements)
    emit(report, args)
    return exit_code(report, args.detailed_exitcode)


@dataclass(frozen=True)
class Head:
    """The working tree's side of a change: the environment's spec and plan (None where it has none)."""

    environment: str  # as the user named it
    spec_file: Path
    relative_spec: Path  # to the repository
    spec: Optional[Spec]
    plan: Optional[dict]


def head_side(environment: str, repository: Path) -> Head:
    """Load and plan the working tree's `environment` (once: diff and review derive everything from it)."""
    from environments import loader
    from stacks import plan as offline_plan
    from stacks import progress

    spec_file = loader.spec_path(environment).resolve()
    try:
        relative_spec = spec_file.relative_to(repository)
    except ValueError:
        raise StackyardError(f"{spec_file} is outside the git repository {repository}; `stackyard diff` compares "
                             "commits of that repository", ExitCode.INVALID_INPUT) from None
    if not spec_file.is_file():
        return Head(environment, spec_file, relative_spec, None, None)
    spec, _ = load_spec(environment)
    with progress.phase(f"planning {spec.name} (working tree)"):
        plan = offline_plan.build(spec, spec_file)
    return Head(environment, spec_file, relative_spec, spec, plan)


def change_report(head: Head, repository: Path, base_ref, worktree: Path, cli_acknowledgements) -> dict:
    """The change report of one environment: the head against its base plan (from the cache, else
    planned by the base commit's own code in `worktree`, a checkout of `base_ref`)."""
    from environments import loader
    from stacks import change_report as report_builder
    from stacks import git_base, progress
    from stacks.diff import data_loss_verdict, diff_plans, spec_acknowledgements
    from stacks.resource_rules import table
    from stacks.review_sources import EMPTY_SIDE, review_side, unavailable_side

    project = loader.repository_root()
    base_label = f"{base_ref.label} ({base_ref.commit[:12]})"
    if head.spec is not None:
        head_plan = head.plan
        with progress.phase("auditing the working tree"):
            head_review = review_side(head.spec, head_plan, head.spec_file, project / "environments")
    else:
        head_plan, head_review = _empty_plan(head.environment), EMPTY_SIDE

    base_project = worktree / project.relative_to(repository)
    base_spec_file = worktree / head.relative_spec
    if base_spec_file.is_file():
        with progress.phase(f"planning {head.environment} at {base_label} with its own code"):
            base_plan = git_base.cached_plan_with_own_code(repository, base_ref.commit, worktree,
                                                           project.relative_to(repository), head.relative_spec,
                                                           base_label)
        base_spec = _spec_or_none(base_spec_file)
        if base_spec:
            with progress.phase("auditing the base"):
                base_review = review_side(base_spec, base_plan, base_spec_file, base_project / "environments")
            earlier_acknowledgements = list(base_spec.acknowledgements)
        else:
            base_review = unavailable_side("the current code cannot read the base spec")
            earlier_acknowledgements = raw_acknowledgements(base_spec_file.read_text(encoding="utf-8"))
    elif head.spec is None:
        raise StackyardError(f"no environment {head.environment!r}: {loader.display(head.spec_file)} exists neither "
                             f"in the working tree nor at {base_label}", ExitCode.INVALID_INPUT)
    else:
        base_plan, base_review, earlier_acknowledgements = _empty_plan(head.environment), EMPTY_SIDE, []

    environment = head.spec.name if head.spec else base_plan.get("environment", head.environment)
    diff = diff_plans(base_plan, head_plan, table())
    applicable, carried_over = spec_acknowledgements(
        head.spec.acknowledgements if head.spec else (), earlier_acknowledgements, loader.display(head.spec_file))
    verdict = data_loss_verdict(diff.changes, [*applicable, *cli_acknowledgements], carried_over)
    return report_builder.build(
        environment=environment, source="offline plan",
        base={"label": base_label, "commit": base_ref.commit, "specDigest": base_plan.get("specDigest")},
        head={"label": git_base.head_label(repository), "specDigest": head_plan.get("specDigest")},
        diff=diff, verdict=verdict, base_review=base_review, head_review=head_review)


def _spec_or_none(spec_file: Path):
    """The base spec as the current code reads it, or None where it no longer can."""
    from environments.errors import SpecError
    from stacks import spec_loading

    try:
        return spec_loading.load(str(spec_file))
    except SpecError:
        return None
