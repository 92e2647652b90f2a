"""Where the project is: the checkout whose environments/ and pipelines/ the commands read.

Its own module, below the loader and the checks, because both need it (the loader imports
the checks).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

ENVIRONMENTS_DIR = Path(__file__).resolve().parent  # the installed package's own (schema, shipped specs)


def display(path: Path) -> str:
    """A path as users see it: relative to the working directory where possible."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def repository_root(start: Optional[Path] = None) -> Path:
    """The project the commands work on, found as Pulumi finds its project.

    The nearest folder at or above the working directory that holds
    `Pulumi.yaml` and `environments/`; so any checkout (a second clone, a git
    worktree, CI) works with any installation. Outside every project: the
    installed package's own checkout.
    """
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "Pulumi.yaml").is_file() and (folder / "environments").is_dir():
            return folder
    return ENVIRONMENTS_DIR.parent
