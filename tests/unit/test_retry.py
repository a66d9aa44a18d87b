"""RetryPolicy and the session's retry loop: what is retried, how long it waits, when it gives up."""
from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any

import pytest
import requests
from urllib3.exceptions import MaxRetryError, NewConnectionError

from core.errors import Rejected, Retriable, StaleWrite
from core.odata import CONNECT_FAILED, READ_FAILED, ODataSession, RetryPolicy, is_idempotent
from tests.unit.test_odata_fakes import fake_session, make_response


def retriable(status: int | None, code: str | None = None, retry_after: float | None = None) -> Retriable:
    return Retriable("x", service="erp", status=status, code=code, retry_after=retry_after)


class TestRetryPolicy:
    @pytest.mark.parametrize(("error", "idempotent", "expected"), [
        (retriable(429), False, True),
        (retriable(503), False, True),
        (retriable(504), False, False),
        (retriable(504), True, True),
        (retriable(502), True, True),
        (retriable(None, CONNECT_FAILED), False, True),
        (retriable(None, READ_FAILED), False, False),
        (retriable(None, READ_FAILED), True, True),
        (Rejected("x", service="erp", status=400), True, False),
        (StaleWrite("x"), True, False),
    ], ids=["429-post", "503-post", "504-post", "504-idempotent", "502-idempotent", "connect-post",
            "read-post", "read-idempotent", "rejected", "stale"])
    def test_is_retry(self, error: Exception, idempotent: bool, expected: bool) -> None:
        assert RetryPolicy().is_retry(error, idempotent=idempotent) is expected

    def test_backoff_doubles_capped_plus_jitter(self) -> None:
        policy = RetryPolicy(attempts=10, backoff_factor=0.5, backoff_max=3.0, jitter=1.0, rand=lambda: 0.5)
        waits = []
        for _ in range(5):
            policy = policy.increment(retriable(503))
            waits.append(policy.backoff())
        assert waits == [1.0, 1.5, 2.5, 3.5, 3.5]  # 0.5, 1, 2, 3 (cap), 3, each + 0.5 jitter

    @pytest.mark.parametrize(("retry_after", "expected"), [(7.0, 7.0), (0.0, 0.0), (-2.0, 0.0), (999.0, 60.0)],
                             ids=["given", "zero", "negative-floored", "capped"])
    def test_retry_after_wins_floored_and_capped(self, retry_after: float, expected: float) -> None:
        policy = RetryPolicy(retry_after_max=60.0).increment(retriable(429, retry_after=retry_after))
        assert policy.wait_for(retriable(429, retry_after=retry_after)) == expected

    def test_increment_raises_the_error_when_exhausted(self) -> None:
        policy = RetryPolicy(attempts=3)
        error = retriable(503)
        policy = policy.increment(error).increment(error)
        assert policy.is_exhausted()
        with pytest.raises(Retriable) as info:
            policy.increment(error)
        assert info.value is error

    def test_policy_is_immutable(self) -> None:
        first = RetryPolicy()
        second = first.increment(retriable(503))
        assert (first.retries, second.retries) == (0, 1)


class TestIdempotence:
    @pytest.mark.parametrize(("method", "headers", "expected"), [
        ("GET", {}, True), ("DELETE", {"If-Match": "x"}, True), ("PATCH", {"If-Match": 'W/"1"'}, True),
        ("PATCH", {"If-None-Match": "*"}, True), ("PATCH", {}, False), ("POST", {}, False),
    ], ids=["get", "delete", "patch-if-match", "patch-if-none-match", "patch-bare", "post"])
    def test_is_idempotent(self, method: str, headers: dict[str, str], expected: bool) -> None:
        assert is_idempotent(method, headers) is expected


def scripted(*answers: Any) -> tuple[ODataSession, list[float], list[requests.PreparedRequest]]:
    queue = list(answers)
    http, adapter = fake_session(lambda request: queue.pop(0))
    sleeps: list[float] = []
    session = ODataSession(service="erp", session=http, sleep=sleeps.append,
                           retry=RetryPolicy(attempts=4, backoff_factor=1.0, jitter=0.0))
    return session, sleeps, adapter.requests


