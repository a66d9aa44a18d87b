"""The HTTPS server every emulator runs on: parsing, faults, request counts, the common admin routes.

An emulator is a `Service`: it turns a `Request` into a `Response` (raising `WireError` for the
real service's errors) and serves its own `/_admin/` extras. The server adds, in front of it,
what is the same for all three: injected latency, request budgets answering 429 with
`Retry-After`, a share of failures, stalls and a concurrency cap, all switchable at run time by
`POST /_admin/faults` and deterministic given a seed.
"""
from __future__ import annotations

import json
import random
import re
import socket
import ssl
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Protocol
from urllib.parse import parse_qsl, unquote, urlsplit

__all__ = [
    "Request", "Response", "WireError", "Service", "Faults", "EmulatorServer", "json_response",
]

GUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str  # percent-decoded, without the query
    raw_query: str
    query: dict[str, str]  # decoded; the last value of a repeated name wins
    headers: Message
    body: bytes
    base_url: str  # scheme://host:port of this server, for links in answers

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    def json(self) -> Any:
        """The body as JSON; a WireError-friendly ValueError when it is not."""
        return json.loads(self.body or b"null")


@dataclass(slots=True)
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(payload, separators=(",", ":")).encode()
    return Response(status, body, {"Content-Type": "application/json; charset=utf-8", **(headers or {})})


class WireError(Exception):
    """An error answer in the real service's shape: `{"error":{"code","message"}}`."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}

    def to_response(self) -> Response:
        return json_response(self.status, {"error": {"code": self.code, "message": self.message}}, self.headers)


class Service(Protocol):
    """What an emulator implements; the server does the rest."""

    name: str
    retry_after_statuses: frozenset[int]  # injected failures that carry Retry-After, as the service documents

    def handle(self, req: Request) -> Response: ...

    def handle_admin(self, req: Request, action: str) -> Response | None:
        """Serve `/_admin/<action>` (seed, edit, records, reset …); None if unknown."""

    def throttled(self, retry_after_s: int) -> WireError:
        """The service's own 429 for a spent request budget."""

    def route_of(self, req: Request) -> str:
        """The request's route for the counters, ids replaced by placeholders."""


@dataclass(frozen=True, slots=True)
class Faults:
    """Injected misbehaviour; all zero means a well-behaved service."""

    latency_ms: int = 0
    throttle_after: int = 0  # requests allowed per window of retry_after_s; 0 = no budget
    retry_after_s: int = 1
    fail_share: float = 0.0  # share of requests answered with fail_status
    fail_status: int = 503
    stall_next: int = 0  # the next N requests hang for stall_s before being served
    stall_s: float = 5.0
    seed: int = 0

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Faults:
        names = {
            "latencyMs": "latency_ms", "throttleAfter": "throttle_after", "retryAfterS": "retry_after_s",
            "failShare": "fail_share", "failStatus": "fail_status", "stallNext": "stall_next",
            "stallS": "stall_s", "seed": "seed",
        }
        unknown = set(data) - set(names)
        if unknown:
            raise ValueError(f"unknown fault settings: {sorted(unknown)}")
        return cls(**{names[k]: v for k, v in data.items()})

    def to_json(self) -> dict[str, Any]:
        return {
            "latencyMs": self.latency_ms, "throttleAfter": self.throttle_after,
            "retryAfterS": self.retry_after_s, "failShare": self.fail_share,
            "failStatus": self.fail_status, "stallNext": self.stall_next, "stallS": self.stall_s,
            "seed": self.seed,
        }


class _FaultState:
    """The run-time state behind `Faults`: budget window, random stream, stalls left."""

    def __init__(self, faults: Faults):
        self.faults = faults
        self.rng = random.Random(faults.seed)
        self.window_start = time.monotonic()
        self.window_count = 0
        self.stalls_left = faults.stall_next
        self.lock = threading.Lock()

    def decide(self) -> tuple[float, float, int | None, int]:
        """(latency s, stall s, fail status or None, retry-after s or 0 when throttled)."""
        f = self.faults
        with self.lock:
            stall = 0.0
            if self.stalls_left > 0:
                self.stalls_left -= 1
                stall = f.stall_s
            if f.throttle_after:
                now = time.monotonic()
                if now - self.window_start >= f.retry_after_s:
                    self.window_start, self.window_count = now, 0
                self.window_count += 1
                if self.window_count > f.throttle_after:
                    remaining = f.retry_after_s - (now - self.window_start)
                    return f.latency_ms / 1000, 0.0, None, max(1, int(remaining + 0.999))
            fail = f.fail_status if f.fail_share and self.rng.random() < f.fail_share else None
            return f.latency_ms / 1000, stall, fail, 0


class _TlsServer(ThreadingHTTPServer):
    """Threads per connection; the TLS handshake runs on the connection's own thread, so a slow or
    idle client never holds up the accept loop, and TCP_NODELAY is set on every accepted socket so
    a small answer on a keep-alive connection is not held back by Nagle and delayed ACKs."""

    daemon_threads = True
    handshake_timeout_s = 10.0

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], context: ssl.SSLContext):
        super().__init__(address, handler)
        self.context = context

    def finish_request(self, request: Any, client_address: Any) -> None:
        request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        request.settimeout(self.handshake_timeout_s)
        try:
            tls = self.context.wrap_socket(request, server_side=True)
        except (OSError, ssl.SSLError):
            return  # a client that never finished the handshake: drop it
        tls.settimeout(None)
        try:
            self.RequestHandlerClass(tls, client_address, self)  # type: ignore[arg-type]
        finally:
            tls.close()

    def shutdown_request(self, request: Any) -> None:
        try:
            request.close()  # already detached into the TLS socket, which finish_request closed
        except OSError:
            pass


