"""Shared fakes for the OData unit tests (no tests here): a scripted transport mounted on a requests.Session."""
from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import requests
from requests.adapters import BaseAdapter

Handler = Callable[[requests.PreparedRequest], "requests.Response | Exception"]


def make_response(status: int, body: Any = None, headers: Mapping[str, str] | None = None,
                  raw: bytes | None = None) -> requests.Response:
    resp = requests.Response()
    resp.status_code = status
    resp._content = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
    resp.headers.update(headers or {})
    return resp


class FakeAdapter(BaseAdapter):
    """Answers each request with `handler(request)`; an Exception result is raised, as the wire would."""

    def __init__(self, handler: Handler):
        super().__init__()
        self.handler = handler
        self.requests: list[requests.PreparedRequest] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        self.requests.append(request)
        answer = self.handler(request)
        if isinstance(answer, Exception):
            raise answer
        answer.request = request
        answer.url = request.url or ""
        answer.connection = self  # type: ignore[assignment]
        return answer

    def close(self) -> None:
        pass


def fake_session(handler: Handler) -> tuple[requests.Session, FakeAdapter]:
    session = requests.Session()
    session.trust_env = False
    adapter = FakeAdapter(handler)
    session.mount("https://", adapter)
    return session, adapter
