"""GET /connection (F1) against a running devhost: wrong credentials read as reachable but not authenticated,
and a side that is down is reported within seconds, not after the retry loop has given up."""
from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.e2e.test_config_and_secrets import PLANTED, _base_env, start_app, stop_app

pytestmark = pytest.mark.e2e
__all__ = ["_base_env"]  # the fixture, used here by name


def _closed_port() -> int:
    """A local port nobody listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.fixture(name="connection")
def _connection(base_env: dict[str, str]) -> Iterator[Any]:
    procs = []

    def check(**env: str) -> tuple[dict[str, Any], float]:
        proc, api, key = start_app({**base_env, **env})
        procs.append(proc)
        start = time.monotonic()
        resp = requests.get(f"{api}/connection", headers={"x-functions-key": key}, timeout=60)
        assert resp.status_code == 200, resp.text
        return resp.json(), time.monotonic() - start

    yield check
    for proc in procs:
        stop_app(proc)


def test_a_wrong_erp_secret_is_reachable_but_not_authenticated(connection: Any) -> None:
    body, _ = connection(ERP_CLIENT_SECRET=PLANTED)

    assert body["erp"]["ok"] is False
    assert (body["erp"]["reachable"], body["erp"]["authenticated"]) == (True, False)
    assert body["crm"]["ok"] is True
    assert PLANTED not in str(body)


def test_a_side_that_is_down_is_reported_within_seconds(connection: Any) -> None:
    body, took = connection(ERP_BASE_URL=f"https://127.0.0.1:{_closed_port()}")

    assert took < 8, f"/connection took {took:.1f} s"
    assert body["erp"]["ok"] is False and body["erp"]["reachable"] is False
    assert body["crm"]["ok"] is True and body["storage"]["ok"] is True


def test_both_sides_down_still_answer_within_seconds(connection: Any) -> None:
    body, took = connection(ERP_BASE_URL=f"https://127.0.0.1:{_closed_port()}",
                            CRM_URL=f"https://127.0.0.1:{_closed_port()}")

    assert took < 8, f"/connection took {took:.1f} s"
    assert body["erp"]["reachable"] is False and body["crm"]["reachable"] is False
