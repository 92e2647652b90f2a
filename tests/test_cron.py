"""environments/cron.py: the five-field cron validator every spec schedule goes through."""

import pytest

from environments.cron import cron_problem


@pytest.mark.parametrize("expr", [
    "0 2 * * *", "30 * * * *", "*/15 * * * *", "0 6 * * 1", "0 0 1,15 * *", "0-30/5 8-18 * * mon-fri",
    "5/10 * * jan,jul sun", "59 23 31 12 7", "0 0 * * 0",
])
def test_valid_expressions(expr):
    assert cron_problem(expr) is None


@pytest.mark.parametrize("expr, fragment", [
    ("0 2 * *", "expected 5 fields"),
    ("0 0 2 * * *", "expected 5 fields"),
    ("@daily", "expected 5 fields"),
    ("60 * * * *", "minute field '60': expected 0-59, found 60"),
    ("* 24 * * *", "hour field"),
    ("* * 0 * *", "day of month field '0': expected 1-31"),
    ("* * * 13 *", "month field"),
    ("* * * * 8", "day of week field"),
    ("*/0 * * * *", "positive step"),
    ("30-10 * * * *", "runs backwards"),
    ("1,,2 * * * *", "empty item"),
    ("hourly * * * *", "expected a number"),
    ("* * * * funday", "or a name"),
    ("/5 * * * *", "before '/'"),
])
def test_invalid_expressions_say_which_field_and_why(expr, fragment):
    problem = cron_problem(expr)
    assert problem is not None and fragment in problem, problem
