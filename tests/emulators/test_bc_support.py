"""Shared helpers for the BC emulator tests: an authenticated client and a local webhook receiver.

Holds no tests itself; the `test_bc_*.py` modules import from it.
"""
from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from emulators.stack import Stack
from tests.conftest import bearer

__all__ = ["Bc", "Receiver", "bc_client", "receiver_fixture"]


# One session for all BC tests: a new TLS context per call (loading the CA bundle) costs ~50 ms.
_SESSION = requests.Session()


@dataclass
class Bc:
    """Requests against one stack's BC emulator with a valid token."""

    stack: Stack
    auth: dict[str, str]
    http: requests.Session = _SESSION

    @property
    def root(self) -> str:
        i = self.stack.info
        return f"{i.bc_url}/v2.0/{i.tenant}/{i.bc_environment}/api/v2.0"

    @property
    def company(self) -> str:
        return f"{self.root}/companies({self.stack.info.bc_company_id})"

    def url(self, path: str) -> str:
        return path if path.startswith("https://") else f"{self.company}/{path}"

    def request(self, method: str, path: str, headers: dict[str, str] | None = None, **kw: Any) -> requests.Response:
        return self.http.request(method, self.url(path), headers={**self.auth, **(headers or {})}, timeout=30, **kw)

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, body: Any, **kw: Any) -> requests.Response:
        return self.request("POST", path, json=body, **kw)

    def patch(self, path: str, body: Any, etag: str | None, **kw: Any) -> requests.Response:
        headers = {"If-Match": etag} if etag is not None else {}
        return self.request("PATCH", path, json=body, headers=headers, **kw)

    def delete(self, path: str, etag: str | None) -> requests.Response:
        return self.request("DELETE", path, headers={"If-Match": etag} if etag is not None else {})

    def create(self, entity: str, body: dict[str, Any]) -> dict[str, Any]:
        resp = self.post(entity, body)
        assert resp.status_code == 201, resp.text
        return dict(resp.json())

    def admin(self, method: str, action: str, body: Any = None) -> requests.Response:
        return self.http.request(method, f"{self.stack.info.bc_url}/_admin/{action}", json=body, timeout=60)

    def seed(self, entity: str, count: int, seed: int = 1) -> list[str]:
        resp = self.admin("POST", "seed", {"entity": entity, "count": count, "seed": seed})
        resp.raise_for_status()
        return list(resp.json()["ids"])


@pytest.fixture(name="bc")
def bc_client(fresh_stack: Stack) -> Bc:
    """A BC client on a freshly reset stack."""
    return Bc(fresh_stack, bearer(fresh_stack, fresh_stack.info.bc_scope))


@dataclass
class Receiver:
    """A subscriber on http://127.0.0.1: echoes validation tokens, records notifications, answers `statuses`."""

    echo: bool = True
    statuses: deque[int] = field(default_factory=deque)
    handshakes: int = 0
    notifications: list[dict[str, Any]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def items(self) -> list[dict[str, Any]]:
        return [item for n in self.notifications for item in n["value"]]

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                token = parse_qs(urlsplit(self.path).query).get("validationToken")
                if token:
                    receiver.handshakes += 1
                    answer, status = (token[0] if receiver.echo else "no").encode(), 200
                else:
                    receiver.notifications.append(json.loads(body))
                    answer, status = b"", receiver.statuses.popleft() if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


@pytest.fixture(name="receiver")
def receiver_fixture() -> Iterator[Receiver]:
    """A webhook subscriber on loopback, stopped after the test."""
    receiver = Receiver().start()
    yield receiver
    receiver.stop()
