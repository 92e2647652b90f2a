"""`stackyard validate ENV`: schema and semantic checks only; no Pulumi, no heavy imports."""

from __future__ import annotations

from stacks.commands.common import add_environment_argument, load_spec


def configure(parser) -> None:
    add_environment_argument(parser)


def run(args) -> int:
    spec, _path = load_spec(args.environment)
    print(f"{spec.source}: environment {spec.name} is valid "
          f"({len(spec.node_pools)} node pools, {len(spec.endpoints)} endpoints, "
          f"{len(spec.pipelines)} pipelines; spec {spec.digest[:12]})")
    return 0
