"""The app's functions as devhost sees them, and invoking one the way the Python worker does.

Async functions share one event loop (as in the worker, so loop-bound clients cached across
invocations keep working); sync ones run on the caller's thread. Every invocation gets an id,
and log records made during it carry `function_name` and `invocation_id`.
"""
from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
import os
import threading
import time
import uuid
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import azure.functions as func
from azure.functions.servicebus import ServiceBusMessage

__all__ = ["FunctionInfo", "Invoker", "functions_of", "install_log_context", "service_bus_message"]

log = logging.getLogger("devhost")

_current: contextvars.ContextVar[tuple[str, str] | None] = contextvars.ContextVar("devhost_invocation", default=None)
_catalogue: weakref.WeakKeyDictionary[func.FunctionApp, list[FunctionInfo]] = weakref.WeakKeyDictionary()
_catalogue_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class FunctionInfo:
    """One function of the app: its name, trigger type and how to call it."""

    name: str
    trigger_type: str  # the function.json type: httpTrigger, timerTrigger, serviceBusTrigger, …
    arg_name: str
    user_function: Callable[..., Any]
    trigger: Any  # the library's trigger object (route, methods, schedule, queue_name, …)
    wants_context: bool
    directory: str


def functions_of(app: func.FunctionApp) -> list[FunctionInfo]:
    """The app's functions; `get_functions()` is called once per app (it raises on a second call)."""
    with _catalogue_lock:
        cached = _catalogue.get(app)
        if cached is None:
            cached = _catalogue[app] = [_describe(f) for f in app.get_functions()]
        return cached


def _describe(function: Any) -> FunctionInfo:
    trigger = function.get_trigger()
    user_function = function.get_user_function()
    extra = [b.name for b in function.get_bindings() if b.name not in (trigger.name, "$return")]
    if extra:
        raise ValueError(f"devhost supports trigger bindings only; {function.get_function_name()} also binds {extra}")
    try:
        directory = os.path.dirname(inspect.getfile(user_function))
    except TypeError:
        directory = os.getcwd()
    return FunctionInfo(
        name=function.get_function_name(),
        trigger_type=trigger.type,
        arg_name=trigger.name,
        user_function=user_function,
        trigger=trigger,
        wants_context="context" in inspect.signature(user_function).parameters,
        directory=directory,
    )


class _Context:
    """What the worker passes as `context` (func.Context's read-only properties)."""

    def __init__(self, info: FunctionInfo, invocation_id: str):
        self.invocation_id = invocation_id
        self.function_name = info.name
        self.function_directory = info.directory
        self.thread_local_storage = threading.local()
        self.trace_context = None
        self.retry_context = None


class Invoker:
    """Runs functions with logging and invocation ids; owns the event loop for async ones."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="devhost-asyncio", daemon=True)
        self._thread.start()

    def invoke(self, info: FunctionInfo, argument: Any, reason: str) -> Any:
        """Call the function with its trigger argument; logs and re-raises what it raises."""
        invocation_id = str(uuid.uuid4())
        kwargs: dict[str, Any] = {info.arg_name: argument}
        if info.wants_context:
            kwargs["context"] = _Context(info, invocation_id)
        token = _current.set((info.name, invocation_id))
        try:
            log.info("Executing 'Functions.%s' (Reason='%s', Id=%s)", info.name, reason, invocation_id)
            started = time.monotonic()
            try:
                if inspect.iscoroutinefunction(info.user_function):
                    result = asyncio.run_coroutine_threadsafe(
                        self._in_context(info, invocation_id, kwargs), self._loop).result()
                else:
                    result = info.user_function(**kwargs)
            except Exception:
                log.exception("Executed 'Functions.%s' (Failed, Id=%s, Duration=%dms)",
                              info.name, invocation_id, (time.monotonic() - started) * 1000)
                raise
            log.info("Executed 'Functions.%s' (Succeeded, Id=%s, Duration=%dms)",
                     info.name, invocation_id, (time.monotonic() - started) * 1000)
            return result
        finally:
            _current.reset(token)

    @staticmethod
    async def _in_context(info: FunctionInfo, invocation_id: str, kwargs: dict[str, Any]) -> Any:
        # The task runs in the loop thread's context; set the invocation there for its logs.
        _current.set((info.name, invocation_id))
        return await info.user_function(**kwargs)

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        if not self._loop.is_running():
            self._loop.close()


def service_bus_message(body: bytes, *, message_id: str, delivery_count: int,
                        content_type: str | None = "application/json") -> func.ServiceBusMessage:
    """The message object the worker builds for a Service Bus trigger."""
    now = datetime.now(timezone.utc)
    return ServiceBusMessage(
        body=body, message_id=message_id, delivery_count=delivery_count, content_type=content_type,
        application_properties={}, user_properties={}, enqueued_time_utc=now,
    )


_factory_installed = False


def install_log_context() -> None:
    """Give every log record `function_name` and `invocation_id` ("-" outside an invocation)."""
    global _factory_installed
    with _catalogue_lock:
        if _factory_installed:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            current = _current.get()
            record.function_name, record.invocation_id = current if current else ("-", "-")
            return record

        logging.setLogRecordFactory(factory)
        _factory_installed = True
