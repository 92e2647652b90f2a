"""`stackyard policy-config ENV`: the CrossGuard pack configuration of an environment.

Pass the file to `pulumi preview|up --policy-pack policies --policy-pack-config FILE`:
it sets each rule's enforcement level and hands the rules the environment's
facts and exemptions, so the pack reaches the verdict `stackyard audit` does.
"""

from __future__ import annotations

import json
from pathlib import Path

from stacks.commands.common import add_environment_argument, load_spec


def configure(parser) -> None:
    add_environment_argument(parser)
    parser.add_argument("--output", type=Path, metavar="FILE",
                        help="write the configuration to FILE (atomically) instead of standard output")


def run(args) -> int:
    from policies.pack_config import pack_config

    spec, spec_file = load_spec(args.environment)
    text = json.dumps(pack_config(spec, spec_file), indent=2, sort_keys=True) + "\n"
    if args.output is not None:
        from stacks import atomic

        atomic.write_text(args.output, text)
        print(f"wrote {args.output}")
    else:
        print(text, end="")
    return 0
