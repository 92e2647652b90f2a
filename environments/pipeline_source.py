"""Find a pipeline's function in its source file without importing it.

The spec checks (is the function there, which parameters does it take) and the
compiler (which line to name in an error) both read a pipeline file this way.
"""

from __future__ import annotations

import ast
import gc
from pathlib import Path
from typing import Optional


def parse_python(source: Path) -> ast.Module:
    """The syntax tree of a Python file, read as text (never imported).

    The garbage collector is paused while the tree is built. On CPython 3.11 before 3.11.8 any error
    inside ast.parse's conversion of the tree leaves its recursion counter off and surfaces as
    "SystemError: AST constructor recursion depth mismatch" (python/cpython#106905); we saw it in
    processes that had planned before, whose garbage (asyncio event loops the Pulumi SDK opened
    and never closed) was being collected, with failing finalizers, during a parse."""
    paused = gc.isenabled()
    gc.disable()
    try:
        return ast.parse(source.read_text(encoding="utf-8"), filename=str(source))
    finally:
        if paused:
            gc.enable()


def pipeline_function(source: Path, function: str) -> tuple[Optional[ast.FunctionDef], Optional[str]]:
    """The top-level `def function` in `source`, or why it cannot be found."""
    try:
        tree = parse_python(source)
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
