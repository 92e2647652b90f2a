"""`stackyard preview|up ENV`: thin wrappers over the Pulumi Automation API.

For users who have the Pulumi CLI. State goes to a local file backend in
`.pulumi-state/` unless `--backend` or PULUMI_BACKEND_URL says otherwise, so
nothing needs Pulumi Cloud.
"""

from __future__ import annotations

import os
import shutil
import sys

from stacks.commands.common import add_environment_argument, check_registry_lock, load_spec
from stacks.errors import ExitCode, StackyardError

INSTALL_HINT = ("the Pulumi CLI is not installed: install it (https://www.pulumi.com/docs/install/) "
                "and make sure `pulumi` is on PATH, or use `stackyard plan` to work offline")


def configure(parser) -> None:
    add_environment_argument(parser)
    parser.add_argument("--backend", default=None, metavar="URL",
                        help="Pulumi state backend (default: $PULUMI_BACKEND_URL or file://.pulumi-state)")
    parser.add_argument("--policy-pack", default=None, metavar="DIR",
                        help="run a CrossGuard policy pack (e.g. policies) during the operation")
    parser.add_argument("--yes", action="store_true", help="up: do not ask for confirmation")


def run(args) -> int:
    spec, spec_file = load_spec(args.environment)
    check_registry_lock(spec, spec_file)
    if shutil.which("pulumi") is None:
        raise StackyardError(INSTALL_HINT, ExitCode.INVALID_INPUT)
    from environments.loader import repository_root

    root = repository_root()
    backend = args.backend or os.environ.get("PULUMI_BACKEND_URL") or f"file://{root / '.pulumi-state'}"
    (root / ".pulumi-state").mkdir(exist_ok=True)
    try:
        from pulumi import automation as auto

        workspace = auto.LocalWorkspaceOptions(work_dir=str(root), env_vars={"PULUMI_BACKEND_URL": backend})
        stack = auto.create_or_select_stack(stack_name=spec.name, work_dir=str(root), opts=workspace)
        stack.set_config("stackyard:environment", auto.ConfigValue(value=spec.name))
        policy_packs = [args.policy_pack] if args.policy_pack else None
        if args.command == "preview":
            stack.preview(on_output=print, policy_packs=policy_packs)
        else:
            if not args.yes and sys.stdin.isatty():
                answer = input(f"Deploy environment {spec.name} with backend {backend}? [y/N] ")
                if answer.strip().lower() not in ("y", "yes"):
                    print("cancelled")
                    return 0
            stack.up(on_output=print, policy_packs=policy_packs)
    except FileNotFoundError:
        raise StackyardError(INSTALL_HINT, ExitCode.INVALID_INPUT) from None
    except auto.errors.CommandError as error:
        raise StackyardError(f"pulumi {args.command} failed: {str(error).strip().splitlines()[-1]}",
                             ExitCode.INTERNAL_ERROR) from None
    return 0
