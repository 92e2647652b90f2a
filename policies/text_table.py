"""The plain aligned text table every terminal report prints (audit, parity, plan summary, cost, lock).

Here, in the lowest layer that prints one, so that `stacks` and `policies` share it
without `policies` importing `stacks` (docs/architecture.md, "Layers").
"""

from __future__ import annotations

from typing import Any, Iterable, Optional

from environments.safe_text import printable

LAST_COLUMN_AT_LEAST = 30  # below this a wrapped last column is harder to read than a wide line


def terminal_width() -> int:
    """The terminal's width ($COLUMNS first, as shells set it), 120 when there is no terminal."""
    import shutil

    return shutil.get_terminal_size((120, 24)).columns


def table(headers: Iterable[Any], rows: Iterable[Iterable[Any]], width: Optional[int] = None) -> str:
    """Columns padded to their widest cell, a dashed rule under the headers, no trailing spaces.

    With `width`, the last column (a message) wraps at spaces to fit that width:
    it is never cut, and a single word longer than the room is kept whole.
    """
    headers = [printable(h) for h in headers]
    # Cells quote specs, manifests and lock files: one line each, no terminal escape sequences.
    body = [[printable(cell) for cell in row] for row in rows]
    if width is not None and body:
        import textwrap

        lead = sum(max(len(row[i]) for row in [headers, *body]) + 2 for i in range(len(headers) - 1))
        room = max(width - lead, LAST_COLUMN_AT_LEAST)
        wrapped = []
        for row in body:
            pieces = textwrap.wrap(row[-1], room, break_long_words=False, break_on_hyphens=False) or [""]
            wrapped.append(row[:-1] + [pieces[0]])
            wrapped += [[""] * (len(row) - 1) + [piece] for piece in pieces[1:]]
        body = wrapped
    widths = [max(len(row[i]) for row in [headers, *body]) for i in range(len(headers))]
    lines = ["  ".join(cell.ljust(column) for cell, column in zip(row, widths)).rstrip()
             for row in [headers, ["-" * w for w in widths], *body]]
    return "\n".join(lines)
