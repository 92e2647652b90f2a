"""`stackyard plan ENV [--out DIR]`: the offline plan, written atomically."""

from __future__ import annotations

import json
from pathlib import Path

from stacks.commands.common import add_environment_argument, check_registry_lock, load_spec
from stacks.errors import ExitCode, StackyardError


def configure(parser) -> None:
    add_environment_argument(parser)
    parser.add_argument("--out", type=Path, default=None, metavar="DIR",
                        help="write DIR/plan.json and DIR/manifests/ (default: print the summary only)")
    parser.add_argument("--format", choices=("text", "json"), default="text",
                        help="the summary as text tables, or as one JSON document (default: text)")


def run(args) -> int:
    from stacks import plan as offline_plan
    from stacks import progress
    from stacks.cost import render_cost

    if args.out is not None and args.out.exists() and not args.out.is_dir():
        raise StackyardError(f"--out {args.out}: a file, not a folder", ExitCode.INVALID_INPUT)
    spec, spec_file = load_spec(args.environment)
    check_registry_lock(spec, spec_file)
    with progress.phase(f"planning {spec.name}"):
        plan = offline_plan.build(spec, spec_file)
    if args.out is not None:
        offline_plan.write(plan, args.out)
    if args.format == "json":
        from stacks.cost import max_hourly_cost

        document = {**offline_plan.summary_document(plan), "maxHourlyGpuCost": max_hourly_cost(spec),
                    "written": str(args.out / "plan.json") if args.out is not None else None}
        print(json.dumps(document, indent=2))
        return 0
    print(offline_plan.render_summary(plan))
    print()
    print(render_cost(spec))
    if args.out is not None:
        print(f"wrote {args.out / 'plan.json'} and {args.out / 'manifests'}/")
    return 0
