"""Job queues: the Service Bus sender (Azure), the durable Storage queue that stands in for it locally
(core/store/job_queue.py, on Azurite), and an in-memory queue for tests of devhost alone.

Both local queues keep Service Bus's contract where the app depends on it: duplicate detection
by message id, at-least-once delivery with a delivery count, and dead-lettering after too many tries.
"""
from __future__ import annotations

import heapq
import itertools
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Protocol

from core.messages import DUPLICATE_WINDOW_S, MAX_DELIVERY_COUNT, DeadLetter, QueueMessage

if TYPE_CHECKING:
    from azure.servicebus import ServiceBusClient, ServiceBusSender

    from core.settings import ServiceBusConfig

__all__ = [
    "QueueMessage", "DeadLetter", "JobQueue", "InProcessQueue", "ServiceBusQueue",
    "in_process_queue", "local_queue", "queue_for", "service_bus_client",
]

log = logging.getLogger(__name__)

class JobQueue(Protocol):
    """Where the app sends job messages; Service Bus in Azure, in-process locally."""

    def send(self, body: dict[str, Any], *, message_id: str, delay_s: float = 0) -> None: ...


Handler = Callable[[QueueMessage], None]


@dataclass(order=True, slots=True)
class _Pending:
    due: float
    seq: int
    message: QueueMessage = field(compare=False)


