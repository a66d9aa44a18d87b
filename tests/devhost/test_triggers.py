"""Timer and Service Bus functions under devhost: schedules, admin runs, in-process queue delivery."""
from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import azure.functions as func
import pytest
import requests

from core.queue import in_process_queue
from devhost import LocalHost, serve
from tests.devhost.conftest import KEY, Calls, build_app, wait_for


@pytest.fixture(name="queue_name")
def _queue_name(request: pytest.FixtureRequest) -> Iterator[str]:
    """A queue name private to the test, emptied afterwards."""
    name = f"q-{request.node.name}"
    yield name
    in_process_queue(name).clear()


def admin_run(host: LocalHost, name: str, payload: dict[str, str], key: str | None = KEY) -> requests.Response:
    headers = {"x-functions-key": key} if key else {}
    with requests.Session() as s:
        return s.post(f"{host.url}/admin/functions/{name}", json=payload, headers=headers, timeout=10)


class TestTimers:
    def test_timer_fires_on_its_schedule(self, calls: Calls, queue_name: str) -> None:
        with serve(build_app(calls, queue_name=queue_name, schedule="* * * * * *"), function_key=KEY):
            assert wait_for(lambda: len(calls.timer) >= 2, timeout=5)
        assert all(isinstance(t, func.TimerRequest) and t.past_due is False for t in calls.timer[:1])

    def test_timers_off_means_no_scheduled_runs(self, calls: Calls, queue_name: str) -> None:
        with serve(build_app(calls, queue_name=queue_name, schedule="* * * * * *"), timers=False):
            time.sleep(1.1)  # a scheduled run would have come within 1 s
        assert calls.timer == []

    def test_overlap_is_prevented_between_schedule_and_admin_runs(self, queue_name: str) -> None:
        active, overlaps, runs = 0, 0, 0
        guard = threading.Lock()
        app = func.FunctionApp()

        @app.timer_trigger(schedule="* * * * * *", arg_name="timer")
        def busy(timer: func.TimerRequest) -> None:
            nonlocal active, overlaps, runs
            with guard:
                active += 1
                runs += 1
                overlaps += active > 1
            time.sleep(0.4)
            with guard:
                active -= 1

        with serve(app, function_key=KEY) as host:
            threads = [threading.Thread(target=host.run_function, args=("busy",)) for _ in range(3)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            wait_for(lambda: runs >= 5, timeout=5)
        assert runs >= 5
        assert overlaps == 0

    def test_admin_api_runs_a_timer_now(self, calls: Calls, queue_name: str) -> None:
        with serve(build_app(calls, queue_name=queue_name), function_key=KEY, timers=False) as host:
            resp = admin_run(host, "nightly", {"input": ""})
            assert resp.status_code == 202
            assert calls.timer_event.wait(5)
        assert calls.timer[0].past_due is False

    @pytest.mark.parametrize(
        ("name", "key", "status"),
        [("nightly", None, 401), ("nightly", "wrong", 401), ("nosuch", KEY, 404), ("health", KEY, 404)],
        ids=["no-key", "wrong-key", "unknown-function", "http-function"],
    )
    def test_admin_api_refusals(self, calls: Calls, queue_name: str, name: str, key: str | None,
                                status: int) -> None:
        with serve(build_app(calls, queue_name=queue_name), function_key=KEY, timers=False) as host:
            assert admin_run(host, name, {}, key=key).status_code == status
        assert calls.timer == []


class TestServiceBus:
    def test_message_reaches_the_function(self, calls: Calls, queue_name: str) -> None:
        with serve(build_app(calls, queue_name=queue_name), timers=False):
            in_process_queue(queue_name).send({"job": "j1", "cursor": None}, message_id="j1-0")
            assert in_process_queue(queue_name).drain(5)
        [msg] = calls.messages
        assert isinstance(msg, func.ServiceBusMessage)
        assert json.loads(msg.get_body()) == {"job": "j1", "cursor": None}
        assert msg.message_id == "j1-0"
        assert msg.delivery_count == 1
        assert msg.content_type == "application/json"

    def test_exception_means_redelivery_with_higher_count(self, calls: Calls, queue_name: str) -> None:
        calls.fail_messages = 2
        with serve(build_app(calls, queue_name=queue_name), timers=False):
            in_process_queue(queue_name).send({"job": "j2"}, message_id="j2-0")
            assert in_process_queue(queue_name).drain(10)
        assert [m.delivery_count for m in calls.messages] == [1, 2, 3]
        assert {m.message_id for m in calls.messages} == {"j2-0"}
        assert in_process_queue(queue_name).dead_letters == []

    def test_duplicate_message_id_is_dropped(self, calls: Calls, queue_name: str) -> None:
        with serve(build_app(calls, queue_name=queue_name), timers=False):
            queue = in_process_queue(queue_name)
            queue.send({"n": 1}, message_id="dup")
            queue.send({"n": 2}, message_id="dup")
            assert queue.drain(5)
        assert [json.loads(m.get_body()) for m in calls.messages] == [{"n": 1}]

    def test_messages_sent_while_host_is_down_are_delivered_when_it_starts(
            self, calls: Calls, queue_name: str) -> None:
        in_process_queue(queue_name).send({"n": 1}, message_id="early")
        with serve(build_app(calls, queue_name=queue_name), timers=False):
            assert in_process_queue(queue_name).drain(5)
        assert [m.message_id for m in calls.messages] == ["early"]

    def test_admin_api_runs_the_function_with_input_as_body(self, calls: Calls, queue_name: str) -> None:
        with serve(build_app(calls, queue_name=queue_name), function_key=KEY, timers=False) as host:
            assert admin_run(host, "worker", {"input": '{"job": "manual"}'}).status_code == 202
            assert calls.message_event.wait(5)
        assert json.loads(calls.messages[0].get_body()) == {"job": "manual"}

    def test_run_function_raises_what_the_function_raises(self, calls: Calls, queue_name: str) -> None:
        calls.fail_messages = 1
        with serve(build_app(calls, queue_name=queue_name), timers=False) as host:
            with pytest.raises(RuntimeError, match="transient"):
                host.run_function("worker", '{"x": 1}')

    def test_stop_unsubscribes_so_a_new_host_can_take_the_queue(self, calls: Calls, queue_name: str) -> None:
        with serve(build_app(calls, queue_name=queue_name), timers=False):
            pass
        with serve(build_app(calls, queue_name=queue_name), timers=False):
            in_process_queue(queue_name).send({}, message_id="after")
            assert in_process_queue(queue_name).drain(5)
        assert len(calls.messages) == 1


class TestApp:
    def test_get_functions_is_called_once_per_app(self, calls: Calls, queue_name: str) -> None:
        app = build_app(calls, queue_name=queue_name)
        with serve(app, timers=False):
            pass
        with serve(app, timers=False) as again:  # a second get_functions() would raise ValueError
            assert "nightly" in again.functions

    def test_async_function_gets_its_context(self, queue_name: str) -> None:
        seen: list[str] = []
        app = func.FunctionApp()

        @app.timer_trigger(schedule="0 0 2 * * *", arg_name="timer")
        async def tick(timer: func.TimerRequest, context: func.Context) -> None:
            seen.append(context.function_name)
            seen.append(context.invocation_id)

        with serve(app, timers=False) as host:
            host.run_function("tick")
        assert seen[0] == "tick" and len(seen[1]) == 36


class TestSettings:
    def test_app_setting_references_are_resolved(self, queue_name: str, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("DEVHOST_TEST_QUEUE", queue_name)
        got: list[str] = []
        app = func.FunctionApp()

        @app.service_bus_queue_trigger(arg_name="msg", queue_name="%DEVHOST_TEST_QUEUE%", connection="SB")
        def on_job(msg: func.ServiceBusMessage) -> None:
            got.append(msg.message_id)

        with serve(app, timers=False):
            in_process_queue(queue_name).send({}, message_id="resolved")
            assert in_process_queue(queue_name).drain(5)
        assert got == ["resolved"]

    def test_admin_api_with_a_body_that_is_not_json_is_400(self, calls: Calls, queue_name: str) -> None:
        with serve(build_app(calls, queue_name=queue_name), function_key=KEY, timers=False) as host:
            with requests.Session() as s:
                resp = s.post(f"{host.url}/admin/functions/nightly", data=b"{nope",
                              headers={"x-functions-key": KEY}, timeout=10)
        assert resp.status_code == 400
        assert calls.timer == []

    @pytest.mark.parametrize(
        ("host_json", "expected_most"),
        [(None, 4), ('{"extensions": {"serviceBus": {"maxConcurrentCalls": 1}}}', 1)],
        ids=["default-16", "host-json-1"],
    )
    def test_max_concurrent_calls_from_host_json(self, queue_name: str, tmp_path: Path, host_json: str | None,
                                                 expected_most: int) -> None:
        if host_json:
            (tmp_path / "host.json").write_text(host_json)
        active, most = 0, 0
        guard = threading.Lock()
        app = func.FunctionApp()

        @app.service_bus_queue_trigger(arg_name="msg", queue_name=queue_name, connection="SB")
        def on_job(msg: func.ServiceBusMessage) -> None:
            nonlocal active, most
            with guard:
                active += 1
                most = max(most, active)
            time.sleep(0.2)
            with guard:
                active -= 1

        for i in range(4):
            in_process_queue(queue_name).send({}, message_id=f"m{i}")
        with serve(app, timers=False, app_dir=tmp_path):
            assert in_process_queue(queue_name).drain(5)
        assert most == expected_most
