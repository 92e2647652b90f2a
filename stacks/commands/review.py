"""`stackyard review [ENV ...] [--base REF]`: a pull request's whole offline review in one run.

What the pull-request workflow used to get from one `stackyard diff` and one
`stackyard audit` per environment and one `stackyard parity` per pair, each
planning the environments again: here each environment's working tree is
planned once, and its change report (against the base plan, planned by the
base commit's own code, or reused from the cache), its policy audit and the
parity checks of the pairs it is in are all derived from that one plan. One
checkout of the base serves every environment.

The report (Markdown) holds, per environment, the change report and the audit,
then one section per parity pair; a step that cannot run (an invalid spec, a
base that does not plan) shows its error in its place and the others still run.
The exit code is the worst: 4 (data loss blocked) over 3 (policy or parity
violation) over any other failure.

`--out DIR` writes what the pull-request workflow publishes, the files the
single commands would have written: diff-ENV.{md,json}, audit-ENV.{txt,junit,html}
and sarif/audit-ENV.sarif, parity-A-B.{md,json}, full.md (the whole report), and
errors/COMMAND.err (spaces as underscores) for each step that failed.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from stacks.errors import ExitCode, StackyardError


def configure(parser) -> None:
    parser.add_argument("environments", metavar="ENV", nargs="*",
                        help="the environments to review (default: every environment with a Pulumi stack that "
                             "provisions cloud resources, as `stackyard ci init` chooses them)")
    parser.add_argument("--parity", action="append", default=None, metavar="A:B",
                        help="an environment pair to check against the parity contract (repeatable; default: "
                             "staging:prod when both are reviewed)")
    parser.add_argument("--base", default=None, metavar="REF",
                        help="the git revision to compare with (default: the merge base of HEAD and the default "
                             "branch)")
    parser.add_argument("--format", choices=("markdown", "json"), default="markdown",
                        help="what to print on standard output (default: markdown)")
    parser.add_argument("--markdown", type=Path, default=None, metavar="FILE",
                        help="also write the Markdown report (the pull-request comment) to FILE")
    parser.add_argument("--json", type=Path, default=None, metavar="FILE", help="also write the JSON report to FILE")
    parser.add_argument("--out", type=Path, default=None, metavar="DIR",
                        help="write every step's reports into DIR (the pull-request workflow's layout)")


@dataclass(frozen=True)
class Step:
    """One check of the review: what `stackyard <command>` would have printed, and its exit code."""

    command: str  # e.g. "stackyard audit prod"
    code: int
    text: str  # the report, or the error lines
    markdown: str = ""  # a Markdown rendering, where the step has one (the change report)
    files: tuple[tuple[str, str], ...] = ()  # (name under --out, text): the step's reports


def worst(codes) -> int:
    """The review's exit code: 4 over 3 over the first other failure, else 0."""
    codes = [code for code in codes if code]
    for decisive in (ExitCode.UNSAFE_CHANGE, ExitCode.POLICY_VIOLATION):
        if decisive in codes:
            return int(decisive)
    return codes[0] if codes else 0


def _captured(command: str, action: Callable[[], Step]) -> Step:
    """Run one step; an error it raises becomes the step's result, with what it printed on stderr."""
    errors = io.StringIO()
    try:
        with contextlib.redirect_stderr(errors):
            return action()
    except StackyardError as error:
        text = errors.getvalue() + f"stackyard: {error}\n"
        return Step(command, int(error.code), text, files=((f"errors/{command.replace(' ', '_')}.err", text),))


def _plan_heads(environments, repository: Path) -> tuple[dict, dict[str, Step]]:
    """Each working-tree environment planned once, for every step below: (heads, failed diff steps)."""
    from stacks.commands.diff import head_side

    heads = {}

    def plan(environment: str) -> Step:
        heads[environment] = head_side(environment, repository)
        return Step(f"stackyard diff {environment}", 0, "")

    failed = {}
    for environment in environments:
        step = _captured(f"stackyard diff {environment}", lambda: plan(environment))
        if step.code:
            failed[environment] = step
    return heads, failed