class InProcessQueue:
    """A queue inside this process: the app sends, one subscriber (devhost) receives on worker threads.

    Not durable (messages die with the process): devhost uses it only when no storage is configured.

    Messages sent before anyone subscribes wait. A handler that raises gets the message again after
    `redelivery_delay_s` with `delivery_count + 1`; after `max_delivery_count` tries the message moves
    to `dead_letters`. A `message_id` seen within `duplicate_window_s` is dropped at send.
    """

    def __init__(
        self,
        name: str,
        *,
        max_delivery_count: int = MAX_DELIVERY_COUNT,
        duplicate_window_s: float = DUPLICATE_WINDOW_S,
        redelivery_delay_s: float = 0.1,
        concurrency: int = 1,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.name = name
        self.max_delivery_count = max_delivery_count
        self.duplicate_window_s = duplicate_window_s
        self.redelivery_delay_s = redelivery_delay_s
        self.concurrency = concurrency
        self.dead_letters: list[DeadLetter] = []
        self._clock = clock
        self._cond = threading.Condition()
        self._heap: list[_Pending] = []
        self._seq = itertools.count()
        self._seen: dict[str, float] = {}
        self._in_flight = 0
        self._handler: Handler | None = None
        self._workers: list[threading.Thread] = []
        self._generation = 0  # bumped by unsubscribe so old workers exit

    # -- sending ------------------------------------------------------------------------------
    def send(self, body: dict[str, Any], *, message_id: str, delay_s: float = 0) -> None:
        """Enqueue `body` unless `message_id` was sent within the duplicate-detection window."""
        # Round-trip through JSON as the wire would: fails early on what Service Bus could not carry,
        # and the receiver never shares mutable state with the sender.
        copy = json.loads(json.dumps(body))
        with self._cond:
            now = self._clock()
            self._forget_old_ids(now)
            if message_id in self._seen:
                log.info("queue %s: duplicate message_id %s dropped", self.name, message_id)
                return
            self._seen[message_id] = now
            self._push(QueueMessage(copy, message_id, 1), now + max(0.0, delay_s))

    def _forget_old_ids(self, now: float) -> None:
        expired = [mid for mid, at in self._seen.items() if now - at >= self.duplicate_window_s]
        for mid in expired:
            del self._seen[mid]

    def _push(self, message: QueueMessage, due: float) -> None:
        heapq.heappush(self._heap, _Pending(due, next(self._seq), message))
        self._cond.notify_all()

    # -- receiving ----------------------------------------------------------------------------
    def subscribe(self, handler: Handler, *, concurrency: int | None = None, lock_s: float | None = None) -> None:
        """Deliver every message to `handler` from now on, on `concurrency` threads; one subscriber at a time.
        `lock_s` is accepted for the durable queue's signature; nothing here expires."""
        with self._cond:
            if concurrency is not None:
                self.concurrency = concurrency
            if self._handler is not None:
                raise RuntimeError(f"queue {self.name!r} already has a subscriber")
            self._handler = handler
            generation = self._generation
            self._workers = [
                threading.Thread(target=self._work, args=(generation,), name=f"queue-{self.name}-{i}", daemon=True)
                for i in range(self.concurrency)
            ]
            for worker in self._workers:
                worker.start()

    def unsubscribe(self, timeout: float = 10.0) -> None:
        """Stop delivering; a delivery in flight finishes first (within `timeout`)."""
        with self._cond:
            self._handler = None
            self._generation += 1
            workers, self._workers = self._workers, []
            self._cond.notify_all()
        for worker in workers:
            if worker is not threading.current_thread():
                worker.join(timeout)

    def _next_due(self, generation: int) -> QueueMessage | None:
        """Block until a message is due (None once unsubscribed); caller holds the lock."""
        while generation == self._generation:
            if self._heap:
                wait = self._heap[0].due - self._clock()
                if wait <= 0:
                    self._in_flight += 1
                    return heapq.heappop(self._heap).message
                # Capped so an injected clock that jumps ahead is noticed without a notify.
                self._cond.wait(min(wait, 0.05))
            else:
                self._cond.wait()
        return None

    def _work(self, generation: int) -> None:
        while True:
            with self._cond:
                message = self._next_due(generation)
                handler = self._handler
            if message is None or handler is None:
                return
            try:
                handler(message)
            except Exception as err:  # noqa: BLE001 - any failure means "abandon", as Service Bus does
                self._abandon(message, err)
            finally:
                with self._cond:
                    self._in_flight -= 1
                    self._cond.notify_all()

    def _abandon(self, message: QueueMessage, err: Exception) -> None:
        description = f"{type(err).__name__}: {err}"
        with self._cond:
            if message.delivery_count >= self.max_delivery_count:
                log.warning("queue %s: message %s dead-lettered after %d deliveries (%s)",
                            self.name, message.message_id, message.delivery_count, description)
                self.dead_letters.append(DeadLetter(message, "MaxDeliveryCountExceeded", description))
                return
            log.info("queue %s: message %s failed on delivery %d, will be redelivered (%s)",
                     self.name, message.message_id, message.delivery_count, description)
            again = replace(message, delivery_count=message.delivery_count + 1)
            self._push(again, self._clock() + self.redelivery_delay_s)

    # -- observing ----------------------------------------------------------------------------
    @property
    def pending(self) -> int:
        """Messages waiting (including delayed ones), not counting those in flight."""
        with self._cond:
            return len(self._heap)

    def drain(self, timeout: float = 10.0) -> bool:
        """Wait until nothing is pending or in flight; False if `timeout` (real seconds) passed first."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._heap or self._in_flight:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.05))
            return True

    def clear(self) -> None:
        """Forget pending messages, seen ids and dead letters (between tests)."""
        with self._cond:
            self._heap.clear()
            self._seen.clear()
            self.dead_letters.clear()
            self._cond.notify_all()


_registry: dict[str, InProcessQueue] = {}
_registry_lock = threading.Lock()


def in_process_queue(name: str) -> InProcessQueue:
    """The process-wide queue called `name`, so the app's sender and devhost's subscriber meet."""
    with _registry_lock:
        queue = _registry.get(name)
        if queue is None:
            queue = _registry[name] = InProcessQueue(name)
        return queue


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def service_bus_client(config: ServiceBusConfig) -> ServiceBusClient:
    """A client for the namespace by managed identity (the same identity the trigger uses, main.bicep's
    `__clientId`), or from a connection string for local use. Constructing it opens no connection."""
    # Imported here: the AMQP stack is only loaded where Service Bus is configured.
    from azure.servicebus import ServiceBusClient

    if config.namespace:
        from azure.identity import DefaultAzureCredential

        credential = DefaultAzureCredential(managed_identity_client_id=config.client_id)
        return ServiceBusClient(config.namespace, credential)
    assert config.connection_string is not None
    return ServiceBusClient.from_connection_string(config.connection_string.reveal())


class ServiceBusQueue:
    """Sends JSON job messages to one Service Bus queue (the Functions trigger receives them)."""

    def __init__(self, client: ServiceBusClient, queue_name: str, *,
                 clock: Callable[[], datetime] = _utcnow):
        self.queue_name = queue_name
        self._client = client
        self._sender: ServiceBusSender | None = None
        self._lock = threading.Lock()  # a sender is not thread-safe; HTTP triggers run concurrently
        self._clock = clock

    def send(self, body: dict[str, Any], *, message_id: str, delay_s: float = 0) -> None:
        """Send `body` as JSON; Service Bus drops a repeated `message_id` (duplicate detection on the queue)."""
        from azure.servicebus import ServiceBusMessage

        message = ServiceBusMessage(
            json.dumps(body, separators=(",", ":")), message_id=message_id, content_type="application/json",
        )
        if delay_s > 0:
            message.scheduled_enqueue_time_utc = self._clock() + timedelta(seconds=delay_s)
        with self._lock:
            if self._sender is None:
                self._sender = self._client.get_queue_sender(queue_name=self.queue_name)
            self._sender.send_messages(message)

    def close(self) -> None:
        with self._lock:
            if self._sender is not None:
                self._sender.close()
                self._sender = None
            self._client.close()


_local: dict[tuple[str, str], Any] = {}


def local_queue(name: str, storage: str | None = None) -> Any:
    """The process-wide local queue called `name`: the durable Storage queue on `storage` (default: the
    KOPPEL_STORAGE setting), or the in-process queue when no storage is configured. One object per queue, so
    the app's sender and devhost's subscriber share it (and `drain()` sees the deliveries in flight)."""
    import os

    storage = storage or os.environ.get("KOPPEL_STORAGE")
    if not storage:
        return in_process_queue(name)
    from core.store.job_queue import StorageQueue

    with _registry_lock:
        queue = _local.get((storage, name))
        if queue is None:
            queue = _local[(storage, name)] = StorageQueue(storage, name)
        return queue


def queue_for(service_bus: ServiceBusConfig | None, queue_name: str, storage: str | None = None) -> JobQueue:
    """Service Bus when configured (`Settings.service_bus()`), else the local durable queue of that name."""
    if service_bus is not None:
        return ServiceBusQueue(service_bus_client(service_bus), queue_name)
    result: JobQueue = local_queue(queue_name, storage)
    return result
