"""Fixtures for devhost: a small sample FunctionApp built here (the real app is written elsewhere), served locally."""
from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import azure.functions as func
import pytest

from devhost import LocalHost, serve

KEY = "test-function-key"


@dataclass
class Calls:
    """What the sample functions saw, for assertions."""

    timer: list[func.TimerRequest] = field(default_factory=list)
    messages: list[func.ServiceBusMessage] = field(default_factory=list)
    fail_messages: int = 0
    timer_event: threading.Event = field(default_factory=threading.Event)
    message_event: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)


def build_app(calls: Calls, *, queue_name: str = "devhost-jobs", schedule: str = "0 0 2 * * *",
              timer_s: float = 0.0) -> func.FunctionApp:
    """A FunctionApp with a blueprint of HTTP, timer and Service Bus functions, like function_app.py."""
    app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
    bp = func.Blueprint()

    def echo(req: func.HttpRequest) -> func.HttpResponse:
        payload = {"method": req.method, "route": dict(req.route_params), "params": dict(req.params),
                   "body": req.get_body().decode(), "url": req.url,
                   "header": req.headers.get("x-custom")}
        return func.HttpResponse(json.dumps(payload), mimetype="application/json")

    @bp.route(route="items/{id:int}", methods=["GET", "PUT"])
    def get_item(req: func.HttpRequest) -> func.HttpResponse:
        logging.getLogger("sample").info("reading item %s", req.route_params["id"])
        return echo(req)

    @bp.route(route="items/new", methods=["GET"])
    def new_item(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("literal wins")

    @bp.route(route="items/{name}", methods=["GET"])
    def item_by_name(req: func.HttpRequest) -> func.HttpResponse:
        return echo(req)

    @bp.route(route="files/{*path}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
    def files(req: func.HttpRequest) -> func.HttpResponse:
        return echo(req)

    @bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
    def health(req: func.HttpRequest) -> str:
        return "ok"

    @bp.route(route="elevated", methods=["POST"], auth_level=func.AuthLevel.ADMIN)
    def elevated(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse(status_code=204)

    @bp.route(route="slow", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
    def slow(req: func.HttpRequest) -> func.HttpResponse:
        time.sleep(float(req.params.get("s", "0.5")))
        return func.HttpResponse("done")

    @bp.route(route="async-slow", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
    async def async_slow(req: func.HttpRequest) -> func.HttpResponse:
        await asyncio.sleep(float(req.params.get("s", "0.5")))
        return func.HttpResponse("async done")

    @bp.route(route="boom", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
    def boom(req: func.HttpRequest) -> func.HttpResponse:
        raise RuntimeError("the app must never do this")

    @bp.route(route="headers", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
    def headers(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("<p>x</p>", status_code=201, mimetype="text/html", charset="latin-1",
                                 headers={"X-One": "1", "Set-Cookie": "a=1"})

    @bp.function_name("nightly")
    @bp.timer_trigger(schedule=schedule, arg_name="timer")
    def nightly(timer: func.TimerRequest) -> None:
        time.sleep(timer_s)
        with calls.lock:
            calls.timer.append(timer)
        calls.timer_event.set()

    @bp.service_bus_queue_trigger(arg_name="msg", queue_name=queue_name, connection="ServiceBusConnection")
    def worker(msg: func.ServiceBusMessage) -> None:
        with calls.lock:
            calls.messages.append(msg)
            failing = len(calls.messages) <= calls.fail_messages
        calls.message_event.set()
        if failing:
            raise RuntimeError("transient failure")

    app.register_functions(bp)
    return app


@pytest.fixture(name="calls")
def _calls() -> Calls:
    """A fresh record of what the sample functions saw."""
    return Calls()


@pytest.fixture(name="host", scope="module")
def _host() -> Iterator[LocalHost]:
    """The sample app served with timers off (HTTP tests share it)."""
    host = serve(build_app(Calls(), queue_name="devhost-http-tests"), function_key=KEY, timers=False)
    yield host
    host.stop()


def wait_for(predicate: Any, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return bool(predicate())
