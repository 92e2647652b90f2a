"""A local cache of derived results, keyed by everything they are derived from.

A key is a JSON document naming every input of the result (tool versions,
file contents by digest, a git tree id ...). An entry is stored under the
sha256 of the key and holds the key itself; it is served only when the stored
key equals the key asked for, so an entry can never stand in for another
input. The cache only saves time: a missing, unreadable or corrupt entry, or
an unwritable directory, means the result is computed again, never an error.

Where: $STACKYARD_CACHE_DIR, else $XDG_CACHE_HOME/stackyard, else
~/.cache/stackyard. STACKYARD_CACHE_DIR=off turns the cache off.

It lives in the bottom layer (standard library only) because the pipeline
compiler (pipelines/) and the base plans of a diff (stacks/) both use it.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, Mapping, Optional

OFF = "off"


def directory() -> Optional[Path]:
    """The cache directory, or None when the cache is turned off."""
    configured = os.environ.get("STACKYARD_CACHE_DIR")
    if configured:
        return None if configured == OFF else Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "stackyard"


def _entry_path(kind: str, key: Mapping[str, Any]) -> Optional[Path]:
    root = directory()
    if root is None:
        return None
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode("utf-8")).hexdigest()
    return root / kind / f"{digest}.json"


def load(kind: str, key: Mapping[str, Any]) -> Optional[Any]:
    """The value stored for exactly `key`, or None."""
    path = _entry_path(kind, key)
    if path is None:
        return None
    try:
        entry = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(entry, dict) or entry.get("key") != json.loads(json.dumps(key)) or "value" not in entry:
        return None
    return entry["value"]


def store(kind: str, key: Mapping[str, Any], value: Any) -> None:
    """Keep `value` for `key`: written beside its place and renamed into it, so a concurrent reader
    sees a whole entry or none (no fsync: an entry lost in a crash is only computed again)."""
    path = _entry_path(kind, key)
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump({"key": key, "value": value}, handle, sort_keys=True)
            os.replace(temporary, path)
        except BaseException:
            os.unlink(temporary)
            raise
    except OSError:
        pass  # an unwritable cache costs the next run time, not this one its result


def file_digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def installation_digest() -> str:
    """A digest of the interpreter and of every installed distribution's name and version (the
    names of the `.dist-info` folders on sys.path): what a result computed by installed code
    depends on besides the repository."""
    installed = set()
    for entry in sys.path:
        try:
            installed.update(name for name in os.listdir(entry or ".") if name.endswith((".dist-info", ".egg-info")))
        except OSError:
            continue  # a zip file or a folder that is gone: nothing installed there
    text = "\n".join([sys.version, *sorted(installed)])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
