"""Find a pipeline's function in its source file without importing it.

The spec checks (is the function there, which parameters does it take) and the
compiler (which line to name in an error) both read a pipeline file this way.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Optional


def pipeline_function(source: Path, function: str) -> tuple[Optional[ast.FunctionDef], Optional[str]]:
    """The top-level `def function` in `source`, or why it cannot be found."""
    try:
        tree = ast.parse(source.read_text(encoding="utf-8"), filename=str(source))
    except SyntaxError as error:
        return None, f"{source.name} does not parse: line {error.lineno}: {error.msg}"
    except (OSError, UnicodeDecodeError, ValueError) as error:
        return None, f"cannot read {source.name}: {error}"
    defined = [node for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))]
    for node in defined:
        if node.name == function:
            return node, None
    names = sorted(node.name for node in defined)
    return None, f"no function {function!r} defined in {source.name}; defined there: {names or 'none'}"
