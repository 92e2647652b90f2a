"""`stackyard pr-comment REPORT.json...`: one pull-request comment from the reports of every environment.

The pull-request workflow writes each environment's change report (`stackyard
diff --json`) and each pair's parity report (`stackyard parity --format json`);
this command joins them into a comment that always fits GitHub's limit
(stacks/change_report.render_comment): verdicts first, then what blocks the
merge, the full reports staying in the job summary and the artifacts. With
`--annotations` it also prints a GitHub `::error file=…,line=…::` line for
every mandatory finding, so the pull request's files show them.
"""

from __future__ import annotations

from pathlib import Path

from stacks.errors import ExitCode, StackyardError


def configure(parser) -> None:
    parser.add_argument("reports", type=Path, nargs="*", metavar="REPORT_JSON",
                        help="change reports (`stackyard diff --json`) and parity reports "
                             "(`stackyard parity --format json`)")
    parser.add_argument("--failed", action="append", default=[], metavar="COMMAND=FILE",
                        help="a command that failed before writing its report, and the file holding its error "
                             "output (repeatable)")
    parser.add_argument("--output", type=Path, required=True, metavar="FILE", help="write the comment to FILE")
    parser.add_argument("--details", default="", metavar="TEXT",
                        help="where the full reports are (a line under the comment)")
    parser.add_argument("--annotations", action="store_true",
                        help="print GitHub Actions ::error annotations for mandatory findings")


def _read(path: Path) -> dict:
    from stacks.commands.common import read_json

    document = read_json(path)
    if not isinstance(document, dict) or not (document.get("kind") == "ChangeReport"
                                              or {"from", "to", "differences", "summary"} <= set(document)):
        raise StackyardError(f"{path}: neither a change report (`stackyard diff --json`) nor a parity report "
                             "(`stackyard parity --format json`)", ExitCode.INVALID_INPUT)
    return document


def _failure(value: str) -> tuple[str, str]:
    command, separator, file = value.rpartition("=")
    if not separator or not command:
        raise StackyardError(f"--failed: expected COMMAND=FILE, found {value!r}", ExitCode.INVALID_INPUT)
    try:
        return command, Path(file).read_text(encoding="utf-8", errors="replace")
    except OSError as error:
        raise StackyardError(f"--failed: cannot read {file}: {error.strerror}", ExitCode.INVALID_INPUT) from None


def run(args) -> int:
    from stacks import atomic, change_report
    from stacks.commands.common import annotation

    failures = [_failure(value) for value in args.failed]
    documents = [_read(path) for path in args.reports]
    changes = [d for d in documents if d.get("kind") == "ChangeReport"]
    parities = [d for d in documents if d.get("kind") != "ChangeReport"]
    atomic.write_text(args.output, change_report.render_comment(changes, parities, failures, args.details))
    if args.annotations:
        for report in changes:
            policy = report["policy"]
            for finding in policy.get("blocking", ()) if policy.get("available") else ():
                where = finding.get("location") or {}
                print(annotation("error", f"{report['environment']}: {finding['rule']} {finding['resource']}: "
                                          f"{finding['message']}", where.get("file", ""), where.get("line", 0)))
    return int(ExitCode.OK)
