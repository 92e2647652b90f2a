"""Five-field cron expressions (the dialect Kubernetes CronJobs accept), parsed for two questions.

Is an expression valid, and what is the longest time between two runs? The
second answers "how stale may the output of a scheduled job get before
something is wrong": freshness alerts on feature materialization and drift
checks derive their thresholds from it, so a schedule change in the spec moves
the alert with it.

Standard library only: `stackyard validate` uses it through environments/checks.py.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

_MACROS = {
    "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
}
_MONTHS = {name: number for number, name in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1)}
_WEEKDAYS = {name: number for number, name in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}
# (field name, lowest, highest, names)
_FIELDS = (("minute", 0, 59, {}), ("hour", 0, 23, {}), ("day of month", 1, 31, {}),
           ("month", 1, 12, _MONTHS), ("day of week", 0, 7, _WEEKDAYS))
# Long enough to hold every weekday/leap-year combination a schedule can depend on
# for its longest gap (a "29 February" schedule runs every 4 years).
_HORIZON_START = datetime.date(2024, 1, 1)
_HORIZON_DAYS = 8 * 366


class CronError(ValueError):
    pass


@dataclass(frozen=True)
class CronSchedule:
    minutes: frozenset[int]
    hours: frozenset[int]
    days_of_month: frozenset[int]
    months: frozenset[int]
    days_of_week: frozenset[int]  # 0 = Sunday
    day_of_month_restricted: bool
    day_of_week_restricted: bool

    def runs_on(self, day: datetime.date) -> bool:
        if day.month not in self.months:
            return False
        in_month = day.day in self.days_of_month
        in_week = (day.isoweekday() % 7) in self.days_of_week
        if self.day_of_month_restricted and self.day_of_week_restricted:
            return in_month or in_week  # cron's rule: either day field may match
        return in_month and in_week


def _value(text: str, field: str, low: int, high: int, names: dict[str, int]) -> int:
    number = names.get(text.lower())
    if number is None:
        if not text.isdigit():
            raise CronError(f"{field}: expected a number between {low} and {high}, found {text!r}")
        number = int(text)
    if not low <= number <= high:
        raise CronError(f"{field}: expected a number between {low} and {high}, found {number}")
    return number


def _field(text: str, field: str, low: int, high: int, names: dict[str, int]) -> set[int]:
    values: set[int] = set()
    for part in text.split(","):
        base, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) == 0:
                raise CronError(f"{field}: expected a positive step after '/', found {step_text!r}")
            step = int(step_text)
        if base == "*":
            start, end = low, high
        elif "-" in base:
            first, _, last = base.partition("-")
            start, end = _value(first, field, low, high, names), _value(last, field, low, high, names)
            if start > end:
                raise CronError(f"{field}: range {base!r} runs backwards")
        else:
            start = _value(base, field, low, high, names)
            end = high if step_text else start
        values.update(range(start, end + 1, step))
    return values


def parse(expression: str) -> CronSchedule:
    """Parse a five-field expression or a macro (@hourly ...); raise CronError saying what is wrong."""
    text = _MACROS.get(expression.strip(), expression.strip())
    parts = text.split()
    if len(parts) != 5:
        raise CronError(f"expected five fields (minute hour day-of-month month day-of-week), "
                        f"found {len(parts)} in {expression!r}")
    fields = [_field(part, name, low, high, names) for part, (name, low, high, names) in zip(parts, _FIELDS)]
    weekdays = {0 if day == 7 else day for day in fields[4]}
    return CronSchedule(frozenset(fields[0]), frozenset(fields[1]), frozenset(fields[2]), frozenset(fields[3]),
                        frozenset(weekdays), not parts[2].startswith("*"), not parts[4].startswith("*"))


def longest_gap(expression: str) -> datetime.timedelta:
    """The longest time between two consecutive runs of the schedule."""
    schedule = parse(expression)
    minutes_of_day = sorted(hour * 60 + minute for hour in schedule.hours for minute in schedule.minutes)
    gap = max((b - a for a, b in zip(minutes_of_day, minutes_of_day[1:])), default=0)
    run_days = [offset for offset in range(_HORIZON_DAYS)
                if schedule.runs_on(_HORIZON_START + datetime.timedelta(days=offset))]
    if len(run_days) < 2:
        raise CronError(f"{expression!r} never runs twice in {_HORIZON_DAYS // 366} years "
                        f"(check its day and month fields)")
    for first, second in zip(run_days, run_days[1:]):
        gap = max(gap, (second - first) * 1440 + minutes_of_day[0] - minutes_of_day[-1])
    return datetime.timedelta(minutes=gap)
