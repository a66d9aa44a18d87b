"""The worker's side of a test: messages the app sends are captured, and delivered (again) by the test, so a
delivery can be killed, redelivered or delivered twice at once — what Service Bus does after a crash."""
from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass, field
from typing import Any

from core.deps import Deps

__all__ = ["Captured", "CapturedQueue", "captured_deps", "queue_of", "deliver", "expire_lease"]


@dataclass(frozen=True)
class Captured:
    body: dict[str, Any]
    message_id: str
    delay_s: float = 0


@dataclass
class CapturedQueue:
    messages: list[Captured] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, body: dict[str, Any], *, message_id: str, delay_s: float = 0) -> None:
        with self._lock:
            if all(m.message_id != message_id for m in self.messages):  # duplicate detection, as Service Bus
                self.messages.append(Captured(body, message_id, delay_s))

    def take(self) -> list[Captured]:
        with self._lock:
            taken, self.messages = self.messages, []
            return taken


def captured_deps() -> Deps:
    """The app's own dependencies (settings, storage, clients), with a queue the test holds."""
    from functions.deps import deps

    base = deps()
    base.storage(), base.erp(), base.crm()
    made = {k: v for k, v in base._made.items() if k != "queue"}
    return Deps(base.settings, clock=base.clock, new_id=base.new_id,
                _made={**made, "queue": CapturedQueue()})


def queue_of(deps: Deps) -> CapturedQueue:
    queue = deps._made["queue"]
    assert isinstance(queue, CapturedQueue)
    return queue


def deliver(message: Captured, delivery_count: int = 1) -> None:
    """One delivery through the worker function's own handler."""
    from functions.worker import handle

    handle(message.body, message.message_id, delivery_count)


def expire_lease(deps: Deps, mapping: str) -> None:
    """A dead run's lease ran out (its owner stopped renewing it)."""
    state = deps.storage().state.get(mapping)
    if state.lease_owner is not None:
        deps.storage().state.save(dataclasses.replace(state, lease_owner=None, lease_until=None))
