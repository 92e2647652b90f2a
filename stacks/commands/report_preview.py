"""`stackyard report-preview PREVIEW.json`: the change report for a real `pulumi preview --json`.

For teams whose CI has cloud credentials: the same Markdown as `stackyard
diff`, from what the providers themselves say will change (replacements are
the providers' verdict, not the table's). The data-loss guard applies the
same way: exit 4 for an unacknowledged delete or replacement of a stateful
resource. Acknowledgements come from the command line and, as for `diff`,
from the environment spec when they are new since the base commit. A preview
with error diagnostics did not succeed: the report leads with them, exit 5.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from stacks.commands.change_common import (add_report_options, command_line_acknowledgements, emit, exit_code,
                                           raw_acknowledgements)
from stacks.errors import ExitCode, StackyardError

UNAVAILABLE = ("a Pulumi preview carries no spec: `stackyard diff ENV` reports policy, parity and cost changes")


def configure(parser) -> None:
    parser.add_argument("preview", type=Path, metavar="PREVIEW_JSON",
                        help="the output of `pulumi preview --json` (use - for standard input)")
    parser.add_argument("--environment", default=None, metavar="ENV",
                        help="the environment whose spec acknowledgements apply (default: the stack name, if an "
                             "environment of that name exists)")
    parser.add_argument("--base", default=None, metavar="REF",
                        help="for spec acknowledgements: the revision they must be new since (default: the merge "
                             "base of HEAD and the default branch)")
    add_report_options(parser)


def _read(path: Path):
    import sys

    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise StackyardError(f"cannot read {path}: {getattr(error, 'strerror', None) or error}",
                             ExitCode.INVALID_INPUT) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise StackyardError(f"{path}:{error.lineno}:{error.colno}: not JSON: {error.msg} (expected the output "
                             "of `pulumi preview --json`)", ExitCode.INVALID_INPUT) from None


def run(args) -> int:
    from stacks import change_report, preview_json
    from stacks.diff import data_loss_verdict
    from stacks.resource_rules import table

    cli_acknowledgements = command_line_acknowledgements(args)
    document = _read(args.preview)
    diff, stack = preview_json.read(document, table(), where=str(args.preview))
    errors = preview_json.error_diagnostics(document)
    environment = args.environment or stack.rsplit("/", 1)[-1] or "unknown"
    applicable, carried_over = _spec_acknowledgements(environment, explicit=args.environment is not None,
                                                      base=args.base)
    verdict = data_loss_verdict(diff.changes, [*applicable, *cli_acknowledgements], carried_over)
    report = change_report.build(
        environment=environment, source="pulumi preview",
        base={"label": f"deployed state of stack {stack or environment}", "commit": None, "specDigest": None},
        head={"label": f"pulumi preview ({args.preview})", "specDigest": None},
        diff=diff, verdict=verdict, base_review=None, head_review=None, unavailable_reason=UNAVAILABLE,
        errors=errors)
    emit(report, args)
    if errors:
        print(f"stackyard: the preview failed: {len(errors)} error diagnostic{'s' if len(errors) != 1 else ''} "
              f"({errors[0]}{'; …' if len(errors) > 1 else ''})", file=sys.stderr)
        return int(ExitCode.DEPLOY_FAILED)
    return exit_code(report, args.detailed_exitcode)


def _spec_acknowledgements(environment: str, explicit: bool, base):
    """(applicable, carried over) spec acknowledgements of the environment, as `stackyard diff` judges them."""
    from environments import loader
    from stacks import git_base
    from stacks.commands.common import load_spec
    from stacks.diff import spec_acknowledgements

    spec_file = loader.spec_path(environment).resolve()
    if not spec_file.is_file():
        if explicit:
            load_spec(environment)  # the located "no environment" message, exit 2
        return [], []
    spec, _ = load_spec(environment)
    if not spec.acknowledgements:
        return [], []
    repository = git_base.toplevel(spec_file.parent)
    base_ref = git_base.resolve_base(repository, base)
    earlier = raw_acknowledgements(git_base.file_at(repository, base_ref.commit, spec_file.relative_to(repository))
                                   or "")
    return spec_acknowledgements(spec.acknowledgements, earlier, loader.display(spec_file))
