"""Helpers every command shares: loading an environment and reporting spec errors."""

from __future__ import annotations

import sys
from pathlib import Path

from environments.spec import Spec
from stacks.errors import ExitCode, StackyardError


def add_environment_argument(parser) -> None:
    parser.add_argument("environment", metavar="ENV",
                        help="an environment name under environments/ (dev, staging, prod, local) "
                             "or the path of a spec file")


def load_spec(environment: str) -> tuple[Spec, Path]:
    """Load and check an environment; every spec problem is printed and ends the command with 2."""
    from environments import loader
    from environments.errors import SpecError
    from stacks import spec_loading

    try:
        spec = spec_loading.load(environment)
    except SpecError as error:
        for problem in error.problems:
            print(f"error: {problem}", file=sys.stderr)
        count = len(error.problems)
        raise StackyardError(f"{count} problem{'s' if count != 1 else ''} in environment "
                             f"{environment!r}", ExitCode.INVALID_INPUT) from None
    return spec, loader.spec_path(environment).resolve()


def check_registry_lock(spec: Spec, spec_file: Path) -> dict:
    """The endpoints' locked models (endpoint name -> ResolvedModel); stop with one sentence when they
    are not (or no longer) in the lock file."""
    from stacks import registry_lock

    try:
        return registry_lock.locked_models(spec, spec_file, registry_lock.lock_command(spec_file))
    except registry_lock.LockError as error:
        raise StackyardError(str(error), ExitCode.INVALID_INPUT) from None
