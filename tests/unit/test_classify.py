"""classify(): every status class of both APIs maps to the one error the caller must act on."""
from __future__ import annotations

import json
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import pytest
import requests

from core.errors import AuthError, Rejected, RemoteError, Retriable, StaleWrite
from core.odata import classify, parse_retry_after, safe_path

NOW = 1_700_000_000.0


def response(status: int, body: Any = None, headers: dict[str, str] | None = None,
             method: str = "PATCH", url: str = "https://x/api/data/v9.2/accounts(1)?$select=name&$filter=name eq 'secret'"
             ) -> requests.Response:
    resp = requests.Response()
    resp.status_code = status
    resp._content = json.dumps(body).encode() if body is not None else b""
    resp.headers.update(headers or {})
    resp.request = requests.Request(method, url).prepare()
    resp.url = url
    return resp


def err(code: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": f"message for {code}"}}


CASES: list[tuple[requests.Response, AbstractContextManager[Any]]] = [
    (response(200, {"value": []}), nullcontext()),
    (response(201, {}), nullcontext()),
    (response(204), nullcontext()),
    (response(304), nullcontext()),
    (response(429, err("0x80072322"), {"Retry-After": "7"}), pytest.raises(Retriable)),
    (response(503, err("ServiceUnavailable")), pytest.raises(Retriable)),
    (response(504), pytest.raises(Retriable)),
    (response(502), pytest.raises(Retriable)),
    (response(500, err("Internal_ServerError")), pytest.raises(Retriable)),
    (response(412, err("0x80060882")), pytest.raises(StaleWrite)),
    (response(412, err("")), pytest.raises(StaleWrite)),
    (response(412, err("0x80040237")), pytest.raises(Rejected)),
    (response(409, err("Request_EntityChanged")), pytest.raises(StaleWrite)),
    (response(409, err("Internal_EntityWithSameKeyExists")), pytest.raises(Rejected)),
    (response(401, err("Authentication_InvalidCredentials")), pytest.raises(AuthError)),
    (response(403, err("Authorization_Forbidden")), pytest.raises(AuthError)),
    (response(400, err("BadRequest_InvalidToken")), pytest.raises(Rejected)),
    (response(404, err("0x80040217")), pytest.raises(Rejected)),
    (response(400, None), pytest.raises(Rejected)),
]
IDS = ["200", "201", "204", "304", "429", "503", "504", "502", "500", "412-stale-dv", "412-empty-code",
       "412-duplicate", "409-stale-bc", "409-other", "401", "403", "400", "404", "400-no-body"]


class TestClassify:
    @pytest.mark.parametrize(("resp", "expectation"), CASES, ids=IDS)
    def test_status_maps_to_the_callers_action(self, resp: requests.Response,
                                               expectation: AbstractContextManager[Any]) -> None:
        with expectation:
            classify(resp, service="crm", clock=lambda: NOW)

    def test_retriable_carries_retry_after_seconds(self) -> None:
        with pytest.raises(Retriable) as info:
            classify(response(429, err("0x80072322"), {"Retry-After": "7"}), service="crm")
        assert info.value.retry_after == 7.0
        assert info.value.status == 429 and info.value.code == "0x80072322" and info.value.service == "crm"

    def test_rejected_carries_facts_but_no_query_values(self) -> None:
        with pytest.raises(Rejected) as info:
            classify(response(400, err("BadRequest_InvalidToken")), service="erp")
        error = info.value
        assert (error.status, error.code, error.method) == (400, "BadRequest_InvalidToken", "PATCH")
        assert error.path == "/api/data/v9.2/accounts(1)?$select&$filter"
        assert "secret" not in str(error) and "message for BadRequest_InvalidToken" in str(error)

    def test_stale_write_is_not_a_remote_error_to_retry(self) -> None:
        with pytest.raises(StaleWrite) as info:
            classify(response(409, err("Request_EntityChanged")), service="erp")
        assert not isinstance(info.value, RemoteError)
        assert info.value.code == "Request_EntityChanged"


class TestRetryAfter:
    @pytest.mark.parametrize(("value", "expected"), [
        ("5", 5.0), ("0", 0.0), ("-3", 0.0), ("1.5", 1.5), (None, None), ("", None), ("soon", None),
        ("Tue, 14 Nov 2023 22:13:30 GMT", 10.0), ("Tue, 14 Nov 2023 22:13:00 GMT", 0.0),
    ], ids=["seconds", "zero", "negative-floored", "fraction", "absent", "empty", "garbage", "http-date",
            "http-date-past-floored"])
    def test_seconds_or_http_date_floored_at_zero(self, value: str | None, expected: float | None) -> None:
        assert parse_retry_after(value, clock=lambda: NOW) == expected


def test_safe_path_keeps_only_query_names() -> None:
    assert safe_path("https://h/p/customers?$filter=name%20eq%20'x'&$top=1") == "/p/customers?$filter&$top"
    assert safe_path("https://h/p/customers") == "/p/customers"
