"""The plain aligned text table every terminal report prints (audit, parity, plan summary, cost, lock).

Here, in the lowest layer that prints one, so that `stacks` and `policies` share it
without `policies` importing `stacks` (docs/architecture.md, "Layers").
"""

from __future__ import annotations

from typing import Any, Iterable


def table(headers: Iterable[Any], rows: Iterable[Iterable[Any]]) -> str:
    """Columns padded to their widest cell, a dashed rule under the headers, no trailing spaces."""
    headers = [str(h) for h in headers]
    body = [[str(cell) for cell in row] for row in rows]
    widths = [max(len(row[i]) for row in [headers, *body]) for i in range(len(headers))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip()
             for row in [headers, ["-" * w for w in widths], *body]]
    return "\n".join(lines)
