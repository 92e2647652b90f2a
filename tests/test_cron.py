"""environments/cron.py: the five-field cron expressions Kubernetes CronJobs accept."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from environments.cron import cron_problem


@pytest.mark.parametrize("expr", [
    "0 * * * *", "*/15 * * * *", "0 2 * * *", "30 6 * * 1-5", "0 0 1 jan,jul *", "5,35 */2 1-15/3 * SUN",
    "0 0 * * 7", "@hourly", "@daily", "  0 * * * *  ",
])
def test_valid_expressions_have_no_problem(expr):
    assert cron_problem(expr) is None


@pytest.mark.parametrize("expr, expected", [
    ("every hour", "expected 5 fields"),
    ("0 * * *", "found 4"),
    ("0 0 * * * *", "found 6"),
    ("60 * * * *", "minute 60 is out of range 0-59"),
    ("0 24 * * *", "hour 24 is out of range 0-23"),
    ("0 0 0 * *", "day of month 0 is out of range 1-31"),
    ("0 0 * 13 *", "month 13 is out of range 1-12"),
    ("0 0 * * 8", "day of week 8 is out of range 0-7"),
    ("*/0 * * * *", "step '0' must be a positive number"),
    ("0 5-2 * * *", "runs backwards"),
    ("0 0 * foo *", "month 'foo' is not a number or a name"),
    ("0,,5 * * * *", "empty list item"),
    ("@often", "unknown cron macro"),
    ("", "empty value"),
])
def test_invalid_expressions_say_what_is_wrong(expr, expected):
    problem = cron_problem(expr)
    assert problem is not None and expected in problem


_minute = st.integers(0, 59).map(str)
_hour = st.one_of(st.just("*"), st.integers(0, 23).map(str), st.integers(1, 12).map(lambda n: f"*/{n}"))


@given(_minute, _hour, st.integers(1, 28), st.integers(1, 12), st.integers(0, 7))
def test_every_in_range_expression_is_valid(minute, hour, day, month, weekday):
    assert cron_problem(f"{minute} {hour} {day} {month} {weekday}") is None
