"""What every job queue delivers, and Service Bus's limits the local queues keep (core.queue, core.store.job_queue)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["DUPLICATE_WINDOW_S", "MAX_DELIVERY_COUNT", "QueueMessage", "DeadLetter"]

# Service Bus defaults: duplicate detection history 10 min, MaxDeliveryCount 10.
DUPLICATE_WINDOW_S = 600.0
MAX_DELIVERY_COUNT = 10


@dataclass(frozen=True, slots=True)
class QueueMessage:
    """One delivery of a message; `delivery_count` is 1 on the first try, as in Service Bus."""

    body: dict[str, Any]
    message_id: str
    delivery_count: int = 1


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message given up on, with Service Bus's reason and the last error."""

    message: QueueMessage
    reason: str
    description: str
