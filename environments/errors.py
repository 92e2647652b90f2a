"""Located problems in environment specs, and the error that carries them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Optional, Sequence, Union

PathPart = Union[str, int]


@dataclass(frozen=True)
class Location:
    file: str
    line: int  # 1-based
    column: int  # 1-based

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


def json_path(path: Sequence[PathPart]) -> str:
    text = "$"
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


@dataclass(frozen=True)
class SpecProblem:
    """One thing wrong with a spec: where, which field, and what to do."""

    location: Optional[Location]
    path: tuple[PathPart, ...]
    message: str

    def __str__(self) -> str:
        where = str(self.location) if self.location else "<spec>"
        return f"{where}: {json_path(self.path)}: {self.message}"


class SpecError(Exception):
    """Raised with every problem found; the CLI prints one line each and exits 2."""

    def __init__(self, problems: Iterable[SpecProblem]):
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def describe_value(value: object) -> str:
    """How a found value reads in a message: its YAML type and a short excerpt."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, int):
        return f"integer {value}"
    if isinstance(value, float):
        return f"number {value}"
    if isinstance(value, str):
        excerpt = value if len(value) <= 40 else value[:37] + "..."
        return f"string {excerpt!r}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__
