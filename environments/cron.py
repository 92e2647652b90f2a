"""Five-field cron expressions: one validator for every schedule in a spec.

Pipeline schedules, drift checks and feature materialization all take the
classic five fields (minute hour day-of-month month day-of-week), the form the
Kubernetes CronJob and most schedulers accept. `cron_problem` says what is
wrong with an expression, or returns None when it is valid. Standard library
only, so `stackyard validate` stays fast.

Accepted per field: `*`, a value, a range `a-b`, a step on either (`*/15`,
`0-30/5`, `5/10`), and comma-separated lists of those. Months and weekdays
also take three-letter names (`jan`, `mon`); day-of-week 7 is Sunday, as in
Vixie cron. Macros (`@daily`) and the six-field seconds form are rejected:
the spec keeps one form, and each consumer converts it for its scheduler.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()  # names[i] stands for low + i


_FIELDS = (
    _Field("minute", 0, 59),
    _Field("hour", 0, 23),
    _Field("day of month", 1, 31),
    _Field("month", 1, 12, ("jan", "feb", "mar", "apr", "may", "jun",
                            "jul", "aug", "sep", "oct", "nov", "dec")),
    _Field("day of week", 0, 7, ("sun", "mon", "tue", "wed", "thu", "fri", "sat")),
)


def _value(text: str, field: _Field) -> int:
    lowered = text.lower()
    if lowered in field.names:
        return field.low + field.names.index(lowered)
    if not text.isdigit():
        named = f" or a name ({', '.join(field.names)})" if field.names else ""
        raise ValueError(f"expected a number {field.low}-{field.high}{named}, found {text!r}")
    number = int(text)
    if not field.low <= number <= field.high:
        raise ValueError(f"expected {field.low}-{field.high}, found {number}")
    return number


def _check_item(item: str, field: _Field) -> None:
    base, slash, step = item.partition("/")
    if slash:
        if not step.isdigit() or int(step) == 0:
            raise ValueError(f"expected a positive step after '/', found {step!r}")
    if base == "*":
        return
    if not base:
        raise ValueError(f"expected a value, a range or '*' before '/', found {item!r}")
    start, dash, end = base.partition("-")
    first = _value(start, field)
    if dash:
        last = _value(end, field)
        if first > last:
            raise ValueError(f"range {base!r} runs backwards")


def _field_problem(text: str, field: _Field) -> Optional[str]:
    for item in text.split(","):
        if not item:
            return f"{field.name} field {text!r}: empty item in the list"
        try:
            _check_item(item, field)
        except ValueError as error:
            return f"{field.name} field {text!r}: {error}"
    return None


def cron_problem(expr: str) -> Optional[str]:
    """What is wrong with the five-field cron expression `expr`, or None if it is valid."""
    if not isinstance(expr, str):
        return f"expected a cron expression string, found {type(expr).__name__}"
    fields = expr.split()
    if len(fields) != len(_FIELDS):
        return (f"expected 5 fields (minute hour day-of-month month day-of-week), "
                f"found {len(fields)} in {expr!r}")
    for text, field in zip(fields, _FIELDS):
        problem = _field_problem(text, field)
        if problem:
            return problem
    return None
