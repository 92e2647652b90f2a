"""Signs of life for slow commands: each phase and its elapsed time on standard error.

Only on a terminal, and not with `--quiet`: piped output, CI logs and tests
stay exactly as they were. Standard output is never touched.
"""

from __future__ import annotations

import contextlib
import sys
import time
from typing import Iterator

_quiet = False


def set_quiet(quiet: bool) -> None:
    global _quiet
    _quiet = quiet


@contextlib.contextmanager
def phase(text: str) -> Iterator[None]:
    """`stackyard: planning prod… 6.2 s` around a slow step."""
    stream = sys.stderr
    if _quiet or not stream.isatty():
        yield
        return
    started = time.monotonic()
    stream.write(f"stackyard: {text}…")
    stream.flush()
    try:
        yield
    except BaseException:
        stream.write("\n")
        raise
    stream.write(f" {time.monotonic() - started:.1f} s\n")
    stream.flush()
