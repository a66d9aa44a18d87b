"""X14, dependencies first: a record whose lookup names an uncoupled record of another mapping gets that record
coupled — by match, or created when that mapping creates records — before it is written, instead of failing."""
from __future__ import annotations

import pytest

from tests.e2e.conftest import App

pytestmark = pytest.mark.e2e


def test_a_customer_in_a_currency_dataverse_lacks_creates_the_currency_first(app: App) -> None:
    [currency] = app.seed("erp", "currencies", 1)
    app.edit("erp", "currencies", currency, {"code": "XTS", "displayName": "Test currency", "symbol": "¤"})
    [erp_id] = app.seed("erp", "customers", 1)
    app.edit("erp", "customers", erp_id, {"country": "NL", "currencyId": currency, "currencyCode": "XTS"})
    assert not [c for c in app.crm_records("transactioncurrencies", "transactioncurrencyid").values()
                if c["isocurrencycode"] == "XTS"]

    resp = app.call("POST", "/couplings", json={"mapping": "CUSTOMER", "erpId": erp_id, "createNew": True})

    assert resp.status_code == 201, resp.text
    coupled = app.call("GET", "/couplings/CURRENCY", params={"erpId": currency})
    assert coupled.status_code == 200, coupled.text  # CURRENCY (create-new on no match) made and coupled it
    crm_currency = coupled.json()["crmId"]
    assert app.crm_records("transactioncurrencies", "transactioncurrencyid")[crm_currency]["isocurrencycode"] == "XTS"
    account = app.crm_records("accounts", "accountid")[resp.json()["crmId"]]
    assert account["_transactioncurrencyid_value"] == crm_currency
