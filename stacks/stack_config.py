"""The stack config (`stacks/Pulumi.<stack>.yaml`) is part of what a stack deploys, so it is checked.

`pulumi up -s prod` runs the program with stack prod's config, and the program
builds the environment that config names. A pull request that edits
`stackyard:environment: dev` into `Pulumi.prod.yaml` would deploy dev's spec to
prod while `stackyard plan prod` and `diff prod` look at prod's: so a stack
must name the environment of its own name, and nothing may point the program
at another spec file (`stackyard:specFile` is the offline plan's own setting).
Every command that loads a named environment, and the program itself, refuse
a stack config that says otherwise.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from stacks.errors import ExitCode, StackyardError

STACKS_DIR = Path(__file__).resolve().parent
PROJECT = "stackyard"
ENVIRONMENT_KEY = f"{PROJECT}:environment"
SPEC_FILE_KEY = f"{PROJECT}:specFile"


def config_file(stack: str, stacks_dir: Path = STACKS_DIR) -> Path:
    return stacks_dir / f"Pulumi.{stack}.yaml"


def problem(stack: str, stacks_dir: Path = STACKS_DIR) -> Optional[str]:
    """Why stack `stack`'s config does not deploy environment `stack`; None when it does (or has no file)."""
    from environments.errors import SpecError
    from environments.located_yaml import load_located
    from environments.loader import display

    path = config_file(stack, stacks_dir)
    if not path.is_file() and not path.is_symlink():
        return None
    shown = display(path)
    if path.is_symlink() or path.resolve().parent != stacks_dir.resolve():
        return f"{shown} is a symbolic link; a stack config must be a file in {display(stacks_dir)}/"
    try:
        document = load_located(str(path), shown)
    except SpecError as error:
        return str(error.problems[0])
    config: Any = document.get("config") if isinstance(document, dict) else None
    if not isinstance(config, dict):
        return f"{shown}: expected a `config:` mapping with {ENVIRONMENT_KEY}: {stack}"
    where = getattr(config, "locations", {})
    if SPEC_FILE_KEY in config:
        location = where.get(SPEC_FILE_KEY)
        return (f"{location or shown}: {SPEC_FILE_KEY} points stack {stack} at another spec file; only the offline "
                f"plan sets it. Remove it: the stack deploys environments/{stack}.yaml")
    named = config.get(ENVIRONMENT_KEY)
    if named != stack:
        location = where.get(ENVIRONMENT_KEY, getattr(config, "location", None))
        found = f"names environment {named!r}" if named is not None else f"has no {ENVIRONMENT_KEY}"
        return (f"{location or shown}: stack {stack}'s config {found}, so `pulumi up -s {stack}` would deploy "
                f"something other than what `stackyard plan {stack}` and `diff {stack}` show; a stack deploys "
                f"the environment of its own name: set {ENVIRONMENT_KEY}: {stack}")
    return None


def check(stack: str) -> None:
    """Stop with exit 2 when stack `stack`'s config does not deploy environment `stack`."""
    found = problem(stack)
    if found:
        raise StackyardError(found, ExitCode.INVALID_INPUT)
