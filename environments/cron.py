"""Five-field cron expressions: one validator for every schedule in a spec.

Pipeline schedules, drift checks and feature materialization all take the
classic five fields (minute hour day-of-month month day-of-week), the form the
Kubernetes CronJob and most schedulers accept. `cron_problem` says what is
wrong with an expression, or returns None when it is valid. `longest_gap`
says how long a valid schedule may go between two runs: freshness alerts on
feature materialization and drift checks derive their thresholds from it, so
a schedule change in the spec moves the alert with it. Standard library
only, so `stackyard validate` stays fast.

Accepted per field: `*`, a value, a range `a-b`, a step on either (`*/15`,
`0-30/5`, `5/10`), and comma-separated lists of those. Months and weekdays
also take three-letter names (`jan`, `mon`); day-of-week 7 is Sunday, as in
Vixie cron. Macros (`@daily`) and the six-field seconds form are rejected:
the spec keeps one form, and each consumer converts it for its scheduler.
"""

from __future__ import annotations

import datetime
import functools
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


class CronError(ValueError):
    """A schedule that is invalid, or that never runs twice."""


def _expand(text: str, field: _Field) -> set[int]:
    """The values a valid field matches."""
    values: set[int] = set()
    for item in text.split(","):
        base, slash, step = item.partition("/")
        if base == "*":
            first, last = field.low, field.high
        else:
            start, dash, end = base.partition("-")
            first = _value(start, field)
            last = _value(end, field) if dash else (field.high if slash else first)
        values.update(range(first, last + 1, int(step) if slash else 1))
    return values


# Long enough to hold every weekday/leap-year combination a schedule's longest gap
# can depend on (a "29 February" schedule runs every four years).
_HORIZON_START = datetime.date(2024, 1, 1)
_HORIZON_YEARS = 8


# Cached: it walks eight years of days, and the spec checks and every drift alert ask it
# again for the same few schedules (a large environment shares them across endpoints).
@functools.lru_cache(maxsize=1024)
def longest_gap(expr: str) -> datetime.timedelta:
    """The longest time between two consecutive runs of the schedule; CronError if it has none."""
    problem = cron_problem(expr)
    if problem:
        raise CronError(problem)
    texts = expr.split()
    minutes, hours, days, months, weekdays = (_expand(text, field) for text, field in zip(texts, _FIELDS))
    weekdays = {day % 7 for day in weekdays}  # 7 is Sunday too
    # Cron's rule: when both day fields are restricted, a day matches if either does.
    either_day = not texts[2].startswith("*") and not texts[4].startswith("*")

    def runs_on(day: datetime.date) -> bool:
        in_month, in_week = day.day in days, day.isoweekday() % 7 in weekdays
        return day.month in months and ((in_month or in_week) if either_day else (in_month and in_week))

    times = sorted(hour * 60 + minute for hour in hours for minute in minutes)
    gap = max((later - earlier for earlier, later in zip(times, times[1:])), default=0)
    run_days = [offset for offset in range(_HORIZON_YEARS * 366)
                if runs_on(_HORIZON_START + datetime.timedelta(days=offset))]
    if len(run_days) < 2:
        raise CronError(f"{expr!r} never runs twice in {_HORIZON_YEARS} years (check its day and month fields)")
    for first, second in zip(run_days, run_days[1:]):
        gap = max(gap, (second - first) * 1440 + times[0] - times[-1])
    return datetime.timedelta(minutes=gap)
