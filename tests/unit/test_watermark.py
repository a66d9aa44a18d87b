"""core.rules.watermark: min(max seen, pass start), never backwards, tie-safe boundary ids."""
from __future__ import annotations

import datetime as dt
import random
from collections import Counter

import pytest

from core.rules.watermark import Watermark

T0 = dt.datetime(2026, 5, 1, 8, 0, tzinfo=dt.timezone.utc)


def at(ms: int) -> dt.datetime:
    return T0 + dt.timedelta(milliseconds=ms)


class TestAdvance:
    @pytest.mark.parametrize(("old", "seen", "pass_start", "expected"), [
        (Watermark(), [], at(100), Watermark()),
        (Watermark(), [("a", at(10)), ("b", at(30)), ("c", at(30))], at(100), Watermark(at(30), frozenset({"b", "c"}))),
        (Watermark(), [("a", at(10)), ("late", at(150))], at(100), Watermark(at(100), frozenset())),
        (Watermark(), [("a", at(100))], at(100), Watermark(at(100), frozenset({"a"}))),
        (Watermark(at(50), frozenset({"x"})), [("a", at(20))], at(100), Watermark(at(50), frozenset({"x"}))),
        (Watermark(at(50), frozenset({"x"})), [("y", at(50))], at(100), Watermark(at(50), frozenset({"x", "y"}))),
        (Watermark(at(50), frozenset({"x"})), [("y", at(50)), ("z", at(60))], at(100),
         Watermark(at(60), frozenset({"z"}))),
    ], ids=["nothing-seen", "max-with-ties", "capped-at-pass-start", "exactly-pass-start", "never-backwards",
            "same-value-merges-ids", "moves-and-resets-ids"])
    def test_advance(self, old: Watermark, seen: list[tuple[str, dt.datetime]], pass_start: dt.datetime,
                     expected: Watermark) -> None:
        assert old.advance(seen, pass_start=pass_start) == expected

    @pytest.mark.parametrize(("record_id", "modified", "applied"), [
        ("b", at(30), True), ("new", at(30), False), ("b", at(31), False), ("old", at(29), True),
    ], ids=["boundary-id", "other-id-same-ms", "later", "older"])
    def test_is_applied(self, record_id: str, modified: dt.datetime, applied: bool) -> None:
        assert Watermark(at(30), frozenset({"b"})).is_applied(record_id, modified) is applied

    def test_nothing_is_applied_before_the_first_pass(self) -> None:
        assert not Watermark().is_applied("a", at(0))


class Source:
    """A record store read the way a pass reads: `modified_on >= watermark`, minus the applied boundary ids."""

    def __init__(self) -> None:
        self.rows: dict[str, dt.datetime] = {}
        self.applied: Counter[tuple[str, dt.datetime]] = Counter()

    def write(self, record_id: str, when: dt.datetime) -> None:
        self.rows[record_id] = when

    def run_pass(self, wm: Watermark, pass_start: dt.datetime) -> Watermark:
        page = [(i, m) for i, m in self.rows.items()
                if (wm.value is None or m >= wm.value) and not wm.is_applied(i, m)]
        for version in page:
            self.applied[version] += 1
        return wm.advance(page, pass_start=pass_start)


class TestNoChangeLostOrAppliedTwice:
    def test_a_change_in_the_same_millisecond_after_the_read_is_picked_up_once(self) -> None:
        src = Source()
        src.write("a", at(10))
        src.write("b", at(10))
        wm = src.run_pass(Watermark(), pass_start=at(10))  # the pass reads in the same ms the rows were written
        src.write("c", at(10))  # lands in that same millisecond, after the read
        wm = src.run_pass(wm, pass_start=at(20))
        wm = src.run_pass(wm, pass_start=at(30))
        assert src.applied == Counter({("a", at(10)): 1, ("b", at(10)): 1, ("c", at(10)): 1})
        assert wm == Watermark(at(10), frozenset({"a", "b", "c"}))

    def test_a_change_written_during_the_pass_is_read_again_not_lost(self) -> None:
        src = Source()
        src.write("a", at(10))
        src.write("busy", at(150))  # committed while the pass (started at 100) was reading
        wm = src.run_pass(Watermark(), pass_start=at(100))
        assert wm.value == at(100)
        src.run_pass(wm, pass_start=at(200))
        # Re-read once (the planner then finds it unchanged); never dropped.
        assert src.applied[("busy", at(150))] == 2 and src.applied[("a", at(10))] == 1

    @pytest.mark.parametrize("seed", range(5))
    def test_tie_heavy_simulation(self, seed: int) -> None:
        """Writes land on few distinct milliseconds, often the same ms as a pass's read; every version is applied
        exactly once and the final state of every record is applied."""
        rng = random.Random(seed)
        src, wm, clock = Source(), Watermark(), 0
        for _ in range(300):
            if rng.random() < 0.3:
                clock += rng.choice([0, 0, 1, 5])
            if rng.random() < 0.7:
                src.write(f"r{rng.randrange(12)}", at(clock))
            else:
                wm = src.run_pass(wm, pass_start=at(clock))
        clock += 1
        wm = src.run_pass(wm, pass_start=at(clock))
        assert all(count == 1 for count in src.applied.values()), src.applied.most_common(3)
        assert all(src.applied[(i, m)] == 1 for i, m in src.rows.items())
