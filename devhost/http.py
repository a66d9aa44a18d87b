"""The HTTP front of devhost: routes requests to HTTP functions, checks keys, serves the admin run API.

It answers like the Functions host: an unknown route, and a known route with a method the function
does not accept, both give 404 with an empty body (azure-functions-host#10098 — the host never
answers 405); a missing or wrong key gives 401 with an empty body; a function that raises gives 500
with an empty body.
"""
from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import azure.functions as func

from devhost.invoke import FunctionInfo, Invoker
from devhost.routes import RouteTemplate

__all__ = ["HttpRoute", "Answer", "HttpFront", "start_server"]

log = logging.getLogger("devhost")

ADMIN_RUN_PREFIX = "/admin/functions/"


@dataclass(frozen=True, slots=True)
class HttpRoute:
    info: FunctionInfo
    template: RouteTemplate
    methods: frozenset[str] | None  # None: every method
    auth_level: str  # "anonymous" | "function" | "admin"


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes = b""


EMPTY_404 = Answer(404, [])
EMPTY_401 = Answer(401, [])
EMPTY_500 = Answer(500, [])


class HttpFront:
    """Turns one parsed request into an `Answer` (no sockets here)."""

    def __init__(self, routes: list[HttpRoute], prefix: str, function_key: str, invoker: Invoker,
                 run_in_background: Callable[[str, str | None], bool]):
        # ASP.NET precedence, then registration order (sort is stable).
        self.routes = sorted(routes, key=lambda r: r.template.precedence)
        self.prefix = prefix.strip("/")
        self.function_key = function_key
        self.invoker = invoker
        self.run_in_background = run_in_background

    def _has_key(self, headers: Message, query: dict[str, str]) -> bool:
        given = headers.get("x-functions-key") or query.get("code") or ""
        return hmac.compare_digest(given.encode(), self.function_key.encode())

    def answer(self, method: str, target: str, headers: Message, body: bytes) -> Answer:
        parts = urlsplit(target)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        if parts.path.startswith(ADMIN_RUN_PREFIX):
            return self._admin_run(method, parts.path[len(ADMIN_RUN_PREFIX):], headers, query, body)
        path = parts.path.strip("/")
        if self.prefix:
            if path.lower() != self.prefix.lower() and not path.lower().startswith(self.prefix.lower() + "/"):
                return EMPTY_404
            path = path[len(self.prefix):]
        for route in self.routes:
            if route.methods is not None and method not in route.methods:
                continue
            params = route.template.match(path)
            if params is None:
                continue
            if route.auth_level != "anonymous" and not self._has_key(headers, query):
                return EMPTY_401
            host = headers.get("Host") or "127.0.0.1"
            request = func.HttpRequest(
                method, f"http://{host}{target}", headers=_joined(headers),
                params=query, route_params=params, body=body,
            )
            try:
                result = self.invoker.invoke(route.info, request, "This function was programmatically called via the host APIs.")
            except Exception:  # noqa: BLE001 - logged by the invoker; the host stays up, as Functions does
                return EMPTY_500
            return _to_answer(result)
        return EMPTY_404

    def _admin_run(self, method: str, name: str, headers: Message, query: dict[str, str], body: bytes) -> Answer:
        # Locally the function key doubles as the master key the real admin API needs.
        if method != "POST":
            return EMPTY_404
        if not self._has_key(headers, query):
            return EMPTY_401
        try:
            payload = json.loads(body) if body.strip() else {}
        except ValueError:
            return Answer(400, [])
        text = payload.get("input") if isinstance(payload, dict) else None
        if not self.run_in_background(name, None if text is None else str(text)):
            return EMPTY_404
        return Answer(202, [])


def _joined(headers: Message) -> dict[str, str]:
    """Headers as one value per name (repeats joined with ", ", as HTTP allows)."""
    out: dict[str, str] = {}
    for name, value in headers.items():
        key = name.lower()
        out[key] = f"{out[key]}, {value}" if key in out else value
    return out


def _to_answer(result: Any) -> Answer:
    if result is None:
        return Answer(204, [])
    if isinstance(result, (str, bytes)):
        result = func.HttpResponse(result)
    if not isinstance(result, func.HttpResponse):
        log.error("HTTP function returned %s, not an HttpResponse", type(result).__name__)
        return EMPTY_500
    headers = [(k, v) for k, v in result.headers.items()]
    # As the worker does: an explicit Content-Type header wins over mimetype/charset.
    if not any(k.lower() == "content-type" for k, _ in headers):
        ct = f"{result.mimetype}; charset={result.charset}" if result.mimetype.startswith("text/") else result.mimetype
        headers.append(("Content-Type", ct))
    return Answer(result.status_code, headers, result.get_body())


def _read_body(handler: BaseHTTPRequestHandler) -> bytes:
    if "chunked" in (handler.headers.get("Transfer-Encoding") or "").lower():
        chunks: list[bytes] = []
        while True:
            size = int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while handler.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(chunks)
            chunks.append(handler.rfile.read(size))
            handler.rfile.readline()
    length = int(handler.headers.get("Content-Length") or 0)
    return handler.rfile.read(length) if length else b""


def start_server(front: HttpFront, host: str, port: int) -> ThreadingHTTPServer:
    """Bind and return the server (not yet serving); each request gets its own thread."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive
        server_version = "KoppelDevHost"

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("%s - %s", self.address_string(), format % args)

        def _dispatch(self) -> None:
            body = _read_body(self)
            try:
                answer = front.answer(self.command, self.path, self.headers, body)
            except Exception:  # noqa: BLE001 - a host bug must not kill the connection thread silently
                log.exception("devhost failed on %s %s", self.command, urlsplit(self.path).path)
                answer = EMPTY_500
            self.send_response(answer.status)
            for name, value in answer.headers:
                if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            if self.command != "HEAD" and answer.body:
                self.wfile.write(answer.body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _dispatch

    return _Server((host, port), Handler)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default 5 makes bursts of clients wait for SYN retries
