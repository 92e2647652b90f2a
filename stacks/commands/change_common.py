"""What `stackyard diff` and `stackyard report-preview` share: acknowledgements and report output."""

from __future__ import annotations

import getpass
import os
import sys
from pathlib import Path
from typing import Any

from stacks.diff import Acknowledgement
from stacks.errors import ExitCode, StackyardError

COMMAND_LINE = "command line"


def add_report_options(parser) -> None:
    parser.add_argument("--format", choices=("markdown", "json"), default="markdown",
                        help="what to print on standard output (default: markdown)")
    parser.add_argument("--markdown", type=Path, default=None, metavar="FILE",
                        help="also write the Markdown report (a pull-request comment) to FILE")
    parser.add_argument("--json", type=Path, default=None, metavar="FILE", help="also write the JSON report to FILE")
    parser.add_argument("--detailed-exitcode", action="store_true",
                        help="exit 6 when the change creates, updates, replaces or deletes anything and nothing "
                             "blocks it (0 for no changes; 4 still wins), as Terraform's -detailed-exitcode")
    parser.add_argument("--allow-data-loss", action="append", default=[], metavar="GLOB",
                        help="acknowledge deleting or replacing the stateful resources whose URN or name matches "
                             "GLOB (repeatable; needs --reason)")
    parser.add_argument("--reason", default=None, metavar="TEXT", help="why the data loss is acceptable")
    parser.add_argument("--by", default=None, metavar="NAME",
                        help="who acknowledges it (default: $GITHUB_ACTOR or the login name)")


def command_line_acknowledgements(args) -> list[Acknowledgement]:
    """The --allow-data-loss acknowledgements; also checks the output files before any work starts."""
    from stacks.commands.common import check_output

    for output in (args.markdown, args.json):
        if output is not None:
            check_output(output)
    if not args.allow_data_loss:
        if args.reason:
            raise StackyardError("--reason is only used with --allow-data-loss GLOB", ExitCode.INVALID_INPUT)
        return []
    if not args.reason or len(args.reason.strip()) < 10:
        raise StackyardError("--allow-data-loss needs --reason TEXT (at least 10 characters) saying why "
                             "losing the data is acceptable", ExitCode.INVALID_INPUT)
    by = args.by or os.environ.get("GITHUB_ACTOR") or _login()
    return [Acknowledgement(glob, args.reason.strip(), by, COMMAND_LINE) for glob in args.allow_data_loss]


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def raw_acknowledgements(text: str) -> list[Any]:
    """The well-formed acknowledgements in a spec file's own YAML text (a base the current code cannot load)."""
    from types import SimpleNamespace

    import yaml

    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError:
        return []
    entries = document.get("acknowledgements") if isinstance(document, dict) else None
    return [SimpleNamespace(resource=str(e["resource"]), reason=str(e["reason"]), by=str(e["by"]))
            for e in entries or () if isinstance(e, dict) and {"resource", "reason", "by"} <= set(e)]


def emit(report: dict, args) -> None:
    """Print the report in the chosen format and write the requested files, atomically."""
    from stacks import atomic, change_report

    markdown = change_report.render_markdown(report)
    document = change_report.to_json(report)
    if args.markdown is not None:
        atomic.write_text(args.markdown, markdown)
    if args.json is not None:
        atomic.write_text(args.json, document)
    sys.stdout.write(document if args.format == "json" else markdown)


def exit_code(report: dict, detailed: bool = False) -> int:
    if report["dataLoss"]["status"] == "blocked":
        risks = report["dataLoss"]["risks"]
        unacknowledged = [risk["name"] for risk in risks if risk["acknowledgement"] is None]
        protected = [risk["name"] for risk in risks if risk["protection"] == "kept"]
        reasons = ([f"{len(unacknowledged)} unacknowledged delete or replacement of stateful resources "
                    f"({', '.join(unacknowledged)})"] if unacknowledged else []) + (
            [f"{len(protected)} delete or replacement of protected resources, which Pulumi refuses "
             f"({', '.join(protected)})"] if protected else [])
        print(f"stackyard: data-loss guard: {'; '.join(reasons)}", file=sys.stderr)
        return int(ExitCode.UNSAFE_CHANGE)
    if detailed and any(report["summary"][op] for op in ("create", "update", "replace", "delete")):
        return int(ExitCode.CHANGES_PRESENT)
    return int(ExitCode.OK)