class EmulatorServer:
    """Serves one `Service` over HTTPS on loopback in a background thread."""

    def __init__(
        self,
        service: Service,
        ssl_context: ssl.SSLContext,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        concurrency_cap: int = 0,
        over_cap: Callable[[], WireError] | None = None,
        queue_limit: int = 0,
    ):
        self.service = service
        self._faults = _FaultState(Faults())
        self._counts: Counter[str] = Counter()
        self._counts_lock = threading.Lock()
        # Concurrency: at most `concurrency_cap` requests processing; up to `queue_limit` wait,
        # more are refused at once with `over_cap()` (BC queues, Dataverse refuses).
        self._cap = threading.BoundedSemaphore(concurrency_cap) if concurrency_cap else None
        self._waiting = 0
        self._queue_limit = queue_limit
        self._over_cap = over_cap
        handler = self._handler_class()
        self.httpd = _TlsServer((host, port), handler, ssl_context)
        self.port = self.httpd.server_address[1]
        self.url = f"https://{host}:{self.port}"
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> EmulatorServer:
        self._thread = threading.Thread(target=self.httpd.serve_forever, name=self.service.name, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # -- the admin surface common to all ---------------------------------------------------
    def set_faults(self, faults: Faults) -> None:
        self._faults = _FaultState(faults)

    def request_counts(self) -> dict[str, Any]:
        with self._counts_lock:
            routes = dict(sorted(self._counts.items()))
        return {"total": sum(routes.values()), "routes": routes}

    def reset_counts(self) -> None:
        with self._counts_lock:
            self._counts.clear()

    def _admin(self, req: Request) -> Response:
        action = req.path[len("/_admin/"):]
        if action == "faults" and req.method == "POST":
            try:
                self.set_faults(Faults.from_json(req.json() or {}))
            except (TypeError, ValueError) as err:
                return json_response(400, {"error": {"code": "BadFaults", "message": str(err)}})
            return json_response(200, self._faults.faults.to_json())
        if action == "faults" and req.method == "GET":
            return json_response(200, self._faults.faults.to_json())
        if action == "requests" and req.method == "GET":
            return json_response(200, self.request_counts())
        if action == "requests" and req.method == "DELETE":
            self.reset_counts()
            return Response(204)
        if action == "reset" and req.method == "POST":
            self.set_faults(Faults())
            self.reset_counts()
        answer = self.service.handle_admin(req, action)
        if answer is not None:
            return answer
        if action == "reset":
            return Response(204)
        return json_response(404, {"error": {"code": "NotFound", "message": f"no admin action {action}"}})

    # -- serving -----------------------------------------------------------------------------
    def _serve(self, req: Request) -> Response:
        if req.path.startswith("/_admin/"):
            return self._admin(req)
        with self._counts_lock:
            self._counts[f"{req.method} {self.service.route_of(req)}"] += 1
        latency, stall, fail, retry_after = self._faults.decide()
        if latency:
            time.sleep(latency)
        if retry_after:
            return self.service.throttled(retry_after).to_response()
        if stall:
            time.sleep(stall)
        if fail:
            headers = {"Retry-After": str(self._faults.faults.retry_after_s)} \
                if fail in self.service.retry_after_statuses else {}
            return WireError(fail, "ServiceUnavailable", "Injected failure; try again later.", headers).to_response()
        if self._cap is None:
            return self._call(req)
        if not self._cap.acquire(blocking=False):
            with self._counts_lock:
                if self._waiting >= self._queue_limit:
                    assert self._over_cap is not None
                    return self._over_cap().to_response()
                self._waiting += 1
            self._cap.acquire()
            with self._counts_lock:
                self._waiting -= 1
        try:
            return self._call(req)
        finally:
            self._cap.release()

    def _call(self, req: Request) -> Response:
        try:
            return self.service.handle(req)
        except WireError as err:
            return err.to_response()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the real services
            server_version = "KoppelEmulator"

            def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read counters
                pass

            def _dispatch(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                host = self.headers.get("Host") or f"127.0.0.1:{server.port}"
                req = Request(
                    method=self.command,
                    path=unquote(parts.path),
                    raw_query=parts.query,
                    query=dict(parse_qsl(parts.query, keep_blank_values=True)),
                    headers=self.headers,
                    body=body,
                    base_url=f"https://{host}",
                )
                try:
                    resp = server._serve(req)
                except Exception as err:  # noqa: BLE001 - the real services answer 500, never a trace
                    resp = WireError(500, "Internal_ServerError", f"Internal error ({type(err).__name__}).").to_response()
                self.send_response(resp.status)
                for name, value in resp.headers.items():
                    self.send_header(name, value)
                if resp.status not in (204, 304):
                    self.send_header("Content-Length", str(len(resp.body)))
                self.end_headers()
                if resp.status not in (204, 304) and self.command != "HEAD":
                    self.wfile.write(resp.body)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = do_HEAD = _dispatch

        return Handler


def default_route_of(req: Request) -> str:
    """Path with GUIDs and quoted keys replaced, for request counters."""
    path = GUID_RE.sub("{id}", req.path)
    return re.sub(r"\('[^']*'\)", "({key})", path)
