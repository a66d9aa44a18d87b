"""Recoverable ERP creates (DESIGN decision 3, SPEC X3): a ribbon create whose answer was lost is never made twice.

The hook lets Business Central create the customer, then drops its answer the way a read timeout does
(core.odata READ_FAILED, Retriable), so the first request fails after the record exists.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from core.erp.client import ErpClient
from core.errors import Retriable
from core.odata import READ_FAILED, WriteOp, WriteResult
from tests.e2e.conftest import App

pytestmark = pytest.mark.e2e


def _account_with_coupled_currency(app: App) -> str:
    [crm_id] = app.seed("crm", "accounts", 1)
    app.edit("crm", "accounts", crm_id, {"address1_country": "NL"})  # BC holds a country code (≤ 10 characters)
    crm_currency = app.crm_records("accounts", "accountid")[crm_id]["_transactioncurrencyid_value"]
    [erp_currency] = app.seed("erp", "currencies", 1)
    assert app.call("POST", "/couplings", json={"mapping": "CURRENCY", "erpId": erp_currency,
                                                 "crmId": crm_currency}).status_code == 201
    return crm_id


def lose_first_create_answer(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """BC creates the first batch with a create, then its answer is lost the way a read timeout loses it;
    answers a list that holds one entry once that happened."""
    real = ErpClient.apply_batch
    dropped: list[int] = []

    def drop_first_answer(self: ErpClient, ops: Sequence[WriteOp], **kw: Any) -> list[WriteResult]:
        results = real(self, ops, **kw)
        if dropped or not any(op.kind == "create" for op in ops):
            return results
        dropped.append(len(results))
        lost = Retriable("POST $batch: the answer was lost", service="erp", code=READ_FAILED)
        return [WriteResult(r.op, error=lost) for r in results]

    monkeypatch.setattr(ErpClient, "apply_batch", drop_first_answer)
    return dropped


@pytest.mark.usefixtures("customer_creates_from_crm")
def test_a_retried_ribbon_create_whose_answer_was_lost_creates_one_customer(
        app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    crm_id = _account_with_coupled_currency(app)
    before = set(app.bc_records("customers"))
    dropped = lose_first_create_answer(monkeypatch)

    first = app.call("POST", "/crm/sync", json={"entity": "account", "crmId": crm_id})
    created = set(app.bc_records("customers")) - before
    second = app.call("POST", "/crm/sync", json={"entity": "account", "crmId": crm_id})

    assert dropped and first.status_code >= 400, first.text
    assert len(created) == 1  # the first attempt did create the customer
    assert second.status_code == 200, second.text
    assert set(app.bc_records("customers")) - before == created
    [erp_id] = created
    assert app.call("GET", f"/couplings/CUSTOMER?crmId={crm_id}").json()["erpId"] == erp_id


@pytest.mark.usefixtures("customer_creates_from_crm")
def test_a_ribbon_create_that_never_reached_bc_creates_on_retry(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    """An intent without a created record must not block the create: the search finds nothing, BC creates."""
    crm_id = _account_with_coupled_currency(app)
    before = set(app.bc_records("customers"))
    real = ErpClient.apply_batch
    calls: list[int] = []

    def fail_first(self: ErpClient, ops: Sequence[WriteOp], **kw: Any) -> list[WriteResult]:
        if not calls:
            calls.append(1)
            lost = Retriable("POST $batch: could not connect", service="erp", code=READ_FAILED)
            return [WriteResult(op, error=lost) for op in ops]
        return real(self, ops, **kw)

    monkeypatch.setattr(ErpClient, "apply_batch", fail_first)

    assert app.call("POST", "/crm/sync", json={"entity": "account", "crmId": crm_id}).status_code >= 400
    second = app.call("POST", "/crm/sync", json={"entity": "account", "crmId": crm_id})

    assert second.status_code == 200, second.text
    assert len(set(app.bc_records("customers")) - before) == 1


@pytest.mark.usefixtures("customer_creates_from_crm")
@pytest.mark.parametrize("meanwhile", [{}, {"phoneNumber": "+31 20 555 0199"}, {"displayName": "Renamed by Anna"}])
def test_a_lost_create_is_adopted_though_bc_normalized_it_and_a_person_edited_it(
        app: App, monkeypatch: pytest.MonkeyPatch, meanwhile: dict[str, Any]) -> None:
    """The retry recognises its earlier create by most of the values it wrote, compared as BC stores them
    (country `nl` comes back `NL`), even after a person edited one of them."""
    crm_id = _account_with_coupled_currency(app)
    app.edit("crm", "accounts", crm_id, {"address1_country": "nl", "telephone1": "+31 20 555 0100"})
    before = set(app.bc_records("customers"))
    lose_first_create_answer(monkeypatch)
    assert app.call("POST", "/crm/sync", json={"entity": "account", "crmId": crm_id}).status_code >= 400
    [erp_id] = set(app.bc_records("customers")) - before
    assert app.bc_records("customers")[erp_id]["country"] == "NL"
    if meanwhile:
        app.edit("erp", "customers", erp_id, meanwhile)

    second = app.call("POST", "/crm/sync", json={"entity": "account", "crmId": crm_id})

    assert second.status_code == 200, second.text
    assert set(app.bc_records("customers")) - before == {erp_id}
    assert app.call("GET", f"/couplings/CUSTOMER?crmId={crm_id}").json()["erpId"] == erp_id
