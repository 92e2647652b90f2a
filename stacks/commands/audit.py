"""`stackyard audit ENV` / `stackyard audit --manifests PATH`: the policy rules, offline, as a report.

Exit 3 when a mandatory rule fails (after exemptions), 2 on bad input, else 0.
"""

from __future__ import annotations

import datetime
from pathlib import Path

from stacks.commands.common import check_output, load_spec, read_json
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
    parser.add_argument("--plan", type=Path, metavar="PLAN_JSON",
                        help="with ENV: audit this plan.json of the environment (`stackyard plan ENV --out DIR`) "
                             "instead of planning again; it must be the plan of the current spec")
    parser.add_argument("--as-of", metavar="YYYY-MM-DD", default="",
                        help="judge exemption expiry as of this date (default: today)")


def _as_of(value: str) -> str:
    if not value:
        return ""
    try:
        return datetime.date.fromisoformat(value).isoformat()
    except ValueError:
        raise StackyardError(f"--as-of: expected a date YYYY-MM-DD, found {value!r}", ExitCode.INVALID_INPUT) from None


def _nothing_audited(path, report) -> str:
    """Why an audit of `path` examined nothing: a PASS over no objects would be a pass nobody earned."""
    read = f"{len(report.files)} file(s) read" if report.files else "no .yaml, .yml or .json file found"
    skipped = f"; skipped: {report.skipped[0]}" + (f" and {len(report.skipped) - 1} more" if len(report.skipped) > 1
                                                  else "") if report.skipped else ""
    return (f"--manifests: {path} holds no Kubernetes object ({read}{skipped}); nothing was audited. "
            "To audit a plan, run `stackyard audit ENV` or point --manifests at the manifests/ folder "
            "`stackyard plan ENV --out DIR` writes")


def run(args) -> int:
    from policies import audit
    from policies.reports import render, summary
    from stacks import progress

    as_of = _as_of(args.as_of)
    if (args.environment is None) == (args.manifests is None):
        raise StackyardError("name an environment to audit, or --manifests PATH (not both)", ExitCode.INVALID_INPUT)
    if args.plan is not None and args.environment is None:
        raise StackyardError("--plan applies only with an environment", ExitCode.INVALID_INPUT)
    if args.context and args.manifests is None:
        raise StackyardError("--context applies only with --manifests", ExitCode.INVALID_INPUT)
    if args.manifests is not None:
        if not args.manifests.exists():
            raise StackyardError(f"--manifests: {args.manifests} does not exist", ExitCode.INVALID_INPUT)
        context_spec = load_spec(args.context) if args.context else None
        report = audit.audit_manifests(args.manifests, context_spec, as_of=as_of)
        if not report.resources:
            raise StackyardError(_nothing_audited(args.manifests, report), ExitCode.INVALID_INPUT)
    else:
        if args.output is not None:
            check_output(args.output)
        spec, spec_file = load_spec(args.environment)
        if args.plan is not None:
            plan = _read_plan(args.plan, spec)
        else:
            from stacks import plan as offline_plan

            with progress.phase(f"planning {spec.name}"):
                plan = offline_plan.build(spec, spec_file)
        with progress.phase("evaluating the policy rules"):
            report = audit.audit_plan(spec, _document(spec_file), plan, as_of=as_of, spec_file=spec_file)
    text = render(report, args.format)
    if args.output is not None:
        from stacks import atomic

        atomic.write_text(args.output, text)
        print(f"wrote {args.output}: {summary.verdict(report)}")
    else:
        print(text, end="")
    return int(ExitCode.OK if report.evaluation.passed else ExitCode.POLICY_VIOLATION)


def _document(spec_file: Path):
    from environments import loader

    return loader.load_document(str(spec_file))[0]


def _read_plan(path: Path, spec) -> dict:
    """A plan.json of `spec`: refused when it is not one, or was built from another version of the spec."""
    plan = read_json(path, "--plan")
    if not isinstance(plan, dict) or not isinstance(plan.get("resources"), list) or not all(
            isinstance(r, dict) and all(isinstance(r.get(k), str) for k in ("urn", "type", "name"))
            and isinstance(r.get("inputs"), dict) for r in plan["resources"]):
        raise StackyardError(f"--plan: {path} is not a plan.json (`stackyard plan ENV --out DIR` writes one)",
                             ExitCode.INVALID_INPUT)
    if plan.get("environment") != spec.name or plan.get("specDigest") != spec.digest:
        raise StackyardError(f"--plan: {path} is the plan of {plan.get('environment')!r} at spec "
                             f"{str(plan.get('specDigest'))[:12]}, not of {spec.name!r} at spec {spec.digest[:12]}: "
                             f"plan again with `stackyard plan {spec.name} --out DIR`", ExitCode.INVALID_INPUT)
    return plan
