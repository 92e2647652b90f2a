"""`stackyard`: the command line. Start-up stays light: each command's module is
imported only when that command runs, and heavy libraries only inside `run`.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import signal
import sys
import threading
from typing import Optional, Sequence

from environments import __version__
from stacks.errors import ExitCode, StackyardError

# command -> (module under stacks.commands, one-line help). Order is the help order.
COMMANDS: dict[str, tuple[str, str]] = {
    "validate": ("validate", "check an environment spec (schema and cross-references), fast"),
    "versions": ("versions", "the pinned versions and the compatibility rules each was checked against"),
    "lock": ("lock", "resolve the endpoints' models in the MLflow registry into ENV.lock.yaml"),
    "approve": ("approve", "approve a model version in the MLflow registry (who, when, evidence) for production"),
    "plan": ("plan", "build the offline plan: plan.json, manifests and a summary"),
    "preview": ("deploy", "pulumi preview through the Automation API (needs the Pulumi CLI)"),
    "up": ("deploy", "pulumi up through the Automation API (needs the Pulumi CLI)"),
    "audit": ("audit", "check an environment's plan, or Kubernetes manifests, against the policy rules"),
    "policy-config": ("policy_config", "write the CrossGuard policy pack configuration of an environment"),
    "parity": ("parity", "compare two environments against the parity contract (environments/parity.yaml)"),
    "promote": ("promote", "carry the source environment's pinned model and pipeline versions into the target"),
    "diff": ("diff", "what a change does: offline plans of the base commit and the working tree, compared"),
    "review": ("review", "a pull request's offline review: each environment planned once, then its diff, audit "
                         "and parity"),
    "report-preview": ("report_preview", "the change report for the JSON of `pulumi preview --json`"),
    "pr-comment": ("pr_comment", "join the environments' change and parity reports into one pull-request comment"),
    "ci": ("ci", "write CI workflows: `stackyard ci init github`"),
    "rollout": ("rollout", "where each endpoint's rollout stands: `stackyard rollout status ENV [ENDPOINT]`"),
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stackyard",
        description="ML platform as code: environment specs to Pulumi, offline plans, policy and parity.",
        epilog="Exit codes: 0 ok, 1 internal error, 2 invalid input, 3 policy or parity violation, "
               "4 unsafe change blocked, 5 pulumi preview/up failed, 6 changes present (opt-in: diff "
               "--detailed-exitcode, lock --check).")
    parser.add_argument("--version", action="version", version=f"stackyard {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module, help_text) in COMMANDS.items():
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        sub.add_argument("--quiet", action="store_true",
                         help="no progress lines on standard error (they appear only on a terminal anyway)")
        sub.set_defaults(_module=module)
    return parser


# 128 + the signal number, as shells report a command a signal ended.
INTERRUPTED = 128 + 2
TERMINATED = 128 + 15  # SIGTERM: what CI cancellation and `kill` send
STDOUT_CLOSED = 128 + 13


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run one command; its exit code. Ctrl-C anywhere (imports, parsing, the Pulumi mock runtime's
    event loop) ends with 130 and one line, SIGTERM likewise with 143, and a reader that closes standard output early
    (`stackyard plan prod | head`) ends it quietly with 141, the shell's code for SIGPIPE."""
    try:
        with _noting_interrupts():
            return _run(list(sys.argv[1:] if argv is None else argv))
    except KeyboardInterrupt:
        if _received.get("signal") == signal.SIGTERM:
            print("stackyard: terminated", file=sys.stderr)
            return TERMINATED
        print("stackyard: interrupted", file=sys.stderr)
        return INTERRUPTED
    except BrokenPipeError:
        _discard_stdout()
        return STDOUT_CLOSED



# Set by Ctrl-C. Libraries do not all let KeyboardInterrupt through: pulumi_aws's lazy submodule
# import turns one into "module has no attribute", so any error after Ctrl-C counts as the interrupt.
_interrupted = threading.Event()
_received: dict[str, int] = {}  # the signal that set it


@contextlib.contextmanager
def _noting_interrupts():
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield  # SIGINT ignored (a background job) or handled by an embedding program: leave it be
        return

    def interrupt(signum, frame):
        _received["signal"] = signum
        _interrupted.set()
        raise KeyboardInterrupt

    # SIGTERM ends a command the way Ctrl-C does (outputs left whole), with 143 instead of 130.
    handle_term = signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    signal.signal(signal.SIGINT, interrupt)
    if handle_term:
        signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        if handle_term:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _discard_stdout() -> None:
    # Python flushes stdout again at exit; pointing the descriptor at /dev/null keeps that flush
    # from raising a second BrokenPipeError (the recipe in the `signal` module's documentation).
    try:
        descriptor = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return  # not a real file (captured in-process): nothing to flush at exit
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, descriptor)
    os.close(devnull)


def _run(argv: list[str]) -> int:
    parser = _parser()
    # Only the named command's module adds its arguments (before parsing, so `COMMAND --help` lists them).
    command = next((arg for arg in argv if not arg.startswith("-")), None)  # after global options like --debug
    if command in COMMANDS:
        module = importlib.import_module(f"stacks.commands.{COMMANDS[command][0]}")
        module.configure(parser._subparsers._group_actions[0].choices[command])
    args = parser.parse_args(argv)
    from stacks import progress

    progress.set_quiet(args.quiet)
    module = importlib.import_module(f"stacks.commands.{args._module}")
    try:
        return int(module.run(args))
    except StackyardError as error:
        if _interrupted.is_set():
            raise KeyboardInterrupt from None
        print(f"stackyard: {_shown(error)}", file=sys.stderr)
        return int(error.code)
    except BrokenPipeError:
        raise  # not a bug: the reader went away (main ends quietly)
    except Exception as error:  # noqa: BLE001 - the one place that turns bugs into exit 1
        if _interrupted.is_set():
            raise KeyboardInterrupt from None
        if args.debug or os.environ.get("STACKYARD_DEBUG"):
            raise
        print(f"stackyard: internal error: {type(error).__name__}: {_shown(error)} "
              "(run with --debug for the traceback)", file=sys.stderr)
        return int(ExitCode.INTERNAL_ERROR)


def _shown(error: BaseException) -> str:
    """An error as printed: credentials redacted, control characters escaped, each line on its own.

    Messages quote specs, lock files and registry answers, all untrusted; this stderr is what CI logs
    and pull-request comments show."""
    from environments.safe_text import for_message

    return "\n  ".join(for_message(line) for line in str(error).split("\n"))


def entrypoint() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entrypoint()
