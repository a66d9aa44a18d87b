"""BC's blank currency code (its local currency) and Dataverse's base currency stand for each other."""
from __future__ import annotations

import pytest

from tests.e2e.conftest import App

pytestmark = pytest.mark.e2e
BLANK = "00000000-0000-0000-0000-000000000000"


def base_currency(app: App) -> str:
    return next(c["transactioncurrencyid"] for c in app.crm_records("transactioncurrencies", "transactioncurrencyid")
                .values() if c["isocurrencycode"] == "EUR")


def test_a_customer_in_local_currency_keeps_the_base_currency_in_dataverse(app: App) -> None:
    [erp_id] = app.seed("erp", "customers", 1)
    assert app.bc_records("customers")[erp_id]["currencyId"] == BLANK

    body = app.call("POST", "/couplings", json={"mapping": "CUSTOMER", "erpId": erp_id, "createNew": True}).json()

    assert app.crm_records("accounts", "accountid")[body["crmId"]]["_transactioncurrencyid_value"] == base_currency(app)
    again = app.call("POST", "/sync", json={"mapping": "CUSTOMER", "erpIds": [erp_id], "direction": "auto"}).json()
    assert again["action"] == "unchanged"  # the round trip sees no change


def test_an_account_in_the_base_currency_becomes_a_customer_in_local_currency(app: App,
                                                                            customer_creates_from_crm: None) -> None:
    [crm_id] = app.seed("crm", "accounts", 1)
    app.edit("crm", "accounts", crm_id, {"address1_country": "NL"})  # BC holds a country code (≤ 10 characters)
    assert app.crm_records("accounts", "accountid")[crm_id]["_transactioncurrencyid_value"] == base_currency(app)

    resp = app.call("POST", "/crm/sync", json={"entity": "account", "crmId": crm_id})

    assert resp.status_code == 200, resp.text
    customer = app.bc_records("customers")[resp.json()["erpId"]]
    assert (customer["currencyId"], customer["currencyCode"]) == (BLANK, "")
