"""Timer triggers: one background thread per timer function, firing on its NCRONTAB schedule.

An invocation holds the function's lock, which admin runs share, so the same timer never runs
twice at once (the Functions host takes a singleton lock per timer for the same reason).
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from azure.functions.timer import TimerRequest

from devhost.invoke import FunctionInfo
from devhost.ncrontab import Schedule

__all__ = ["TimerRunner"]

log = logging.getLogger("devhost")

# A firing this much later than its slot is reported to the function as past due.
PAST_DUE_AFTER = timedelta(seconds=1)


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


class TimerRunner:
    """Fires one timer function on its schedule until `stop()`."""

    def __init__(
        self,
        info: FunctionInfo,
        schedule: Schedule,
        invoke: Callable[[FunctionInfo, Any, str], Any],
        lock: threading.Lock,
        *,
        run_on_startup: bool = False,
        clock: Callable[[], datetime] = _utcnow,
    ):
        self.info = info
        self.schedule = schedule
        self._invoke = invoke
        self._lock = lock
        self._run_on_startup = run_on_startup
        self._clock = clock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"timer-{info.name}", daemon=True)

    def start(self) -> TimerRunner:
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop firing; an invocation in progress finishes first (within `timeout`)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _fire(self, past_due: bool, reason: str) -> None:
        with self._lock:
            if self._stop.is_set():
                return
            try:
                self._invoke(self.info, TimerRequest(past_due=past_due), reason)
            except Exception:  # noqa: BLE001 - logged by the invoker; the schedule goes on, as in Functions
                pass

    def _run(self) -> None:
        if self._run_on_startup:
            self._fire(False, "Timer fired at startup (run_on_startup)")
        due = self.schedule.next_after(self._clock())
        log.info("Timer '%s' (%s): next occurrence %s", self.info.name, self.schedule.expression, due.isoformat())
        while not self._stop.wait(max(0.0, (due - self._clock()).total_seconds())):
            now = self._clock()
            self._fire(now - due >= PAST_DUE_AFTER, f"Timer fired at {now.isoformat()}")
            due, missed = self._following(due)
            if missed:
                # Slots passed while the function ran: one past-due run now, not one per slot.
                self._fire(True, "Timer fired late (missed occurrences while running)")
                due, _ = self._following(due)

    def _following(self, due: datetime) -> tuple[datetime, bool]:
        """The next slot after `due`, or the latest slot already passed (and True)."""
        now = self._clock()
        following = self.schedule.next_after(due)
        if following > now:
            return following, False
        while (after := self.schedule.next_after(following)) <= now:
            following = after
        return following, True