def connect_error() -> requests.ConnectionError:
    return requests.ConnectionError(MaxRetryError(None, "/", NewConnectionError(None, "refused")))  # type: ignore[arg-type]


class TestSessionRetryLoop:
    def test_throttled_then_ok_waits_retry_after(self) -> None:
        session, sleeps, sent = scripted(make_response(429, {}, {"Retry-After": "3"}), make_response(200, {"v": 1}))
        assert session.request("POST", "https://h/x", json={}).json() == {"v": 1}
        assert sleeps == [3.0] and len(sent) == 2 and session.stats == {"POST": 2}

    def test_503s_back_off_exponentially_until_exhausted(self) -> None:
        session, sleeps, sent = scripted(*[make_response(503) for _ in range(4)])
        with pytest.raises(Retriable):
            session.request("GET", "https://h/x")
        assert sleeps == [1.0, 2.0, 4.0] and len(sent) == 4

    @pytest.mark.parametrize(("method", "headers", "expectation", "attempts"), [
        ("GET", {}, nullcontext(), 2),
        ("PATCH", {"If-Match": 'W/"1"'}, nullcontext(), 2),
        ("POST", {}, pytest.raises(Retriable), 1),
    ], ids=["get-retried", "conditional-patch-retried", "post-not-retried"])
    def test_read_timeout_retries_only_idempotent(self, method: str, headers: dict[str, str],
                                                  expectation: AbstractContextManager[Any], attempts: int) -> None:
        session, _, sent = scripted(requests.ReadTimeout("slow"), make_response(200, {}))
        with expectation:
            session.request(method, "https://h/x", headers=headers)
        assert len(sent) == attempts

    def test_connect_error_retries_even_a_post(self) -> None:
        session, _, sent = scripted(connect_error(), make_response(201, {}))
        assert session.request("POST", "https://h/x", json={}).status_code == 201
        assert len(sent) == 2

    def test_rejected_is_never_retried(self) -> None:
        session, sleeps, sent = scripted(make_response(400, {"error": {"code": "BadRequest", "message": "no"}}))
        with pytest.raises(Rejected):
            session.request("GET", "https://h/x")
        assert sleeps == [] and len(sent) == 1

    def test_504_on_a_post_is_not_resent(self) -> None:
        session, _, sent = scripted(make_response(504), make_response(201, {}))
        with pytest.raises(Retriable):
            session.request("POST", "https://h/x", json={})
        assert len(sent) == 1


class TestApplyInChunks:
    def test_chunks_and_resends_only_retriable_ops(self) -> None:
        from core.odata import WriteOp, WriteResult, apply_in_chunks

        ops = [WriteOp("update", "accounts", str(n), "e", ref=str(n)) for n in range(5)]
        sent: list[list[str]] = []

        def send(chunk: Any) -> list[WriteResult]:
            sent.append([op.ref for op in chunk])
            first_round = len(sent) <= 3
            return [WriteResult(op, error=retriable(429, retry_after=2.0) if op.ref == "1" and first_round
                                else Rejected("no", service="crm", status=400) if op.ref == "3" else None)
                    for op in chunk]
        sleeps: list[float] = []
        results = apply_in_chunks(ops, size=2, send=send, retry=RetryPolicy(), sleep=sleeps.append,
                                  idempotent=lambda op: True)
        assert sent == [["0", "1"], ["2", "3"], ["4"], ["1"]]
        assert sleeps == [2.0]
        assert [r.ok for r in results] == [True, True, True, False, True]

    def test_gives_up_after_the_policy_attempts(self) -> None:
        from core.odata import WriteOp, WriteResult, apply_in_chunks

        op = WriteOp("create", "customers", ref="x")
        calls: list[int] = []

        def send(chunk: Any) -> list[WriteResult]:
            calls.append(1)
            return [WriteResult(o, error=retriable(503)) for o in chunk]
        results = apply_in_chunks([op], size=100, send=send, retry=RetryPolicy(attempts=3, jitter=0.0),
                                  sleep=lambda s: None, idempotent=lambda o: False)
        assert len(calls) == 3 and isinstance(results[0].error, Retriable)
