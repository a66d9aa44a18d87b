"""CONTACT's company lookup by number (SPEC F14): `companyNumber` ↔ `parentcustomerid` through CUSTOMER's couplings.

The BC emulator has no contact business relation, so Koppel's rule (core/rules/defaults.py) is that a company contact
belongs to the customer with the same number; these tests set that up by renumbering a seeded company contact.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from functions.deps import deps
from tests.e2e.conftest import App

pytestmark = pytest.mark.e2e


def _coupled_customer(app: App) -> tuple[str, str, str]:
    """A BC customer coupled to a new account: (erp id, crm id, customer number)."""
    [erp_id] = app.seed("erp", "customers", 1)
    resp = app.call("POST", "/couplings", json={"mapping": "CUSTOMER", "erpId": erp_id, "createNew": True})
    assert resp.status_code == 201, resp.text
    return erp_id, resp.json()["crmId"], app.bc_records("customers")[erp_id]["number"]


def _person_of_company(app: App, company_number: str | None = None) -> tuple[str, str]:
    """A seeded person contact (id, its company's number), its company renumbered to `company_number` if given."""
    company_id, person_id, *_ = app.seed("erp", "contacts", 4)
    if company_number is not None:
        app.edit("erp", "contacts", company_id, {"number": company_number})
    contacts = app.bc_records("contacts")
    assert contacts[company_id]["type"] == "Company" and contacts[person_id]["type"] == "Person"
    return person_id, contacts[person_id]["companyNumber"]


@pytest.fixture(name="contact_clears_company")
def _contact_clears_company(app: App) -> Iterator[None]:
    """CONTACT with clear-on-failure on its company lookup for one test, restored afterwards."""
    mappings = deps().storage().mappings
    original = mappings.get("CONTACT")
    fields = tuple(dataclasses.replace(fm, clear_on_failure=True) if fm.crm_field == "parentcustomerid" else fm
                   for fm in original.field_mappings)
    changed = mappings.put(dataclasses.replace(original, field_mappings=fields), expected_etag=original.etag)
    yield
    mappings.put(dataclasses.replace(original, version=changed.version), expected_etag=mappings.get("CONTACT").etag)


def test_a_person_of_a_coupled_customers_company_syncs_with_its_account_and_back(app: App) -> None:
    _, account_id, number = _coupled_customer(app)
    person_id, company_number = _person_of_company(app, number)
    assert company_number == number

    resp = app.call("POST", "/couplings", json={"mapping": "CONTACT", "erpId": person_id, "createNew": True})

    assert resp.status_code == 201, resp.text
    contact_id = resp.json()["crmId"]
    contact = app.crm_records("contacts", "contactid")[contact_id]
    assert contact["_parentcustomerid_value"] == account_id
    app.edit("crm", "contacts", contact_id, {"telephone1": "+31 20 555 0101"})

    back = app.call("POST", "/sync", json={"mapping": "CONTACT", "crmIds": [contact_id], "direction": "fromCrm"})

    assert back.status_code == 200, back.text
    person = app.bc_records("contacts")[person_id]
    assert person["phoneNumber"] == "+31 20 555 0101"
    assert person["companyNumber"] == number  # parentcustomerid translated back to the customer's number


def test_a_person_of_an_uncoupled_company_fails_as_dependency_naming_the_company(app: App) -> None:
    _coupled_customer(app)  # a coupled customer that is not this person's company
    person_id, company_number = _person_of_company(app)
    before = set(app.crm_records("contacts", "contactid"))

    resp = app.call("POST", "/couplings", json={"mapping": "CONTACT", "erpId": person_id, "createNew": True})

    assert resp.status_code == 422, resp.text
    assert company_number in resp.json()["detail"] and "not coupled" in resp.json()["detail"]
    assert set(app.crm_records("contacts", "contactid")) == before


@pytest.mark.usefixtures("contact_clears_company")
def test_clear_on_failure_writes_an_empty_company(app: App) -> None:
    person_id, _ = _person_of_company(app)

    resp = app.call("POST", "/couplings", json={"mapping": "CONTACT", "erpId": person_id, "createNew": True})

    assert resp.status_code == 201, resp.text
    assert app.crm_records("contacts", "contactid")[resp.json()["crmId"]].get("_parentcustomerid_value") is None


def test_a_customer_whose_currency_is_uncoupled_couples_it_by_code_first(app: App) -> None:
    """X14: the lookup target CURRENCY is coupled by its match field (code ↔ isocurrencycode) before failing."""
    [currency_id] = app.seed("erp", "currencies", 1)
    code = app.bc_records("currencies")[currency_id]["code"]
    crm_currency = next((cid for cid, row in app.crm_records("transactioncurrencies", "transactioncurrencyid").items()
                         if row["isocurrencycode"] == code), None)
    if crm_currency is None:
        crm_currency = app.seed("crm", "transactioncurrencies", 1)[0]
        app.edit("crm", "transactioncurrencies", crm_currency, {"isocurrencycode": code})
    [erp_id] = app.seed("erp", "customers", 1)
    app.edit("erp", "customers", erp_id, {"currencyId": currency_id})
    assert app.call("GET", f"/couplings/CURRENCY?crmId={crm_currency}").status_code == 404

    resp = app.call("POST", "/couplings", json={"mapping": "CUSTOMER", "erpId": erp_id, "createNew": True})

    assert resp.status_code == 201, resp.text
    account = app.crm_records("accounts", "accountid")[resp.json()["crmId"]]
    assert account["_transactioncurrencyid_value"] == crm_currency
    assert app.call("GET", f"/couplings/CURRENCY?crmId={crm_currency}").json()["erpId"] == currency_id
