"""Which project the commands work on: found from the working directory, as Pulumi finds its project.

The nearest folder at or above the working directory that holds `Pulumi.yaml`
and `environments/`; so any checkout (a second clone, a git worktree, CI) works
with any installation of Stackyard. Outside every project: the installed
package's own checkout.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

PACKAGE_ROOT = Path(__file__).resolve().parent.parent  # the checkout this code is installed from


def repository_root(start: Optional[Path] = None) -> Path:
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "Pulumi.yaml").is_file() and (folder / "environments").is_dir():
            return folder
    return PACKAGE_ROOT


def environments_dir() -> Path:
    """The environments/ folder of the project (repository_root)."""
    return repository_root() / "environments"
