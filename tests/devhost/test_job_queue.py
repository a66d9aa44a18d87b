"""The durable local job queue (core/store/job_queue.py) on Azurite's Queue service: Service Bus's contract."""
from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import pytest

from core.queue import QueueMessage
from core.store.job_queue import StorageQueue
from devhost.azurite import PROJECT_ROOT, QUEUE_MAIN, start_azurite

pytestmark = pytest.mark.skipif(not (PROJECT_ROOT / QUEUE_MAIN).exists(),
                                reason="node_modules/azurite is missing: run `npm install` in the project root")


@pytest.fixture(name="conn", scope="module")
def _conn() -> Iterator[str]:
    with start_azurite() as azurite:
        yield azurite.connection_string


def _queue(conn: str, **kw: float) -> StorageQueue:
    return StorageQueue(conn, f"q-{uuid.uuid4().hex[:12]}", redelivery_delay_s=0, **kw)  # type: ignore[arg-type]


_RECEIVER = """
import sys, threading
from core.store.job_queue import StorageQueue
q = StorageQueue(sys.argv[1], sys.argv[2], lock_s=1)
def hang(message):
    print(message.delivery_count, flush=True)
    threading.Event().wait()  # never completes: the test kills this process mid-delivery
q.subscribe(hang, concurrency=1)
threading.Event().wait()
"""


def test_a_message_survives_a_killed_receiver_and_comes_back_with_a_delivery_count(conn: str) -> None:
    sender = _queue(conn, lock_s=1)
    sender.send({"n": 1}, message_id="m1")
    proc = subprocess.Popen([sys.executable, "-c", _RECEIVER, conn, sender.name], stdout=subprocess.PIPE,
                            cwd=PROJECT_ROOT, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "1"
    finally:
        proc.kill()  # SIGKILL: no completion, no abandon, no more lock renewals
        proc.wait(5)
        proc.stdout.close()  # type: ignore[union-attr]
    again: list[QueueMessage] = []
    sender.subscribe(again.append, concurrency=1)
    try:
        _wait(lambda: again, timeout=10)
        assert again[0].body == {"n": 1} and again[0].message_id == "m1" and again[0].delivery_count == 2
        assert sender.drain(5)
    finally:
        sender.unsubscribe()


def test_the_lock_is_renewed_while_the_handler_runs(conn: str) -> None:
    queue = _queue(conn, lock_s=1)
    seen: list[int] = []

    def slow(message: QueueMessage) -> None:
        seen.append(message.delivery_count)
        time.sleep(3)  # three lock durations: without renewal it would be delivered again meanwhile

    queue.subscribe(slow, concurrency=4)
    try:
        queue.send({}, message_id="slow")
        assert queue.drain(15)
        assert seen == [1]
    finally:
        queue.unsubscribe()


def test_failures_redeliver_then_dead_letter_after_the_max_delivery_count(conn: str) -> None:
    queue = _queue(conn, max_delivery_count=3)
    counts: list[int] = []

    def fails(message: QueueMessage) -> None:
        counts.append(message.delivery_count)
        raise RuntimeError("boom")

    queue.subscribe(fails, concurrency=1)
    try:
        queue.send({"k": "v"}, message_id="bad")
        assert queue.drain(15)
    finally:
        queue.unsubscribe()
    assert counts == [1, 2, 3]
    [dead] = queue.dead_letters
    assert dead.reason == "MaxDeliveryCountExceeded" and "boom" in dead.description
    assert dead.message.body == {"k": "v"} and dead.message.message_id == "bad"


def test_a_repeated_message_id_is_dropped_within_the_window_and_sent_after_it(conn: str) -> None:
    queue = _queue(conn, duplicate_window_s=2)
    got: list[QueueMessage] = []
    queue.subscribe(got.append, concurrency=1)
    try:
        queue.send({"n": 1}, message_id="same")
        queue.send({"n": 2}, message_id="same")
        assert queue.drain(5)
        assert [m.body for m in got] == [{"n": 1}]
        time.sleep(2.1)
        queue.send({"n": 3}, message_id="same")
        assert queue.drain(5)
        assert [m.body for m in got] == [{"n": 1}, {"n": 3}]
    finally:
        queue.unsubscribe()


def test_a_delayed_message_waits(conn: str) -> None:
    queue = _queue(conn)
    got: list[float] = []
    queue.subscribe(lambda m: got.append(time.monotonic()), concurrency=1)
    try:
        sent = time.monotonic()
        queue.send({}, message_id="later", delay_s=2)
        assert queue.drain(10)  # drain counts the delayed message too
        assert got and got[0] - sent >= 1.5
    finally:
        queue.unsubscribe()


def _wait(cond: object, timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not cond():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
