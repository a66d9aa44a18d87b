"""A process kill, in process: at an instrumented I/O point the "process" dies, and everything it would still do
(finally blocks, error handlers, lease releases) fails the same way, as nothing runs after a real kill.

The points are the writes that matter for recovery: both services' batches and every Table Storage write.
Only the thread that armed the crash dies; the app's own threads (HTTP, queue) are untouched.
"""
from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from core.crm.client import CrmClient
from core.erp.client import ErpClient
from core.store.couplings import CouplingStore
from core.store.error_rows import ErrorStore
from core.store.intents import IntentStore
from core.store.jobs import JobStore
from core.store.state import StateStore

__all__ = ["Killed", "Crash", "KILL_POINTS"]

KILL_POINTS: tuple[tuple[type, str], ...] = (
    (ErpClient, "apply_batch"), (CrmClient, "apply_batch"),
    (CouplingStore, "couple_many"), (CouplingStore, "update_many"), (CouplingStore, "couple"),
    (IntentStore, "claim_many"), (IntentStore, "clear_many"), (IntentStore, "settle_many"),
    (JobStore, "create"), (JobStore, "update"), (StateStore, "save"), (ErrorStore, "add_many"),
)


class Killed(BaseException):
    """The process was killed here (a BaseException: no `except Exception` of the app catches it)."""


@dataclass
class _Arm:
    point: str
    nth: int
    after: bool
    thread: int


class Crash:
    """Patches every kill point; `arm` picks where the next kill happens, `revive` starts a new "process"."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch):
        self._arm: _Arm | None = None
        self._dead: int | None = None  # the thread that died
        self._calls = 0
        self.hits: list[str] = []  # every point passed by the armed thread, in order (for choosing kills)
        for cls, name in KILL_POINTS:
            monkeypatch.setattr(cls, name, self._wrap(f"{cls.__name__}.{name}", getattr(cls, name)))

    def _wrap(self, point: str, real: Callable[..., Any]) -> Callable[..., Any]:
        crash = self

        @functools.wraps(real)
        def instrumented(*args: Any, **kwargs: Any) -> Any:
            me = threading.get_ident()
            if crash._dead == me:
                raise Killed(f"dead before {point}")
            arm = crash._arm
            if arm is None or arm.thread != me:
                return real(*args, **kwargs)
            crash.hits.append(point)
            if arm.point not in (point, "*"):
                return real(*args, **kwargs)
            crash._calls += 1
            if crash._calls < arm.nth:
                return real(*args, **kwargs)
            if arm.after:
                real(*args, **kwargs)
            crash._dead, crash._arm = me, None
            raise Killed(f"killed {'after' if arm.after else 'before'} {point}")

        return instrumented

    def arm(self, point: str = "*", nth: int = 1, *, after: bool = True) -> None:
        """Die at the `nth` call of `point` ("Class.method", or "*" for any) made by this thread."""
        self._arm, self._calls = _Arm(point, nth, after, threading.get_ident()), 0
        self.hits = []

    def watch(self) -> None:
        """Record the points this thread passes, without killing (to count them for `arm`)."""
        self.arm("never", 1)

    def revive(self) -> None:
        """A new process: nothing armed, nothing dead."""
        self._arm = self._dead = None

    @contextmanager
    def run(self) -> Iterator[None]:
        """Run a step of the dead-or-alive process: a kill ends the step, not the test."""
        try:
            yield
        except Killed:
            pass
