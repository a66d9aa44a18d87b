"""F10/X11: every failed record leaves an error row and its coupling's lastError — 503s included — and the same
error is recognised as the same although each report carries a fresh CorrelationId."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from core.queue import local_queue
from emulators.server import WireError
from tests.e2e.conftest import App

pytestmark = pytest.mark.e2e


@pytest.fixture(name="pair")
def _pair(app: App) -> Iterator[tuple[str, str]]:
    [erp_id] = app.seed("erp", "customers", 1)
    app.edit("erp", "customers", erp_id, {"country": "NL"})
    resp = app.call("POST", "/couplings", json={"mapping": "CUSTOMER", "erpId": erp_id, "createNew": True})
    assert resp.status_code == 201, resp.text
    yield erp_id, resp.json()["crmId"]
    app.stack.bc.on_request = None


def _coupling(app: App, erp_id: str) -> dict[str, Any]:
    resp = app.call("GET", "/couplings/CUSTOMER", params={"erpId": erp_id})
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def _errors(app: App, erp_id: str) -> list[dict[str, Any]]:
    rows = app.call("GET", "/errors", params={"mapping": "CUSTOMER", "top": 1000}).json()["value"]
    return [e for e in rows if e.get("erpId") == erp_id]


def test_a_write_refused_with_503_after_every_retry_leaves_an_error_row_and_last_error(
        app: App, pair: tuple[str, str]) -> None:
    erp_id, crm_id = pair
    app.edit("crm", "accounts", crm_id, {"websiteurl": "https://down.example.com"})

    def unavailable(req: Any) -> None:
        if req.method == "POST" and req.path.endswith("$batch"):
            raise WireError(503, "ServiceUnavailable", "The service is temporarily unavailable.",
                            {"Retry-After": "0"})

    app.stack.bc.on_request = unavailable
    resp = app.call("POST", "/mappings/CUSTOMER/sync", json={})  # a run: its fromCrm pass writes to BC
    assert resp.status_code == 202, resp.text
    assert local_queue("koppel-jobs").drain(120)
    app.stack.bc.on_request = None

    rows = _errors(app, erp_id)
    assert rows and rows[0]["category"] == "transient", rows
    coupling = _coupling(app, erp_id)
    assert coupling["lastError"] and not coupling["skipped"], coupling


def test_the_same_bc_validation_error_twice_marks_the_coupling_skipped_whatever_its_correlation_id(
        app: App, pair: tuple[str, str]) -> None:
    erp_id, crm_id = pair
    app.edit("crm", "accounts", crm_id, {"address1_country": "Netherlands, the Kingdom of"})  # > 10 characters

    answers = [app.call("POST", "/sync", json={"mapping": "CUSTOMER", "erpIds": [erp_id], "direction": "fromCrm"})
               for _ in range(2)]

    assert all(a.status_code == 422 for a in answers), [a.text for a in answers]
    assert "CorrelationId" in answers[0].text and answers[0].json()["detail"] != answers[1].json()["detail"]
    assert _coupling(app, erp_id)["skipped"]
