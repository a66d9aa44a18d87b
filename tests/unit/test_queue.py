"""core.queue: the in-process queue keeps Service Bus's duplicate detection, redelivery and dead-lettering."""
from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from core.errors import ConfigError
from core.queue import InProcessQueue, QueueMessage, ServiceBusQueue, in_process_queue, local_queue, queue_for
from core.store.job_queue import StorageQueue


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(name="clock")
def _clock() -> FakeClock:
    """A monotonic clock the test moves by hand."""
    return FakeClock()


@pytest.fixture(name="queue")
def _queue(clock: FakeClock) -> Iterator[InProcessQueue]:
    """A private queue with no redelivery delay, unsubscribed at the end."""
    q = InProcessQueue("test", redelivery_delay_s=0, clock=clock, max_delivery_count=3)
    yield q
    q.unsubscribe()


class Recorder:
    """A handler that records deliveries and fails the first `fail` of them."""

    def __init__(self, fail: int = 0) -> None:
        self.fail = fail
        self.seen: list[QueueMessage] = []
        self.lock = threading.Lock()

    def __call__(self, message: QueueMessage) -> None:
        with self.lock:
            self.seen.append(message)
            if len(self.seen) <= self.fail:
                raise RuntimeError(f"boom {len(self.seen)}")


class TestInProcessQueue:
    def test_delivers_body_and_id_on_first_try(self, queue: InProcessQueue) -> None:
        rec = Recorder()
        queue.subscribe(rec)
        queue.send({"job": "a", "n": [1]}, message_id="m1")
        assert queue.drain(5)
        assert rec.seen == [QueueMessage({"job": "a", "n": [1]}, "m1", 1)]

    def test_messages_sent_before_subscribing_wait(self, queue: InProcessQueue) -> None:
        queue.send({"x": 1}, message_id="early")
        assert queue.pending == 1
        rec = Recorder()
        queue.subscribe(rec)
        assert queue.drain(5)
        assert [m.message_id for m in rec.seen] == ["early"]

    def test_sender_mutation_after_send_does_not_leak(self, queue: InProcessQueue) -> None:
        body: dict[str, Any] = {"items": [1]}
        queue.send(body, message_id="m")
        body["items"].append(2)
        rec = Recorder()
        queue.subscribe(rec)
        assert queue.drain(5)
        assert rec.seen[0].body == {"items": [1]}

    def test_body_that_json_cannot_carry_is_refused_at_send(self, queue: InProcessQueue) -> None:
        with pytest.raises(TypeError):
            queue.send({"when": object()}, message_id="m")

    def test_repeated_id_inside_window_is_dropped(self, queue: InProcessQueue, clock: FakeClock) -> None:
        rec = Recorder()
        queue.subscribe(rec)
        queue.send({"v": 1}, message_id="same")
        clock.now += 599
        queue.send({"v": 2}, message_id="same")
        assert queue.drain(5)
        assert [m.body for m in rec.seen] == [{"v": 1}]

    def test_repeated_id_after_window_is_delivered(self, queue: InProcessQueue, clock: FakeClock) -> None:
        rec = Recorder()
        queue.subscribe(rec)
        queue.send({"v": 1}, message_id="same")
        assert queue.drain(5)
        clock.now += 600
        queue.send({"v": 2}, message_id="same")
        assert queue.drain(5)
        assert [m.body for m in rec.seen] == [{"v": 1}, {"v": 2}]

    def test_handler_error_redelivers_with_incremented_count(self, queue: InProcessQueue) -> None:
        rec = Recorder(fail=2)
        queue.subscribe(rec)
        queue.send({"v": 1}, message_id="m")
        assert queue.drain(5)
        assert [m.delivery_count for m in rec.seen] == [1, 2, 3]
        assert queue.dead_letters == []

    def test_dead_letters_after_max_delivery_count(self, queue: InProcessQueue) -> None:
        rec = Recorder(fail=99)
        queue.subscribe(rec)
        queue.send({"v": 1}, message_id="poison")
        assert queue.drain(5)
        assert len(rec.seen) == 3
        [dead] = queue.dead_letters
        assert dead.reason == "MaxDeliveryCountExceeded"
        assert dead.message.message_id == "poison" and dead.message.delivery_count == 3
        assert "boom 3" in dead.description

    def test_delayed_message_waits_for_the_clock(self, queue: InProcessQueue, clock: FakeClock) -> None:
        rec = Recorder()
        queue.subscribe(rec)
        queue.send({"v": 1}, message_id="later", delay_s=30)
        assert not queue.drain(0.2)
        assert rec.seen == []
        clock.now += 30
        assert queue.drain(5)
        assert [m.message_id for m in rec.seen] == ["later"]

    def test_redelivery_waits_the_backoff(self, clock: FakeClock) -> None:
        q = InProcessQueue("backoff", redelivery_delay_s=5, clock=clock)
        rec = Recorder(fail=1)
        q.subscribe(rec)
        try:
            q.send({}, message_id="m")
            assert not q.drain(0.3)
            assert len(rec.seen) == 1
            clock.now += 5
            assert q.drain(5)
            assert len(rec.seen) == 2
        finally:
            q.unsubscribe()

    def test_drain_reports_a_handler_still_running(self, queue: InProcessQueue) -> None:
        release = threading.Event()
        queue.subscribe(lambda m: (release.wait(5), None)[1])
        queue.send({}, message_id="slow")
        assert not queue.drain(0.2)
        release.set()
        assert queue.drain(5)

    def test_second_subscriber_is_refused(self, queue: InProcessQueue) -> None:
        queue.subscribe(Recorder())
        with pytest.raises(RuntimeError, match="already has a subscriber"):
            queue.subscribe(Recorder())

    def test_after_unsubscribe_messages_wait_again(self, queue: InProcessQueue) -> None:
        queue.subscribe(Recorder())
        queue.unsubscribe()
        queue.send({}, message_id="m")
        assert not queue.drain(0.2)
        rec = Recorder()
        queue.subscribe(rec)
        assert queue.drain(5)
        assert len(rec.seen) == 1

    def test_concurrent_workers_share_the_load(self) -> None:
        q = InProcessQueue("wide", concurrency=4)
        started = threading.Barrier(4, timeout=5)
        q.subscribe(lambda m: (started.wait(), None)[1])
        try:
            for i in range(4):
                q.send({}, message_id=f"m{i}")
            assert q.drain(5)  # a single worker would break the barrier and redeliver forever
            assert q.dead_letters == []
        finally:
            q.unsubscribe()


