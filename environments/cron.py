"""Five-field cron expressions, as Kubernetes CronJobs read them.

`cron_problem(expr)` says what is wrong with an expression, or returns None
when it is valid. Standard library only: `stackyard validate` calls it.

Accepted: `minute hour day-of-month month day-of-week`, each field a list of
`*`, `N`, `A-B`, any of those followed by `/STEP`; month and day-of-week also
take names (jan..dec, sun..sat); day-of-week 7 is Sunday. The macros
@yearly, @annually, @monthly, @weekly, @daily, @midnight and @hourly too.
"""

from __future__ import annotations

from typing import Optional

MACROS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")

_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")

# (name, lowest, highest, names that stand for numbers starting at `lowest`)
_FIELDS = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 7, _WEEKDAYS),
)


def _value(text: str, field: str, low: int, high: int, names: tuple[str, ...]) -> tuple[Optional[int], str]:
    lowered = text.lower()
    if lowered in names:
        return low + names.index(lowered), ""
    if not text.isdigit():
        return None, f"{field} {text!r} is not a number" + (f" or a name ({names[0]}..{names[-1]})" if names else "")
    number = int(text)
    if not low <= number <= high:
        return None, f"{field} {number} is out of range {low}-{high}"
    return number, ""


def _field_problem(text: str, field: str, low: int, high: int, names: tuple[str, ...]) -> Optional[str]:
    for item in text.split(","):
        if not item:
            return f"{field} has an empty list item in {text!r}"
        base, slash, step = item.partition("/")
        if slash and (not step.isdigit() or int(step) == 0):
            return f"{field} step {step!r} must be a positive number"
        if base == "*":
            continue
        start, dash, end = base.partition("-")
        first, problem = _value(start, field, low, high, names)
        if problem:
            return problem
        if dash:
            last, problem = _value(end, field, low, high, names)
            if problem:
                return problem
            if first > last:
                return f"{field} range {base!r} runs backwards"
    return None


def cron_problem(expr: str) -> Optional[str]:
    """What is wrong with cron expression `expr`, or None if Kubernetes would accept it."""
    if not isinstance(expr, str) or not expr.strip():
        return "expected a cron expression like '0 * * * *', found an empty value"
    text = expr.strip()
    if text.startswith("@"):
        return None if text.lower() in MACROS else f"unknown cron macro {text!r}; expected one of {list(MACROS)}"
    fields = text.split()
    if len(fields) != len(_FIELDS):
        return (f"expected 5 fields (minute hour day-of-month month day-of-week), found {len(fields)} "
                f"in {text!r}")
    for value, (field, low, high, names) in zip(fields, _FIELDS):
        problem = _field_problem(value, field, low, high, names)
        if problem:
            return f"{problem} in {text!r}"
    return None
