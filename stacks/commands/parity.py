"""`stackyard parity FROM TO`: every difference between two environments, judged by the parity contract.

Compares the resolved specs and the offline plans of both environments
(policies/parity.py) against environments/parity.yaml and prints one row per
difference, sorted by path. Exit 3 when any difference is forbidden.
"""

from __future__ import annotations

import sys
from pathlib import Path

from stacks.commands.common import load_spec
from stacks.errors import ExitCode, StackyardError

FORMATS = ("table", "json", "markdown")


def configure(parser) -> None:
    parser.add_argument("source", metavar="FROM",
                        help="the environment promotions come from (a name under environments/ or a spec file)")
    parser.add_argument("target", metavar="TO", help="the environment they go to (a name or a spec file)")
    parser.add_argument("--format", choices=FORMATS, default="table", help="output format (default: table)")
    parser.add_argument("--json", type=Path, default=None, metavar="FILE",
                        help="also write the JSON report to FILE (atomically), whatever --format prints")
    parser.add_argument("--contract", type=Path, default=None, metavar="FILE",
                        help="the parity contract (default: environments/parity.yaml)")


def load_contract(path):
    """The parity contract; its problems are printed one a line and end the command with 2."""
    from environments.errors import SpecError
    from environments.parity_contract import load_contract as load

    try:
        return load(path)
    except SpecError as error:
        from environments.safe_text import for_message

        for problem in error.problems:
            print(f"error: {for_message(problem)}", file=sys.stderr)
        raise StackyardError("invalid parity contract", ExitCode.INVALID_INPUT) from None


def run(args) -> int:
    from environments import loader
    from policies import parity
    from stacks import plan as offline_plan
    from stacks import progress

    if args.json is not None:
        from stacks.commands.common import check_output

        check_output(args.json)
    contract = load_contract(args.contract)
    source_spec, source_file = load_spec(args.source)
    target_spec, target_file = load_spec(args.target)
    try:
        pair = contract.pair(source_spec.name, target_spec.name)
    except LookupError as error:
        raise StackyardError(str(error), ExitCode.INVALID_INPUT) from None
    source_document, _ = loader.load_document(args.source)
    target_document, _ = loader.load_document(args.target)
    with progress.phase(f"planning {source_spec.name}"):
        source_plan = offline_plan.build(source_spec, source_file)
    with progress.phase(f"planning {target_spec.name}"):
        target_plan = offline_plan.build(target_spec, target_file)
    report = parity.compare(pair, contract.file, source_document, target_document, source_plan, target_plan)
    if args.json is not None:
        from stacks import atomic

        atomic.write_text(args.json, parity.render_json(report) + "\n")
    print(parity.render(report, args.format))
    return int(ExitCode.POLICY_VIOLATION if report.forbidden else ExitCode.OK)
