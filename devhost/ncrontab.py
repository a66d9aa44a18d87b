"""NCRONTAB schedules as the Functions timer trigger reads them: six fields, seconds first.

`second minute hour day month day-of-week`, each `*`, a value, a range `a-b`, a list `a,b`, or a
step `*/n` / `a-b/n` / `a/n`; months and weekdays also by name (`Jan`, `Mon`). As in NCrontab,
a day must match BOTH the day-of-month and the day-of-week field (not Vixie cron's "either").
Times are UTC, the Functions default when WEBSITE_TIME_ZONE is unset.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = ["Schedule", "parse_schedule"]

_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]

# (name, low, high, names mapped to numbers)
_FIELDS: list[tuple[str, int, int, dict[str, int]]] = [
    ("second", 0, 59, {}),
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day", 1, 31, {}),
    ("month", 1, 12, {n: i + 1 for i, n in enumerate(_MONTHS)}),
    ("day-of-week", 0, 6, {n: i for i, n in enumerate(_DAYS)}),
]

# Four years and a day covers every calendar combination, including 29 February.
_SEARCH_LIMIT = timedelta(days=4 * 366 + 1)


def _value(text: str, field: str, low: int, high: int, names: dict[str, int]) -> int:
    key = text.lower()
    if key in names:
        return names[key]
    if not text.isdigit():
        raise ValueError(f"bad {field} value {text!r}")
    number = int(text)
    if not low <= number <= high:
        raise ValueError(f"{field} value {number} outside {low}-{high}")
    return number


def _parse_field(text: str, field: str, low: int, high: int, names: dict[str, int]) -> frozenset[int]:
    values: set[int] = set()
    for item in text.split(","):
        base, _, step_text = item.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) == 0:
                raise ValueError(f"bad {field} step {step_text!r}")
            step = int(step_text)
        if base == "*":
            start, end = low, high
        elif "-" in base:
            a, b = base.split("-", 1)
            start, end = _value(a, field, low, high, names), _value(b, field, low, high, names)
            if start > end:
                raise ValueError(f"bad {field} range {base!r}")
        else:
            start = _value(base, field, low, high, names)
            end = high if step_text else start  # `5/15` means 5, 20, 35, 50
        values.update(range(start, end + 1, step))
    return frozenset(values)


@dataclass(frozen=True, slots=True)
class Schedule:
    """A parsed schedule; `next_after(t)` is the first matching whole second strictly after t."""

    expression: str
    seconds: frozenset[int]
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday

    def matches(self, t: datetime) -> bool:
        return (t.second in self.seconds and t.minute in self.minutes and t.hour in self.hours
                and self._day_matches(t))

    def _day_matches(self, t: datetime) -> bool:
        return (t.month in self.months and t.day in self.days
                and (t.weekday() + 1) % 7 in self.weekdays)

    def next_after(self, after: datetime) -> datetime:
        """The next firing time after `after` (same tzinfo); ValueError if the schedule never fires."""
        t = after.replace(microsecond=0) + timedelta(seconds=1)
        limit = after + _SEARCH_LIMIT
        while t <= limit:
            if not self._day_matches(t):
                t = t.replace(hour=0, minute=0, second=0) + timedelta(days=1)
            elif t.hour not in self.hours:
                t = t.replace(minute=0, second=0) + timedelta(hours=1)
            elif t.minute not in self.minutes:
                t = t.replace(second=0) + timedelta(minutes=1)
            elif t.second not in self.seconds:
                t += timedelta(seconds=1)
            else:
                return t
        raise ValueError(f"schedule {self.expression!r} never fires")


def parse_schedule(expression: str) -> Schedule:
    """Parse a six-field NCRONTAB expression; raises ValueError naming the bad field."""
    parts = expression.split()
    if len(parts) != 6:
        raise ValueError(
            f"schedule {expression!r} must have 6 fields (second minute hour day month day-of-week); "
            "TimeSpan schedules are not supported by devhost")
    sets = [_parse_field(text, *spec) for text, spec in zip(parts, _FIELDS)]
    schedule = Schedule(expression, *sets)
    return schedule
