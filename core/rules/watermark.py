"""Tie-safe watermarks for incremental reads (STYLE §8, SPEC F8 and X10).

A pass reads `modified_on >= value` (not `>`: two records can share a timestamp, and one of them may
land after the pass read the other). Records exactly AT the value whose ids are in `boundary_ids` were
already applied and are skipped; any other record at that time is new. The value moves once per pass to
min(max modified-on seen, pass start), never backwards: capping at the pass start re-reads anything
written while the pass ran, so nothing committed late is lost.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["Watermark"]


@dataclass(frozen=True, slots=True)
class Watermark:
    """Where the next incremental read starts, and the ids already applied at exactly that time."""

    value: dt.datetime | None = None
    boundary_ids: frozenset[str] = field(default_factory=frozenset)

    def advance(self, seen: Iterable[tuple[str, dt.datetime]], *, pass_start: dt.datetime) -> Watermark:
        """The watermark after a pass that applied the records in `seen`.

        Args:
            seen: (id, modified_on) of every record the pass read and applied (or deliberately ignored).
            pass_start: the time frozen when the pass started (before its first read).

        Returns:
            value = min(max modified_on seen, pass_start), never below the old value; boundary ids = the ids
            seen at exactly the new value, plus the old ones when the value did not move.
        """
        pairs = list(seen)
        if not pairs:
            return self
        candidate = min(max(m for _, m in pairs), pass_start)
        new = candidate if self.value is None or candidate > self.value else self.value
        at_new = {i for i, m in pairs if m == new}
        if new == self.value:
            return Watermark(new, self.boundary_ids | at_new)
        return Watermark(new, frozenset(at_new))

    def is_applied(self, record_id: str, modified_on: dt.datetime) -> bool:
        """True for a record the previous passes already applied: at the boundary time with a known id,
        or older than the watermark (a `>=` read does not return those, but a caller may pass them)."""
        if self.value is None:
            return False
        if modified_on < self.value:
            return True
        return modified_on == self.value and record_id in self.boundary_ids
