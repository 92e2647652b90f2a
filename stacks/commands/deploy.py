"""`stackyard preview|up ENV`: thin wrappers over the Pulumi Automation API.

For users who have the Pulumi CLI. State goes to a local file backend in
`.pulumi-state/` unless `--backend` or PULUMI_BACKEND_URL says otherwise, so
nothing needs Pulumi Cloud.

With `--policy-pack DIR` the pack runs with the environment's configuration
(`stackyard policy-config ENV`: levels, production flag, exemptions, the
registry lock), so it reaches the verdict `stackyard audit` does. `up` shows
the preview before it asks, and refuses to run unattended (no terminal on
standard input) without `--yes`, as `pulumi up` does. A failed deploy prints
Pulumi's whole error output and ends with exit 5.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Iterator

from stacks.commands.common import add_environment_argument, check_registry_lock, load_spec
from stacks.errors import ExitCode, StackyardError

INSTALL_HINT = ("the Pulumi CLI is not installed: install it (https://www.pulumi.com/docs/install/) "
                "and make sure `pulumi` is on PATH, or use `stackyard plan` to work offline")
UNATTENDED = ("`stackyard up` asks before it deploys, and standard input is not a terminal: pass --yes to "
              "deploy without asking (as in CI)")


def configure(parser) -> None:
    add_environment_argument(parser)
    parser.add_argument("--backend", default=None, metavar="URL",
                        help="Pulumi state backend (default: $PULUMI_BACKEND_URL or file://.pulumi-state)")
    parser.add_argument("--policy-pack", default=None, metavar="DIR",
                        help="run a CrossGuard policy pack (e.g. policies) during the operation, with the "
                             "environment's configuration from `stackyard policy-config`")
    parser.add_argument("--yes", action="store_true",
                        help="up: deploy without showing the preview and asking (needed without a terminal)")


@contextlib.contextmanager
def policy_pack_config(spec, spec_file: Path) -> Iterator[str]:
    """The pack configuration of the environment, in a temporary file for `--policy-pack-config`."""
    from policies.pack_config import pack_config

    with tempfile.TemporaryDirectory(prefix="stackyard-policy-") as folder:
        path = Path(folder) / f"policy-config-{spec.name}.json"
        path.write_text(json.dumps(pack_config(spec, spec_file), indent=2, sort_keys=True) + "\n", encoding="utf-8")
        yield str(path)


def _confirm(question: str) -> bool:
    return input(question).strip().lower() in ("y", "yes")


def run(args) -> int:
    if args.command == "up" and not args.yes and not sys.stdin.isatty():
        raise StackyardError(UNATTENDED, ExitCode.INVALID_INPUT)
    spec, spec_file = load_spec(args.environment)
    check_registry_lock(spec, spec_file)
    if shutil.which("pulumi") is None:
        raise StackyardError(INSTALL_HINT, ExitCode.INVALID_INPUT)
    from environments.loader import repository_root

    root = repository_root()
    backend = args.backend or os.environ.get("PULUMI_BACKEND_URL") or f"file://{root / '.pulumi-state'}"
    (root / ".pulumi-state").mkdir(exist_ok=True)
    with contextlib.ExitStack() as stack_of_files:
        policy: dict = {}
        if args.policy_pack:
            config = stack_of_files.enter_context(policy_pack_config(spec, spec_file))
            policy = {"policy_packs": [args.policy_pack], "policy_pack_configs": [config]}
        return _operate(args, spec, root, backend, policy)


def _operate(args, spec, root: Path, backend: str, policy: dict) -> int:
    try:
        from pulumi import automation as auto

        workspace = auto.LocalWorkspaceOptions(work_dir=str(root), env_vars={"PULUMI_BACKEND_URL": backend})
        stack = auto.create_or_select_stack(stack_name=spec.name, work_dir=str(root), opts=workspace)
        stack.set_config("stackyard:environment", auto.ConfigValue(value=spec.name))
        operation = "preview"
        if args.command == "preview" or not args.yes:
            stack.preview(on_output=print, **policy)
        if args.command == "up":
            if not args.yes and not _confirm(f"Deploy environment {spec.name} with backend {backend}? [y/N] "):
                print("cancelled")
                return int(ExitCode.OK)
            operation = "up"
            stack.up(on_output=print, **policy)
    except FileNotFoundError:
        raise StackyardError(INSTALL_HINT, ExitCode.INVALID_INPUT) from None
    except auto.errors.CommandError as error:
        raise StackyardError(_failure(operation, spec.name, error), ExitCode.DEPLOY_FAILED) from None
    return int(ExitCode.OK)


def _failure(operation: str, environment: str, error: Exception) -> str:
    """Pulumi's own account of a failed operation: all of its error output, not one line of it."""
    text = str(error).strip()  # CommandResult: " code: N\n stdout: ...\n stderr: ..."
    stderr = text.partition(" stderr: ")[2].strip()
    return f"pulumi {operation} of {environment} failed (its output is above):\n{stderr or text}"
