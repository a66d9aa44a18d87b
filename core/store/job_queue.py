"""The local job queue on Azure Storage queues (Azurite locally), kept to the Service Bus contract the worker needs.

Why Storage queues: Azurite already runs for Table Storage and its Queue service is a real Azure component, so the
queue lives outside the app's process and survives a kill. Its visibility timeout works as Service Bus's peek-lock:
a received message is invisible for `lock_s`, renewed while the handler runs (lock renewal), and reappears by itself
when the receiver dies — with `dequeue_count` as the delivery count. What Storage queues lack is added here:
- dead-lettering: after `max_delivery_count` deliveries the message moves to `<queue>-poison` (the name the
  Functions Storage-queue trigger uses) with the reason;
- duplicate detection: a row per message id in the `KoppelMessageIds` table (PartitionKey = queue name, RowKey =
  the id, SentOn); a send whose id has a row younger than `duplicate_window_s` is dropped, as Service Bus does;
- delayed send: the message's initial visibility timeout (Service Bus's scheduled enqueue time).
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from azure.storage.queue import QueueClient, QueueMessage as StorageMessage

from core.errors import ConfigError
from core.messages import DUPLICATE_WINDOW_S, MAX_DELIVERY_COUNT, DeadLetter, QueueMessage
from core.store._tables import (
    HttpResponseError,
    MatchConditions,
    ResourceExistsError,
    ResourceNotFoundError,
    TableClient,
    UpdateMode,
    key,
)

__all__ = ["StorageQueue", "LOCK_S", "API_VERSION", "IDS_TABLE"]

log = logging.getLogger(__name__)

LOCK_S = 30.0  # the visibility timeout of a received message (Service Bus's lock duration); renewed every third
API_VERSION = "2025-11-05"  # pinned: the SDK's newest is ahead of Azurite's; Azure accepts older versions
IDS_TABLE = "KoppelMessageIds"
Handler = Callable[[QueueMessage], None]


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _check_connection(connection_string: str) -> None:
    parts = {p.split("=", 1)[0].lower() for p in connection_string.split(";") if "=" in p}
    if "tableendpoint" in parts and "queueendpoint" not in parts:
        # With explicit endpoints the SDK would guess the queue's address from the account name: wrong locally.
        raise ConfigError("KOPPEL_STORAGE", "The setting KOPPEL_STORAGE names a TableEndpoint but no QueueEndpoint; "
                          "the local job queue needs one (or set KOPPEL_SERVICEBUS).")


class StorageQueue:
    """Send to and receive from one Storage queue; one subscriber per object, any number of processes."""

    def __init__(self, connection_string: str, name: str, *, lock_s: float = LOCK_S,
                 max_delivery_count: int = MAX_DELIVERY_COUNT, duplicate_window_s: float = DUPLICATE_WINDOW_S,
                 redelivery_delay_s: float = 1.0, clock: Callable[[], dt.datetime] = _utcnow):
        _check_connection(connection_string)
        self.name = name
        self.lock_s = lock_s
        self.max_delivery_count = max_delivery_count
        self.duplicate_window_s = duplicate_window_s
        self.redelivery_delay_s = redelivery_delay_s
        self._clock = clock
        self._queue = QueueClient.from_connection_string(connection_string, name, api_version=API_VERSION)
        self._poison = QueueClient.from_connection_string(connection_string, f"{name}-poison", api_version=API_VERSION)
        self._ids = TableClient.from_connection_string(connection_string, IDS_TABLE)
        self._ready = False
        self._cond = threading.Condition()
        self._in_flight = 0
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._poller: threading.Thread | None = None
        self._slots = threading.Semaphore(1)

    def _ensure(self) -> None:
        if self._ready:
            return
        for make in (self._queue.create_queue, self._poison.create_queue, self._ids.create_table):
            try:
                make()
            except ResourceExistsError:
                pass
        self._ready = True

    # -- sending ------------------------------------------------------------------------------
    def send(self, body: dict[str, Any], *, message_id: str, delay_s: float = 0) -> None:
        """Enqueue `body` (visible after `delay_s`) unless `message_id` was sent within the duplicate window."""
        self._ensure()
        text = json.dumps({"id": message_id, "body": body}, separators=(",", ":"))
        if not self._claim_id(message_id):
            log.info("queue %s: duplicate message_id %s dropped", self.name, message_id)
            return
        try:
            self._queue.send_message(text, visibility_timeout=int(max(0, round(delay_s))) or None)
        except BaseException:
            # Service Bus remembers an id only for a message it accepted: a failed send may be retried.
            self._forget_id(message_id)
            raise
        self._wake.set()

    def _claim_id(self, message_id: str) -> bool:
        """Record `message_id` as sent now; False when it was sent within the window (a duplicate)."""
        now = self._clock()
        pk, rk = key(self.name), key(message_id)
        row = {"PartitionKey": pk, "RowKey": rk, "SentOn": now}
        try:
            self._ids.create_entity(row)
            return True
        except ResourceExistsError:
            pass
        try:
            seen = self._ids.get_entity(pk, rk)
        except ResourceNotFoundError:
            return self._claim_id(message_id)
        if (now - seen["SentOn"]).total_seconds() < self.duplicate_window_s:
            return False
        try:  # etag-conditional: of two senders of an expired id, one wins
            self._ids.update_entity(row, mode=UpdateMode.REPLACE, etag=seen.metadata["etag"],
                                    match_condition=MatchConditions.IfNotModified)
            return True
        except (ResourceNotFoundError, HttpResponseError):
            return False

    def _forget_id(self, message_id: str) -> None:
        try:
            self._ids.delete_entity(key(self.name), key(message_id))
        except HttpResponseError:
            log.warning("queue %s: could not forget message id %s after a failed send", self.name, message_id)

    # -- receiving ----------------------------------------------------------------------------
    def subscribe(self, handler: Handler, *, concurrency: int = 16, lock_s: float | None = None) -> None:
        """Deliver messages to `handler` on up to `concurrency` threads until `unsubscribe()`; `lock_s`
        overrides the lock duration (a kill test wants a dead receiver's message back within seconds)."""
        if self._poller is not None:
            raise RuntimeError(f"queue {self.name!r} already has a subscriber")
        if lock_s:
            self.lock_s = lock_s
        self._ensure()
        self._stop.clear()
        self._slots = threading.Semaphore(concurrency)
        self._poller = threading.Thread(target=self._poll, args=(handler,), name=f"queue-{self.name}", daemon=True)
        self._poller.start()

    def unsubscribe(self, timeout: float = 10.0) -> None:
        """Stop receiving; deliveries in flight finish first (within `timeout`)."""
        self._stop.set()
        self._wake.set()
        if self._poller is not None:
            self._poller.join(timeout)
            self._poller = None
        with self._cond:
            self._cond.wait_for(lambda: self._in_flight == 0, timeout)

    def _poll(self, handler: Handler) -> None:
        idle = 0.05
        while not self._stop.is_set():
            if not self._slots.acquire(timeout=0.5):
                continue
            try:
                message = self._queue.receive_message(visibility_timeout=max(1, round(self.lock_s)))
            except HttpResponseError as err:
                self._slots.release()
                log.warning("queue %s: receive failed: %s", self.name, err.message)
                self._stop.wait(1.0)
                continue
            if message is None:
                self._slots.release()
                # Poll slowly when idle (Azurite is shared); a send from this process wakes the poller at once.
                self._wake.wait(idle)
                self._wake.clear()
                idle = min(idle * 2, 0.5)
                continue
            idle = 0.05
            with self._cond:
                self._in_flight += 1
            threading.Thread(target=self._deliver, args=(handler, message), name=f"queue-{self.name}-delivery",
                             daemon=True).start()

    def _deliver(self, handler: Handler, raw: StorageMessage) -> None:
        lock = _Lock(self, raw)
        try:
            try:
                envelope = json.loads(raw.content)
                message = QueueMessage(envelope["body"], str(envelope["id"]), int(raw.dequeue_count or 1))
            except (ValueError, KeyError, TypeError) as err:
                lock.dead_letter("InvalidMessage", f"{type(err).__name__}: {err}", raw.content, "?")
                return
            if message.delivery_count > self.max_delivery_count:  # its receivers died each time
                lock.dead_letter("MaxDeliveryCountExceeded", "The message was not completed in time on any "
                                 "delivery (the receiver stopped).", message.body, message.message_id)
                return
            lock.start()
            try:
                handler(message)
            except Exception as err:  # noqa: BLE001 - any failure means "abandon", as Service Bus does
                description = f"{type(err).__name__}: {err}"
                if message.delivery_count >= self.max_delivery_count:
                    lock.dead_letter("MaxDeliveryCountExceeded", description, message.body, message.message_id)
                else:
                    log.info("queue %s: message %s failed on delivery %d, will be redelivered (%s)",
                             self.name, message.message_id, message.delivery_count, description)
                    lock.abandon(self.redelivery_delay_s)
                return
            lock.complete()
        finally:
            lock.stop()
            self._slots.release()
            with self._cond:
                self._in_flight -= 1
                self._cond.notify_all()

    # -- observing ----------------------------------------------------------------------------
    def drain(self, timeout: float = 10.0) -> bool:
        """Wait until the queue holds no message (visible, delayed or locked); False if `timeout` passed first."""
        self._ensure()
        deadline = time.monotonic() + timeout
        while True:
            with self._cond:
                busy = self._in_flight
            if not busy and self._queue.get_queue_properties().approximate_message_count == 0:
                with self._cond:  # a delivery may have started between the two reads
                    if self._in_flight == 0:
                        return True
            if time.monotonic() >= deadline:
                return False
            self._stop.wait(0.05)

    @property
    def dead_letters(self) -> list[DeadLetter]:
        """The poison queue's messages (up to 32), oldest first."""
        self._ensure()
        out = []
        for raw in self._poison.peek_messages(max_messages=32):
            env = json.loads(raw.content)
            out.append(DeadLetter(QueueMessage(env["body"], env["id"], int(env.get("deliveryCount", 1))),
                                  env["reason"], env["description"]))
        return out

    def clear(self) -> None:
        """Forget messages, dead letters and this queue's seen ids (between tests)."""
        self._ensure()
        self._queue.clear_messages()
        self._poison.clear_messages()
        for row in self._ids.query_entities("PartitionKey eq @pk", parameters={"pk": key(self.name)},
                                            select=["PartitionKey", "RowKey"]):
            self._ids.delete_entity(row["PartitionKey"], row["RowKey"])


class _Lock:
    """One received message's lock: renewed on a thread while the handler runs, then completed or abandoned."""

    def __init__(self, queue: StorageQueue, raw: StorageMessage):
        self._q = queue
        self._id = raw.id
        self._receipt = raw.pop_receipt
        self._count = int(raw.dequeue_count or 1)
        self._mutex = threading.Lock()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._renew, name=f"queue-{queue.name}-lock", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._done.set()
        if self._thread.is_alive():
            self._thread.join(5)

    def _renew(self) -> None:
        while not self._done.wait(self._q.lock_s / 3):
            self._set_visibility(self._q.lock_s, "renew the lock of")

    def _set_visibility(self, seconds: float, doing: str) -> bool:
        with self._mutex:
            try:
                reply = self._q._queue.update_message(self._id, self._receipt, visibility_timeout=max(0, round(seconds)))
            except HttpResponseError as err:  # lost: it became visible and another receiver took it
                log.warning("queue %s: could not %s message %s: %s", self._q.name, doing, self._id, err.message)
                return False
            self._receipt = reply.pop_receipt
            return True

    def complete(self) -> None:
        self._done.set()
        with self._mutex:
            try:
                self._q._queue.delete_message(self._id, self._receipt)
            except HttpResponseError as err:
                log.warning("queue %s: message %s could not be completed (its lock was lost): %s",
                            self._q.name, self._id, err.message)

    def abandon(self, delay_s: float) -> None:
        self._done.set()
        self._set_visibility(delay_s, "abandon")

    def dead_letter(self, reason: str, description: str, body: Any, message_id: str) -> None:
        log.warning("queue %s: message %s dead-lettered after %d deliveries (%s: %s)",
                    self._q.name, message_id, self._count, reason, description)
        self._q._poison.send_message(json.dumps({"id": message_id, "body": body, "reason": reason,
                                                 "description": description, "deliveryCount": self._count}))
        self.complete()