def run(args) -> int:
    from environments import loader
    from stacks import git_base
    from stacks.ci_github import promotion_order
    from stacks.commands.ci import cloud_environments, parity_pairs

    environments = args.environments or promotion_order(cloud_environments(None))
    pairs = parity_pairs(args.parity, environments)
    repository = git_base.toplevel(loader.repository_root())
    base_ref = git_base.resolve_base(repository, args.base)

    heads, head_errors = _plan_heads(environments, repository)

    steps: list[Step] = []
    with git_base.checkout(repository, base_ref.commit) as worktree:
        for environment in environments:
            if environment in head_errors:
                steps.append(head_errors[environment])
                continue
            steps.append(_captured(f"stackyard diff {environment}",
                                   lambda: _diff_step(heads[environment], repository, base_ref, worktree)))
            steps.append(_captured(f"stackyard audit {environment}",
                                   lambda: _audit_step(heads[environment], environment)))
    for source, target in pairs:
        steps.append(_captured(f"stackyard parity {source} {target}",
                               lambda: _parity_step(heads.get(source), heads.get(target), source, target)))

    code = worst(step.code for step in steps)
    markdown = render_markdown(steps)
    document = json.dumps({"exitCode": code, "steps": [{"command": s.command, "exitCode": s.code, "output": s.text}
                                                       for s in steps]}, indent=2) + "\n"
    from stacks import atomic

    if args.out is not None:
        for step in steps:
            for name, text in step.files:
                atomic.write_text(args.out / name, text)
        atomic.write_text(args.out / "full.md", markdown)
    if args.markdown is not None:
        atomic.write_text(args.markdown, markdown)
    if args.json is not None:
        atomic.write_text(args.json, document)
    sys.stdout.write(document if args.format == "json" else markdown)
    return code


def _diff_step(head, repository, base_ref, worktree) -> Step:
    from stacks import change_report as report_builder
    from stacks.commands.change_common import exit_code
    from stacks.commands.diff import change_report

    report = change_report(head, repository, base_ref, worktree, [])
    document, markdown = report_builder.to_json(report), report_builder.render_markdown(report)
    return Step(f"stackyard diff {head.environment}", exit_code(report), document, markdown,
                files=((f"diff-{head.environment}.json", document), (f"diff-{head.environment}.md", markdown)))


def _audit_step(head, environment: str) -> Step:
    from environments import loader
    from policies import audit
    from policies.reports import render

    if head.spec is None:
        raise StackyardError(f"no environment {head.environment!r} in the working tree", ExitCode.INVALID_INPUT)
    document, _ = loader.load_document(str(head.spec_file))
    report = audit.audit_plan(head.spec, document, head.plan, spec_file=head.spec_file)
    code = ExitCode.OK if report.evaluation.passed else ExitCode.POLICY_VIOLATION
    table = render(report, "table")
    files = ((f"audit-{environment}.txt", table), (f"sarif/audit-{environment}.sarif", render(report, "sarif")),
             *((f"audit-{environment}.{format}", render(report, format)) for format in ("junit", "html")))
    return Step(f"stackyard audit {environment}", int(code), table, files=files)


def _parity_step(source_head, target_head, source: str, target: str) -> Step:
    from environments import loader
    from policies import parity
    from stacks.commands.parity import load_contract

    missing = [name for name, head in ((source, source_head), (target, target_head))
               if head is None or head.spec is None]
    if missing:
        raise StackyardError(f"cannot compare {source} and {target}: {', '.join(missing)} did not plan (see above)",
                             ExitCode.INVALID_INPUT)
    contract = load_contract(None)
    try:
        pair = contract.pair(source_head.spec.name, target_head.spec.name)
    except LookupError as error:
        raise StackyardError(str(error), ExitCode.INVALID_INPUT) from None
    report = parity.compare(pair, contract.file, loader.load_document(str(source_head.spec_file))[0],
                            loader.load_document(str(target_head.spec_file))[0], source_head.plan, target_head.plan)
    code = int(ExitCode.POLICY_VIOLATION if report.forbidden else ExitCode.OK)
    markdown = parity.render(report, "markdown")
    return Step(f"stackyard parity {source} {target}", code, parity.render(report, "table"),
                files=((f"parity-{source}-{target}.md", markdown),
                       (f"parity-{source}-{target}.json", parity.render_json(report) + "\n")))


def render_markdown(steps: list[Step]) -> str:
    """Each change report as Markdown, every other step (and any failed one) as a folded block."""
    parts = []
    for step in steps:
        if step.markdown:
            parts.append(step.markdown if step.markdown.endswith("\n") else step.markdown + "\n")
        else:
            parts.append(f"<details><summary>{step.command} (exit {step.code})</summary>\n\n```\n{step.text}"
                         f"{'' if step.text.endswith(chr(10)) else chr(10)}```\n</details>\n")
    return "\n".join(parts)
