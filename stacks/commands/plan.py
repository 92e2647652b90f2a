"""`stackyard plan ENV [--out DIR]`: the offline plan, written atomically."""

from __future__ import annotations

from pathlib import Path

from stacks.commands.common import add_environment_argument, load_spec
from stacks.errors import ExitCode, StackyardError


def configure(parser) -> None:
    add_environment_argument(parser)
    parser.add_argument("--out", type=Path, default=None, metavar="DIR",
                        help="write DIR/plan.json and DIR/manifests/ (default: print the summary only)")


def run(args) -> int:
    from pipelines.compile import PipelineCompileError
    from stacks import plan as offline_plan

    spec, spec_file = load_spec(args.environment)
    try:
        plan = offline_plan.build(spec, spec_file)
    except PipelineCompileError as error:
        raise StackyardError(f"pipeline does not compile: {error}", ExitCode.INVALID_INPUT) from None
    if args.out is not None:
        offline_plan.write(plan, args.out)
    print(offline_plan.render_summary(plan))
    if args.out is not None:
        print(f"wrote {args.out / 'plan.json'} and {args.out / 'manifests'}/")
    return 0
