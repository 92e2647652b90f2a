"""`stackyard validate ENV...`: schema and semantic checks only; no Pulumi, no heavy imports.

Takes several environments or spec files (a pre-commit hook passes the changed
files) and checks each; exit 2 when any is invalid. A valid spec whose registry
lock is stale or missing is still valid, but says so: `stackyard plan` would
stop on it.
"""

from __future__ import annotations

import json
import sys

from stacks.errors import ExitCode


def configure(parser) -> None:
    parser.add_argument("environments", metavar="ENV", nargs="+",
                        help="environment names under environments/ (dev, staging, prod, local) or spec files")
    parser.add_argument("--format", choices=("text", "json"), default="text",
                        help="text lines, or one JSON document for machines (default: text)")


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _check(environment: str) -> dict:
    from environments import loader
    from environments.errors import SpecError, SpecProblem
    from stacks import registry_lock, spec_loading, stack_config

    spec_file = loader.spec_path(environment)
    try:
        spec = spec_loading.load(environment)
        if spec_file.resolve().parent == loader.ENVIRONMENTS_DIR:
            deployed = stack_config.problem(spec_file.stem)  # what `pulumi up -s <env>` would build
            if deployed:
                raise SpecError([SpecProblem(None, (), deployed)])
    except SpecError as error:
        return {"environment": environment, "file": loader.display(spec_file), "valid": False, "error": error,
                "problems": [{"file": p.location.file if p.location else None,
                              "line": p.location.line if p.location else None,
                              "column": p.location.column if p.location else None,
                              "path": list(p.path), "message": p.message, "text": str(p)} for p in error.problems]}
    lock_problem = None
    try:
        registry_lock.locked_models(spec, spec_file.resolve(), registry_lock.lock_command(spec_file))
    except registry_lock.LockError as error:
        lock_problem = str(error)
    return {"environment": spec.name, "file": spec.source, "valid": True, "problems": [],
            "nodePools": len(spec.node_pools), "endpoints": len(spec.endpoints), "pipelines": len(spec.pipelines),
            "specDigest": spec.digest, "lockProblem": lock_problem}


def run(args) -> int:
    from stacks.commands.common import print_problems

    results = [_check(environment) for environment in args.environments]
    if args.format == "json":
        print(json.dumps({"valid": all(r["valid"] for r in results),
                          "environments": [{k: v for k, v in r.items() if k != "error"} for r in results]}, indent=2))
    for result in results:
        if not result["valid"]:
            print_problems(result["error"].problems)
            print(f"stackyard: {_plural(len(result['problems']), 'problem')} in environment "
                  f"{result['environment']!r}", file=sys.stderr)
            continue
        if result["lockProblem"]:
            print(f"warning: {result['file']}: the spec is valid, but `stackyard plan` would stop: "
                  f"{result['lockProblem']}", file=sys.stderr)
        if args.format == "text":
            print(f"{result['file']}: environment {result['environment']} is valid "
                  f"({_plural(result['nodePools'], 'node pool')}, {_plural(result['endpoints'], 'endpoint')}, "
                  f"{_plural(result['pipelines'], 'pipeline')}; spec {result['specDigest'][:12]})")
    return int(ExitCode.OK if all(r["valid"] for r in results) else ExitCode.INVALID_INPUT)
