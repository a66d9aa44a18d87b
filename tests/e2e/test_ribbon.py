"""The CRM ribbon (F4): synchronize one record from Dataverse, in words a salesperson understands."""
from __future__ import annotations


import pytest

from tests.e2e.conftest import App

pytestmark = pytest.mark.e2e


def test_a_coupled_row_is_synchronized_from_crm_and_answers_the_erp_record(app: App) -> None:
    [erp_id] = app.seed("erp", "customers", 1)
    [crm_id] = app.seed("crm", "accounts", 1)
    assert app.call("POST", "/couplings", json={"mapping": "CUSTOMER", "erpId": erp_id, "crmId": crm_id,
                                                 "sync": "toCrm"}).status_code == 201
    app.edit("crm", "accounts", crm_id, {"telephone1": "+45 33 12 34 56"})

    resp = app.call("POST", "/crm/sync", json={"entity": "account", "crmId": crm_id})

    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert (body["erpId"], body["action"], body["mapping"]) == (erp_id, "synchronized", "CUSTOMER")
    assert erp_id in body["erpUrl"] and body["erpUrl"].startswith("https://")
    assert app.bc_records("customers")[erp_id]["phoneNumber"] == "+45 33 12 34 56"


def test_an_uncoupled_row_is_refused_in_the_salespersons_language(app: App) -> None:
    [crm_id] = app.seed("crm", "accounts", 1)
    before = set(app.bc_records("customers"))

    resp = app.call("POST", "/crm/sync", json={"entity": "account", "crmId": crm_id},
                    headers={"Accept-Language": "da-DK, en;q=0.5"})

    assert resp.status_code == 409
    assert resp.json()["reason"] == "notCoupled"
    assert "koblet til Business Central" in resp.json()["detail"]
    assert set(app.bc_records("customers")) == before


@pytest.mark.usefixtures("customer_creates_from_crm")
def test_an_uncoupled_row_creates_and_couples_the_erp_record_when_the_mapping_allows(app: App) -> None:
    [crm_id] = app.seed("crm", "accounts", 1)
    app.edit("crm", "accounts", crm_id, {"address1_country": "NL"})  # BC holds a country code (≤ 10 characters)
    account = app.crm_records("accounts", "accountid")[crm_id]
    # The account's currency must be coupled first (CUSTOMER depends on CURRENCY).
    [erp_currency] = app.seed("erp", "currencies", 1)
    crm_currency = account["_transactioncurrencyid_value"]
    assert app.call("POST", "/couplings", json={"mapping": "CURRENCY", "erpId": erp_currency,
                                                 "crmId": crm_currency}).status_code == 201

    resp = app.call("POST", "/crm/sync", json={"entity": "account", "crmId": crm_id})

    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["action"] == "created"
    assert app.bc_records("customers")[body["erpId"]]["currencyId"] == erp_currency
    customer = app.bc_records("customers")[body["erpId"]]
    assert customer["displayName"] == account["name"]
    assert app.call("GET", f"/couplings/CUSTOMER?crmId={crm_id}").json()["erpId"] == body["erpId"]


def test_an_uncoupled_dependency_fails_with_a_reason_a_person_can_act_on(app: App,
                                                                         customer_creates_from_crm: None) -> None:
    [crm_id] = app.seed("crm", "accounts", 1)
    # A foreign currency (not the base currency, which stands for BC's blank local currency) with no coupling.
    currency = next(c["transactioncurrencyid"] for c in app.crm_records("transactioncurrencies", "transactioncurrencyid")
                    .values() if c["isocurrencycode"] == "USD")
    app.edit("crm", "accounts", crm_id, {"transactioncurrencyid@odata.bind": f"/transactioncurrencies({currency})"})
    coupled = app.call("GET", f"/couplings/CURRENCY?crmId={currency}")
    if coupled.status_code == 200:
        app.call("DELETE", f"/couplings/CURRENCY/{coupled.json()['erpId']}")

    resp = app.call("POST", "/crm/sync", json={"entity": "account", "crmId": crm_id})

    assert resp.status_code == 422
    assert "not coupled in CURRENCY" in resp.json()["detail"]


def test_a_table_koppel_does_not_map_is_refused(app: App) -> None:
    resp = app.call("POST", "/crm/sync", json={"entity": "incident", "crmId": "6f9619ff-8b86-d011-b42d-00c04fc964ff"})
    assert resp.status_code == 409 and resp.json()["reason"] == "noMapping"
