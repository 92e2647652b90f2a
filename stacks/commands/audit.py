"""`stackyard audit ENV` / `stackyard audit --manifests PATH`: the policy rules, offline, as a report.

Exit 3 when a mandatory rule fails (after exemptions), 2 on bad input, else 0.
"""

from __future__ import annotations

import datetime
from pathlib import Path

from stacks.commands.common import load_spec
from stacks.errors import ExitCode, StackyardError

FORMAT_NAMES = ("table", "json", "sarif", "junit", "html")


def configure(parser) -> None:
    parser.add_argument("environment", metavar="ENV", nargs="?",
                        help="audit the offline plan of this environment (dev, staging, prod, local or a spec file)")
    parser.add_argument("--manifests", type=Path, metavar="PATH",
                        help="audit Kubernetes YAML/JSON files instead: a file or a directory (recursively)")
    parser.add_argument("--context", metavar="ENV",
                        help="with --manifests: apply this environment's facts, enforcement levels and exemptions")
    parser.add_argument("--format", choices=FORMAT_NAMES, default="table",
                        help="report format (default: table)")
    parser.add_argument("--output", type=Path, metavar="FILE",
                        help="write the report to FILE (atomically) instead of standard output")
    parser.add_argument("--as-of", metavar="YYYY-MM-DD", default="",
                        help="judge exemption expiry as of this date (default: today)")


def _as_of(value: str) -> str:
    if not value:
        return ""
    try:
        return datetime.date.fromisoformat(value).isoformat()
    except ValueError:
        raise StackyardError(f"--as-of: expected a date YYYY-MM-DD, found {value!r}", ExitCode.INVALID_INPUT) from None


def run(args) -> int:
    from policies import audit
    from policies.reports import render, summary

    as_of = _as_of(args.as_of)
    if (args.environment is None) == (args.manifests is None):
        raise StackyardError("name an environment to audit, or --manifests PATH (not both)", ExitCode.INVALID_INPUT)
    if args.context and args.manifests is None:
        raise StackyardError("--context applies only with --manifests", ExitCode.INVALID_INPUT)
    if args.manifests is not None:
        if not args.manifests.exists():
            raise StackyardError(f"--manifests: {args.manifests} does not exist", ExitCode.INVALID_INPUT)
        context_spec = load_spec(args.context) if args.context else None
        report = audit.audit_manifests(args.manifests, context_spec, as_of=as_of)
    else:
        from environments import loader
        from stacks import plan as offline_plan

        spec, spec_file = load_spec(args.environment)
        document, _path = loader.load_document(str(spec_file))
        report = audit.audit_plan(spec, document, offline_plan.build(spec, spec_file), as_of=as_of,
                                  spec_file=spec_file)
    text = render(report, args.format)
    if args.output is not None:
        from stacks import atomic

        atomic.write_text(args.output, text)
        print(f"wrote {args.output}: {summary.verdict(report)}")
    else:
        print(text, end="")
    return int(ExitCode.OK if report.evaluation.passed else ExitCode.POLICY_VIOLATION)
