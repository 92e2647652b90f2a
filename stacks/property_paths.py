"""Pulumi property paths: `spec.template.metadata.labels["app.kubernetes.io/name"]`, `tags[0]`.

The same syntax `pulumi preview --json` uses in `detailedDiff` and
`replaceReasons`, so offline diffs and real previews name properties alike.
A `[*]` part (only in rule tables) stands for every element of a list.
"""

from __future__ import annotations

import json
import re
from typing import Any, Iterator, Sequence, Union

Part = Union[str, int]
WILDCARD = "*"

_IDENTIFIER = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*\Z")
_TOKEN = re.compile(r'\.?([A-Za-z_$][A-Za-z0-9_$-]*)|\[(\d+|\*)\]|\["((?:[^"\\]|\\.)*)"\]')


class ParseError(ValueError):
    """Text that is not a property path."""


def format_path(parts: Sequence[Part]) -> str:
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part == WILDCARD:
            text += "[*]"
        elif _IDENTIFIER.match(part):
            text += f".{part}" if text else part
        else:
            text += f"[{json.dumps(part)}]"
    return text


def parse_path(text: str) -> tuple[Part, ...]:
    """The parts of a property path; raises ParseError on text that is not one."""
    parts: list[Part] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match or (match.group(0).startswith(".") and not parts):
            raise ParseError(f"not a property path: {text!r} (at column {position + 1})")
        name, index, quoted = match.groups()
        if name is not None:
            parts.append(name)
        elif index is not None:
            parts.append(WILDCARD if index == WILDCARD else int(index))
        else:
            parts.append(json.loads(f'"{quoted}"'))
        position = match.end()
    if not parts:
        raise ParseError("empty property path")
    return tuple(parts)


_MISSING = object()


def value_at(document: Any, parts: Sequence[Part]) -> Any:
    """The value at a concrete path, or None where the path does not exist."""
    current = document
    for part in parts:
        if isinstance(part, int) and isinstance(current, list) and 0 <= part < len(current):
            current = current[part]
        elif isinstance(part, str) and isinstance(current, dict) and part in current:
            current = current[part]
        else:
            return None
    return current


def values_at(document: Any, parts: Sequence[Part]) -> list[tuple[tuple[Part, ...], Any]]:
    """Every (concrete path, value) a path with wildcards reaches; null values count as absent."""
    found: list[tuple[tuple[Part, ...], Any]] = []

    def walk(node: Any, remaining: Sequence[Part], prefix: tuple[Part, ...]) -> None:
        if not remaining:
            if node is not None:
                found.append((prefix, node))
            return
        head, rest = remaining[0], remaining[1:]
        if head == WILDCARD and isinstance(node, list):
            for index, item in enumerate(node):
                walk(item, rest, prefix + (index,))
        elif isinstance(head, int) and isinstance(node, list) and 0 <= head < len(node):
            walk(node[head], rest, prefix + (head,))
        elif isinstance(head, str) and head != WILDCARD and isinstance(node, dict) and head in node:
            walk(node[head], rest, prefix + (head,))

    walk(document, tuple(parts), ())
    return found


def overlaps(pattern: Sequence[Part], concrete: Sequence[Part]) -> bool:
    """True when one path lies inside the other (a wildcard matches any list index)."""
    for left, right in zip(pattern, concrete):
        if left == WILDCARD and isinstance(right, int):
            continue
        if left != right:
            return False
    return True


def leaf_changes(old: Any, new: Any, prefix: tuple[Part, ...] = ()) -> Iterator[tuple[tuple[Part, ...], str, Any, Any]]:
    """(path, kind, old, new) for every difference, kind add | delete | update.

    Objects are compared key by key and lists element by element, the way
    Pulumi's detailed diff reports them; anything else is one update.
    """
    if old == new:
        return
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new)):
            before, after = old.get(key, _MISSING), new.get(key, _MISSING)
            if before is _MISSING or before is None:
                if after is not _MISSING and after is not None:
                    yield prefix + (key,), "add", None, after
            elif after is _MISSING or after is None:
                yield prefix + (key,), "delete", before, None
            else:
                yield from leaf_changes(before, after, prefix + (key,))
        return
    if isinstance(old, list) and isinstance(new, list):
        for index in range(max(len(old), len(new))):
            if index >= len(new):
                yield prefix + (index,), "delete", old[index], None
            elif index >= len(old):
                yield prefix + (index,), "add", None, new[index]
            else:
                yield from leaf_changes(old[index], new[index], prefix + (index,))
        return
    yield prefix, "update", old, new
