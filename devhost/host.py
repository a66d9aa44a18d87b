"""`serve(app)`: runs a Python v2 `FunctionApp` locally the way the Functions host would.

HTTP functions on `http://host:port/<routePrefix>/<route>`, timers on their schedules, Service Bus
queue triggers fed by `core.queue.local_queue` (the durable Storage queue on KOPPEL_STORAGE, so messages outlive
this process; the in-memory queue when no storage is set), and `POST /admin/functions/<name>`
to run any non-HTTP function now. A thin adapter: the app itself runs unchanged under `func start`.
"""
from __future__ import annotations

import functools
import json
import logging
import os
import re
import secrets
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

import azure.functions as func
from azure.functions.timer import TimerRequest

from core.queue import QueueMessage, local_queue
from devhost.http import HttpFront, HttpRoute, start_server
from devhost.invoke import FunctionInfo, Invoker, functions_of, install_log_context, service_bus_message
from devhost.ncrontab import parse_schedule
from devhost.routes import compile_route
from devhost.timers import TimerRunner

__all__ = ["LocalHost", "serve"]

log = logging.getLogger("devhost")

ADMIN_REASON = "This function was programmatically called via the host APIs."
_SETTING = re.compile(r"%([^%]+)%")


def _resolve(text: str) -> str:
    """`%NAME%` app-setting references, as the host resolves them in trigger attributes."""
    def setting(match: re.Match[str]) -> str:
        value = os.environ.get(match.group(1))
        if not value:  # the Functions host refuses to index such a function too
            raise RuntimeError(f"trigger attribute {text!r}: app setting {match.group(1)} is not set")
        return value

    return _SETTING.sub(setting, text)


def _app_dir(app: func.FunctionApp) -> Path:
    """The folder of the module that holds `app` (where host.json lives), else the cwd."""
    for module in list(sys.modules.values()):
        file = getattr(module, "__file__", None)
        if file and any(value is app for value in list(vars(module).values())):
            return Path(file).resolve().parent
    return Path.cwd()


def _host_json(app_dir: Path) -> dict[str, Any]:
    host_json = app_dir / "host.json"
    if not host_json.exists():
        return {}
    config = json.loads(host_json.read_text(encoding="utf-8"))
    return config if isinstance(config, dict) else {}


def _route_prefix(config: dict[str, Any]) -> str:
    return str(config.get("extensions", {}).get("http", {}).get("routePrefix", "api"))


def _max_concurrent_calls(config: dict[str, Any]) -> int:
    # Functions' default for the Service Bus extension when host.json does not say.
    return int(config.get("extensions", {}).get("serviceBus", {}).get("maxConcurrentCalls", 16))


def _http_route(info: FunctionInfo) -> HttpRoute:
    trigger = info.trigger
    route = (trigger.route or info.name).strip("/")
    if route.lower().startswith("admin"):
        # The Functions host refuses these at start-up ("conflicts with one or more built in routes",
        # azure-functions-host#1781): fail here too, so it shows before a deployment does.
        raise ValueError(f"Function {info.name}: route {route!r} conflicts with the host's built-in admin routes")
    methods = trigger.methods
    level = trigger.auth_level
    return HttpRoute(
        info=info,
        template=compile_route(trigger.route or info.name),
        methods=None if not methods else frozenset(str(getattr(m, "value", m)).upper() for m in methods),
        auth_level=str(getattr(level, "value", level) or "function").lower(),
    )


