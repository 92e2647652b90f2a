"""`stackyard plan ENV [--out DIR]`: the offline plan, written atomically."""

from __future__ import annotations

from pathlib import Path

from stacks.commands.common import add_environment_argument, check_registry_lock, load_spec


def configure(parser) -> None:
    add_environment_argument(parser)
    parser.add_argument("--out", type=Path, default=None, metavar="DIR",
                        help="write DIR/plan.json and DIR/manifests/ (default: print the summary only)")


def run(args) -> int:
    from stacks import plan as offline_plan
    from stacks.cost import render_cost

    spec, spec_file = load_spec(args.environment)
    check_registry_lock(spec, spec_file)
    plan = offline_plan.build(spec, spec_file)
    if args.out is not None:
        offline_plan.write(plan, args.out)
    print(offline_plan.render_summary(plan))
    print()
    print(render_cost(spec))
    if args.out is not None:
        print(f"wrote {args.out / 'plan.json'} and {args.out / 'manifests'}/")
    return 0
