"""`stackyard`: the command line. Start-up stays light: each command's module is
imported only when that command runs, and heavy libraries only inside `run`.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Optional, Sequence

from stacks import __version__
from stacks.errors import ExitCode, StackyardError

# command -> (module under stacks.commands, one-line help). Order is the help order.
COMMANDS: dict[str, tuple[str, str]] = {
    "validate": ("validate", "check an environment spec (schema and cross-references), fast"),
    "lock": ("lock", "resolve the endpoints' models in the MLflow registry into ENV.lock.yaml"),
    "plan": ("plan", "build the offline plan: plan.json, manifests and a summary"),
    "preview": ("deploy", "pulumi preview through the Automation API (needs the Pulumi CLI)"),
    "up": ("deploy", "pulumi up through the Automation API (needs the Pulumi CLI)"),
    "audit": ("audit", "check an environment's plan, or Kubernetes manifests, against the policy rules"),
    "policy-config": ("policy_config", "write the CrossGuard policy pack configuration of an environment"),
    "parity": ("parity", "compare two environments against the parity contract (environments/parity.yaml)"),
    "promote": ("promote", "carry the source environment's pinned model and pipeline versions into the target"),
    "diff": ("diff", "what a change does: offline plans of the base commit and the working tree, compared"),
    "report-preview": ("report_preview", "the change report for the JSON of `pulumi preview --json`"),
    "ci": ("ci", "write CI workflows: `stackyard ci init github`"),
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stackyard",
        description="ML platform as code: environment specs to Pulumi, offline plans, policy and parity.",
        epilog="Exit codes: 0 ok, 1 internal error, 2 invalid input, 3 policy or parity violation, "
               "4 unsafe change blocked.")
    parser.add_argument("--version", action="version", version=f"stackyard {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module, help_text) in COMMANDS.items():
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(_module=module)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _parser()
    # Only the named command's module adds its arguments (before parsing, so `COMMAND --help` lists them).
    command = next((arg for arg in argv if not arg.startswith("-")), None)  # after global options like --debug
    if command in COMMANDS:
        module = importlib.import_module(f"stacks.commands.{COMMANDS[command][0]}")
        module.configure(parser._subparsers._group_actions[0].choices[command])
    args = parser.parse_args(argv)
    module = importlib.import_module(f"stacks.commands.{args._module}")
    try:
        return int(module.run(args))
    except StackyardError as error:
        print(f"stackyard: {error}", file=sys.stderr)
        return int(error.code)
    except KeyboardInterrupt:
        print("stackyard: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # noqa: BLE001 - the one place that turns bugs into exit 1
        if args.debug or os.environ.get("STACKYARD_DEBUG"):
            raise
        print(f"stackyard: internal error: {type(error).__name__}: {error} "
              "(run with --debug for the traceback)", file=sys.stderr)
        return int(ExitCode.INTERNAL_ERROR)


def entrypoint() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entrypoint()