class TestRegistryAndFactory:
    def test_same_name_is_the_same_queue(self) -> None:
        assert in_process_queue("registry-a") is in_process_queue("registry-a")
        assert in_process_queue("registry-a") is not in_process_queue("registry-b")

    def test_no_service_bus_and_no_storage_means_in_process(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv("KOPPEL_STORAGE", raising=False)
        assert queue_for(None, "factory-q") is in_process_queue("factory-q")

    def test_storage_without_service_bus_means_the_durable_storage_queue(self) -> None:
        conn = ("DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
                "TableEndpoint=http://127.0.0.1:1/devstoreaccount1;QueueEndpoint=http://127.0.0.1:2/devstoreaccount1;")
        queue = queue_for(None, "jobs-x", conn)
        assert isinstance(queue, StorageQueue)
        assert queue is local_queue("jobs-x", conn)  # one object per queue: sender and subscriber share it

    def test_storage_with_explicit_table_endpoint_but_no_queue_endpoint_is_a_config_error(self) -> None:
        conn = "AccountName=devstoreaccount1;AccountKey=a2V5;TableEndpoint=http://127.0.0.1:1/devstoreaccount1;"
        with pytest.raises(ConfigError, match="QueueEndpoint"):
            queue_for(None, "jobs-y", conn)

    def test_deps_refuses_to_guess_the_queue_name(self) -> None:
        from core.deps import Deps
        from core.settings import Settings

        deps = Deps(Settings({"KOPPEL_STORAGE": "UseDevelopmentStorage=true"}))
        with pytest.raises(ConfigError) as caught:
            deps.queue()
        assert caught.value.setting == "KOPPEL_QUEUE_NAME"



SB_CONN = "Endpoint=sb://example.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=c2VjcmV0"
NAMESPACE = "koppel-sb.servicebus.windows.net"


def _deps_queue(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> tuple[Any, list[dict[str, Any]]]:
    """deps.queue() for these settings (as read from the environment), with the DefaultAzureCredential
    constructions it made; the SDK's real clients are built, nothing connects."""
    import azure.identity

    from core.deps import Deps
    from core.settings import Settings

    made: list[dict[str, Any]] = []
    real = azure.identity.DefaultAzureCredential

    def spy(**kwargs: Any) -> Any:
        made.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(azure.identity, "DefaultAzureCredential", spy)
    base = {"KOPPEL_QUEUE_NAME": "koppel-jobs", "KOPPEL_STORAGE": "UseDevelopmentStorage=true"}
    return Deps(Settings.from_env(base | env)).queue(), made


class TestServiceBusClient:
    """Which settings give which Service Bus client: the sender must use what main.bicep sets for the trigger."""

    def test_identity_form_means_the_namespace_by_managed_identity(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from azure.identity import DefaultAzureCredential

        queue, made = _deps_queue({"KOPPEL_SERVICEBUS__fullyQualifiedNamespace": NAMESPACE,
                                   "KOPPEL_SERVICEBUS__clientId": "0000-uami", "WEBSITE_INSTANCE_ID": "i1"},
                                  monkeypatch)
        assert isinstance(queue, ServiceBusQueue)
        assert queue.queue_name == "koppel-jobs"
        assert queue._client.fully_qualified_namespace == NAMESPACE
        assert isinstance(queue._client._credential, DefaultAzureCredential)
        assert made == [{"managed_identity_client_id": "0000-uami"}]  # the app's user-assigned identity
        queue.close()

    def test_identity_form_without_client_id_means_the_system_identity(self, monkeypatch: pytest.MonkeyPatch) -> None:
        queue, made = _deps_queue({"KOPPEL_SERVICEBUS__fullyQualifiedNamespace": NAMESPACE}, monkeypatch)
        assert made == [{"managed_identity_client_id": None}]
        queue.close()

    def test_identity_form_wins_over_a_connection_string(self, monkeypatch: pytest.MonkeyPatch) -> None:
        queue, made = _deps_queue({"KOPPEL_SERVICEBUS__fullyQualifiedNamespace": NAMESPACE,
                                   "KOPPEL_SERVICEBUS": SB_CONN}, monkeypatch)
        assert queue._client.fully_qualified_namespace == NAMESPACE and len(made) == 1
        queue.close()

    def test_connection_string_means_service_bus_by_its_key(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from azure.servicebus._base_handler import ServiceBusSharedKeyCredential

        queue, made = _deps_queue({"KOPPEL_SERVICEBUS": SB_CONN}, monkeypatch)
        assert isinstance(queue, ServiceBusQueue)
        assert queue._client.fully_qualified_namespace == "example.servicebus.windows.net"
        assert isinstance(queue._client._credential, ServiceBusSharedKeyCredential)
        assert made == []
        queue.close()

    def test_in_azure_without_service_bus_starting_a_job_is_a_config_error(self,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
        with pytest.raises(ConfigError) as caught:
            _deps_queue({"WEBSITE_INSTANCE_ID": "i1"}, monkeypatch)
        assert caught.value.setting == "KOPPEL_SERVICEBUS__fullyQualifiedNamespace"
        assert "KOPPEL_SERVICEBUS__fullyQualifiedNamespace" in str(caught.value)

    def test_locally_without_service_bus_the_local_queue(self, monkeypatch: pytest.MonkeyPatch) -> None:
        queue, made = _deps_queue({}, monkeypatch)
        assert isinstance(queue, StorageQueue) and made == []

    def test_connection_check_says_whether_jobs_can_start(self) -> None:
        from core.actions.connection import _queue
        from core.deps import Deps
        from core.settings import Settings

        report = _queue(Deps(Settings({"WEBSITE_INSTANCE_ID": "i1"})))
        assert report["ok"] is False and report["setting"] == "KOPPEL_SERVICEBUS__fullyQualifiedNamespace"
        identity = _queue(Deps(Settings({"KOPPEL_SERVICEBUS__fullyQualifiedNamespace": NAMESPACE})))
        assert identity == {"ok": True, "kind": "serviceBus", "identity": True}
        assert _queue(Deps(Settings({"KOPPEL_SERVICEBUS": SB_CONN})))["identity"] is False
        assert _queue(Deps(Settings({}))) == {"ok": True, "kind": "local"}

    def test_the_shared_access_key_is_a_secret(self) -> None:
        from core.settings import Settings

        assert "c2VjcmV0" in Settings({"KOPPEL_SERVICEBUS": SB_CONN}).secrets()

def test_the_dead_job_threshold_is_the_hosts_function_timeout() -> None:
    """A job unchanged for longer than a function may run is dead only if that is what host.json says."""
    import datetime as dt
    import json
    from pathlib import Path

    from core.sync.dead_jobs import FUNCTION_TIMEOUT

    hours, minutes, seconds = (int(p) for p in json.loads(
        (Path(__file__).resolve().parents[2] / "host.json").read_text())["functionTimeout"].split(":"))
    assert FUNCTION_TIMEOUT == dt.timedelta(hours=hours, minutes=minutes, seconds=seconds)
