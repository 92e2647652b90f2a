"""Atomic file output: a reader sees the previous file or the new one, never half of one."""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from pathlib import Path
from typing import Iterator

from stacks.errors import ExitCode, StackyardError


def _fail(path: Path, error: OSError) -> StackyardError:
    reason = error.strerror or str(error)
    return StackyardError(f"cannot write {path}: {reason}", ExitCode.INVALID_INPUT)


def write_text(path: Path, text: str) -> None:
    """Write `text` to a temporary file beside `path`, fsync it, then rename over `path`."""
    with staged_text(path, text):
        pass


@contextlib.contextmanager
def staged_text(path: Path, text: str) -> Iterator[None]:
    """Write and fsync `text` beside `path` now (so a full disk shows before anything is replaced);
    rename it over `path` when the block ends without an error, else remove it.

    For outputs of several parts: stage the file, replace the other parts inside the block, and
    the file is replaced only if they were."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as error:
        raise _fail(path, error) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if path.exists():
            # mkstemp creates 0600; a rewritten file (a spec under review) keeps its own mode.
            os.chmod(temporary, stat.S_IMODE(path.stat().st_mode))
        yield
        os.replace(temporary, path)
    except BaseException as error:
        Path(temporary).unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise _fail(path, error) from None
        raise


def replace_directory(path: Path, files: dict[str, str]) -> None:
    """Write `files` (relative path -> text) into a fresh directory that replaces `path` whole."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    except OSError as error:
        raise _fail(path, error) from None
    try:
        for relative, text in files.items():
            target = staging / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        previous = path.with_name(f".{path.name}.previous")
        if path.exists():
            shutil.rmtree(previous, ignore_errors=True)
            os.replace(path, previous)
        os.replace(staging, path)
        shutil.rmtree(previous, ignore_errors=True)
    except BaseException as error:
        shutil.rmtree(staging, ignore_errors=True)
        if isinstance(error, OSError):
            raise _fail(path, error) from None
        raise