class LocalHost:
    """A running host; `stop()` ends timers, queue subscriptions and the HTTP server."""

    def __init__(self, app: func.FunctionApp, *, host: str, port: int, function_key: str,
                 timers: bool, route_prefix: str, max_concurrent_calls: int = 16):
        self.function_key = function_key
        self.route_prefix = route_prefix
        self.max_concurrent_calls = max_concurrent_calls
        self.functions = {info.name: info for info in functions_of(app)}
        self._locks = {name: threading.Lock() for name in self.functions}
        self._timers: list[TimerRunner] = []
        self._queues: list[str] = []
        self._stopped = False
        routes = [_http_route(i) for i in self.functions.values() if i.trigger_type == "httpTrigger"]
        self._invoker = Invoker()
        front = HttpFront(routes, route_prefix, function_key, self._invoker, self._run_in_background)
        try:
            self._server = start_server(front, host, port)
        except BaseException:
            self._invoker.close()
            raise
        self.url = f"http://{host}:{self._server.server_address[1]}"
        # A short poll interval keeps stop() quick; the cost is a wake-up every 50 ms.
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="devhost-http", daemon=True)
        try:
            self._subscribe_queues()
            if timers:
                self._start_timers()
        except BaseException:
            self.stop()
            raise
        self._thread.start()

    # -- triggers -----------------------------------------------------------------------------
    def _subscribe_queues(self) -> None:
        for info in self.functions.values():
            if info.trigger_type != "serviceBusTrigger":
                continue
            name = _resolve(info.trigger.queue_name)
            connection = info.trigger.connection
            if connection and (os.environ.get(connection) or os.environ.get(f"{connection}__fullyQualifiedNamespace")):
                log.warning("%s: app setting %s is set, but devhost only delivers messages sent to the "
                            "local queue %r (Service Bus cannot be reached locally)", info.name, connection, name)
            lock_s = float(os.environ.get("DEVHOST_QUEUE_LOCK_S") or 0) or None  # see devhost/README
            local_queue(name).subscribe(functools.partial(self._deliver, info),
                                        concurrency=self.max_concurrent_calls, lock_s=lock_s)
            self._queues.append(name)

    def _deliver(self, info: FunctionInfo, message: QueueMessage) -> None:
        body = json.dumps(message.body).encode()
        sb = service_bus_message(body, message_id=message.message_id, delivery_count=message.delivery_count)
        # Raising makes the queue redeliver, as an abandoned Service Bus message is.
        self._invoker.invoke(info, sb, f"New ServiceBus message detected on '{info.trigger.queue_name}'.")

    def _start_timers(self) -> None:
        for info in self.functions.values():
            if info.trigger_type != "timerTrigger":
                continue
            schedule = parse_schedule(_resolve(info.trigger.schedule))
            runner = TimerRunner(info, schedule, self._invoker.invoke, self._locks[info.name],
                                 run_on_startup=bool(info.trigger.run_on_startup))
            self._timers.append(runner.start())

    # -- running a function now ---------------------------------------------------------------
    def run_function(self, name: str, input: str | None = None) -> Any:
        """Invoke a non-HTTP function now and wait for it; re-raises what the function raises.

        A timer gets `TimerRequest(past_due=False)` and waits for a scheduled run in progress;
        a Service Bus function gets `input` as the message body (delivery_count 1).
        """
        info = self.functions[name]
        if info.trigger_type == "timerTrigger":
            with self._locks[name]:
                return self._invoker.invoke(info, TimerRequest(past_due=False), ADMIN_REASON)
        if info.trigger_type == "serviceBusTrigger":
            message = service_bus_message((input or "").encode(), message_id=uuid.uuid4().hex, delivery_count=1)
            return self._invoker.invoke(info, message, ADMIN_REASON)
        raise ValueError(f"{name} is a {info.trigger_type} function; devhost runs timer and Service Bus functions")

    def _run_in_background(self, name: str, input: str | None) -> bool:
        """For the admin API: start the run and answer at once (the real host answers 202)."""
        info = next((i for n, i in self.functions.items() if n.lower() == name.lower()), None)
        if info is None or info.trigger_type not in ("timerTrigger", "serviceBusTrigger"):
            return False

        def run() -> None:
            try:
                self.run_function(info.name, input)
            except Exception:  # noqa: BLE001 - already logged by the invoker with its invocation id
                pass

        threading.Thread(target=run, name=f"admin-{info.name}", daemon=True).start()
        return True

    # -- lifecycle ----------------------------------------------------------------------------
    def stop(self) -> None:
        """Stop serving; idempotent."""
        if self._stopped:
            return
        self._stopped = True
        for runner in self._timers:
            runner.stop()
        for name in self._queues:
            local_queue(name).unsubscribe()
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()
        self._invoker.close()

    def __enter__(self) -> LocalHost:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve(app: func.FunctionApp, *, host: str = "127.0.0.1", port: int = 0, function_key: str | None = None,
          timers: bool = True, route_prefix: str | None = None, app_dir: Path | None = None) -> LocalHost:
    """Serve `app` in background threads until `.stop()`.

    Args:
        app: the FunctionApp (its `get_functions()` is called once per app object, ever).
        host, port: where to listen; port 0 picks a free one (see `.url`).
        function_key: the key FUNCTION and ADMIN routes and the admin API accept; generated if None.
        timers: run timer functions on their schedules (admin runs work either way).
        route_prefix: overrides host.json `extensions.http.routePrefix` (default "api").
        app_dir: where host.json is; by default the folder of the module holding `app`. Its
            `extensions.serviceBus.maxConcurrentCalls` (default 16) sets the worker threads per queue.
    """
    install_log_context()
    config = _host_json(app_dir or _app_dir(app))
    key = function_key or secrets.token_urlsafe(32)
    return LocalHost(app, host=host, port=port, function_key=key, timers=timers,
                     route_prefix=_route_prefix(config) if route_prefix is None else route_prefix,
                     max_concurrent_calls=_max_concurrent_calls(config))
