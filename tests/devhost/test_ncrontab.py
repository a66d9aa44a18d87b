"""NCRONTAB schedules: six fields, seconds first, day-of-month AND day-of-week (as NCrontab)."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from devhost.ncrontab import parse_schedule


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


# 2026-11-23 is a Monday.
START = utc(2026, 11, 23, 10, 7, 30)


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("* * * * * *", START, utc(2026, 11, 23, 10, 7, 31)),
        ("0 */5 * * * *", START, utc(2026, 11, 23, 10, 10, 0)),
        ("0 */5 * * * *", utc(2026, 11, 23, 10, 10, 0), utc(2026, 11, 23, 10, 15, 0)),
        ("*/15 * * * * *", START, utc(2026, 11, 23, 10, 7, 45)),
        ("30 5/20 * * * *", START, utc(2026, 11, 23, 10, 25, 30)),
        ("0 0 2 * * *", START, utc(2026, 11, 24, 2, 0, 0)),
        ("0 30 9 * * 1-5", utc(2026, 11, 27, 12, 0, 0), utc(2026, 11, 30, 9, 30, 0)),  # Fri → Mon
        ("0 30 9 * * Mon,Wed", START, utc(2026, 11, 25, 9, 30, 0)),
        ("0 0 0 1 Jan *", START, utc(2027, 1, 1, 0, 0, 0)),
        ("0 0 12 1,15 * *", START, utc(2026, 12, 1, 12, 0, 0)),
        ("0 0 8-10/2 * * *", START, utc(2026, 11, 24, 8, 0, 0)),
        ("0 0 0 29 2 *", START, utc(2028, 2, 29, 0, 0, 0)),
        ("0 0 0 13 * 5", START, utc(2027, 8, 13, 0, 0, 0)),  # next Friday the 13th: both fields must match
        ("0 0 0 * * 0", START, utc(2026, 11, 29, 0, 0, 0)),  # 0 = Sunday
        ("0 0 0 31 12 *", utc(2026, 12, 31, 0, 0, 0), utc(2027, 12, 31, 0, 0, 0)),
        ("5,10 * * * * *", utc(2026, 11, 23, 10, 7, 59, 500000), utc(2026, 11, 23, 10, 8, 5)),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_next_occurrence(expression: str, after: datetime, expected: datetime) -> None:
    assert parse_schedule(expression).next_after(after) == expected


@pytest.mark.parametrize(
    "expression",
    ["0 */5 * * *", "* * * * * * *", "60 * * * * *", "* * 24 * * *", "* * * 0 * *", "* * * * 13 *",
     "* * * * * 7", "*/0 * * * * *", "5-1 * * * * *", "a * * * * *", "00:05:00"],
    ids=["five-fields", "seven-fields", "second-60", "hour-24", "day-0", "month-13", "weekday-7",
         "step-0", "reversed-range", "letters", "timespan"],
)
def test_invalid_schedule_is_refused(expression: str) -> None:
    with pytest.raises(ValueError):
        parse_schedule(expression)


def test_impossible_date_is_reported() -> None:
    with pytest.raises(ValueError, match="never fires"):
        parse_schedule("0 0 0 30 2 *").next_after(START)


def test_matches_agrees_with_next_after() -> None:
    schedule = parse_schedule("0 */5 9-17 * * Mon-Fri")
    slot = schedule.next_after(START)
    assert schedule.matches(slot)
    assert not schedule.matches(START)
