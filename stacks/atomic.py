"""Atomic file output: a reader sees the previous file or the new one, never half of one."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import tempfile
from pathlib import Path
from typing import Iterable, Iterator

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
        # mkstemp creates 0600; a rewritten file (a spec under review) keeps its own mode, a new one
        # gets what a plain write would give it (the umask), so uploaders and other users can read it.
        os.chmod(temporary, stat.S_IMODE(path.stat().st_mode) if path.exists() else 0o666 & ~_umask())
        yield
        os.replace(temporary, path)
    except BaseException as error:
        Path(temporary).unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise _fail(path, error) from None
        raise


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_STAGING_MARK = ".stackyard-"


def _exchange(first: Path, second: Path) -> bool:
    """Swap two paths in one step (Linux renameat2 RENAME_EXCHANGE); False where the system cannot."""
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_cwd, rename_exchange = -100, 2
    if renameat2(at_cwd, os.fsencode(first), at_cwd, os.fsencode(second), rename_exchange) == 0:
        return True
    error = ctypes.get_errno()
    if error in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(error, os.strerror(error), str(second))


def remove_leftovers(path: Path) -> None:
    """Staging and retired copies of `path` an earlier run could not remove (it was killed)."""
    for leftover in Path(path).parent.glob(f".{Path(path).name}{_STAGING_MARK}*"):
        shutil.rmtree(leftover, ignore_errors=True)


def replace_directory(path: Path, files: dict[str, str], synced: Iterable[str] = ()) -> None:
    """Write `files` (relative path -> text) into a fresh sibling directory that replaces `path` whole.

    The swap is one atomic exchange of the two directories, so a reader (or a crash, a Ctrl-C, a
    SIGTERM, a SIGKILL) at any instant sees the whole old directory or the whole new one. The
    retired copy is removed afterwards; the files named in `synced` are flushed to disk before the
    swap (a full disk shows then, with the old directory untouched). A copy a kill leaves behind is a
    hidden sibling that the next write removes, never a part of `path`. Ctrl-C and SIGTERM are held back during the swap and
    clean-up and take effect right after."""
    path = Path(path).absolute()
    synced = set(synced)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_leftovers(path)
        staging = Path(tempfile.mkdtemp(prefix=f".{path.name}{_STAGING_MARK}", dir=path.parent))
        os.chmod(staging, stat.S_IMODE(path.stat().st_mode) if path.is_dir() else 0o777 & ~_umask())
    except OSError as error:
        raise _fail(path, error) from None
    try:
        for relative, data in files.items():
            target = staging / relative
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                if relative in synced:
                    with open(target, "w", encoding="utf-8", newline="\n") as handle:
                        handle.write(data)
                        handle.flush()
                        os.fsync(handle.fileno())
                else:
                    target.write_text(data, encoding="utf-8")
            except OSError as error:
                raise _fail(path / relative, error) from None
        with _signals_held():
            if path.is_dir() and not path.is_symlink() and _exchange(staging, path):
                shutil.rmtree(staging, ignore_errors=True)  # now the old directory
            elif path.exists() or path.is_symlink():
                retired = path.with_name(f".{path.name}{_STAGING_MARK}retired")
                shutil.rmtree(retired, ignore_errors=True)
                os.replace(path, retired)
                os.replace(staging, path)
                shutil.rmtree(retired, ignore_errors=True)
            else:
                os.replace(staging, path)
    except BaseException as error:
        shutil.rmtree(staging, ignore_errors=True)
        if isinstance(error, OSError):
            raise _fail(path, error) from None
        raise


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Delay SIGINT and SIGTERM until the block ends (the main thread only; elsewhere they are not ours)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
