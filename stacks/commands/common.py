"""Helpers every command shares: loading an environment and reporting spec errors."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stacks.errors import ExitCode, StackyardError

if TYPE_CHECKING:  # annotations only: the spec's classes are not loaded where no spec is read
    from environments.spec import Spec


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
        print_problems(error.problems)
        count = len(error.problems)
        raise StackyardError(f"{count} problem{'s' if count != 1 else ''} in environment "
                             f"{environment!r}", ExitCode.INVALID_INPUT) from None
    spec_file = loader.spec_path(environment).resolve()
    if spec_file.parent == loader.ENVIRONMENTS_DIR:
        # environments/<stack>.yaml is what stack <stack> deploys only if its stack config says so.
        from stacks import stack_config

        stack_config.check(spec_file.stem)
    return spec, spec_file


def print_problems(problems) -> None:
    """One `error:` line per spec problem; under GitHub Actions also an annotation on the file and line."""
    from environments.safe_text import for_message

    for problem in problems:
        print(f"error: {for_message(problem)}", file=sys.stderr)
    if os.environ.get("GITHUB_ACTIONS") == "true":  # the pull request's files show each problem
        for problem in problems:
            where = problem.location
            print(annotation("error", for_message(problem), where.file if where else "", where.line if where else 0),
                  file=sys.stderr)


def check_registry_lock(spec: Spec, spec_file: Path) -> dict:
    """The endpoints' locked models (endpoint name -> ResolvedModel); stop with one sentence when they
    are not (or no longer) in the lock file."""
    from stacks import registry_lock

    try:
        return registry_lock.locked_models(spec, spec_file, registry_lock.lock_command(spec_file))
    except registry_lock.LockError as error:
        raise StackyardError(str(error), ExitCode.INVALID_INPUT) from None


def annotation(level: str, message: str, file: str = "", line: int = 0) -> str:
    """A GitHub Actions workflow command, escaped as the runner reads it (properties also escape `:` and `,`)."""
    def escape(text: str) -> str:
        return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")

    where = (f" file={escape(file).replace(':', '%3A').replace(',', '%2C')},line={max(line, 1)}"
             if file else "")
    return f"::{level}{where}::{escape(message)}"


def read_json(path: Path, option: str = "") -> Any:
    """The JSON document in the file at path; one sentence naming the file (and the line and column of a
    syntax error) when it cannot be read or is not JSON. `option` ("--plan") leads the sentence when the
    path came from that option."""
    lead = f"{option}: " if option else ""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise StackyardError(f"{lead}cannot read {path}: {getattr(error, 'strerror', None) or error}",
                             ExitCode.INVALID_INPUT) from None
    except json.JSONDecodeError as error:
        raise StackyardError(f"{lead}{path}:{error.lineno}:{error.colno}: not JSON: {error.msg}",
                             ExitCode.INVALID_INPUT) from None


def check_output(path: Path) -> None:
    """Refuse an output file that cannot be written, before any slow work starts.

    A missing folder is fine (the atomic writer creates it); a folder in the
    file's place, or a file in the place of one of its folders, is not.
    """
    if path.is_dir():
        raise StackyardError(f"cannot write {path}: it is a folder; name a file", ExitCode.INVALID_INPUT)
    for folder in path.parents:
        if folder.exists():
            if not folder.is_dir():
                raise StackyardError(f"cannot write {path}: {folder} is a file, not a folder", ExitCode.INVALID_INPUT)
            break
