"""Couple, synchronize one record and uncouple, through the app's HTTP routes (issue: walking skeleton).

Each test drives function_app under devhost against the emulators and Azurite, then reads both
systems' data through the emulators' admin API to check what really happened.
"""
from __future__ import annotations

import concurrent.futures
import uuid

import pytest

from tests.e2e.conftest import App

pytestmark = pytest.mark.e2e


def couple(app: App, erp_id: str, crm_id: str | None = None, **extra: object) -> dict:
    body: dict = {"mapping": "CUSTOMER", "erpId": erp_id, **extra}
    if crm_id:
        body["crmId"] = crm_id
    resp = app.call("POST", "/couplings", json=body)
    assert resp.status_code == 201, resp.text
    return resp.json()


def sync(app: App, erp_id: str, direction: str = "auto") -> tuple[int, dict]:
    resp = app.call("POST", "/sync", json={"mapping": "CUSTOMER", "erpIds": [erp_id], "direction": direction})
    return resp.status_code, resp.json()


class TestCoupling:
    def test_couples_an_existing_pair(self, app: App) -> None:
        [erp_id] = app.seed("erp", "customers", 1)
        [crm_id] = app.seed("crm", "accounts", 1)

        body = couple(app, erp_id, crm_id)

        assert (body["erpId"], body["crmId"]) == (erp_id, crm_id)
        got = app.call("GET", f"/couplings/CUSTOMER?crmId={crm_id}")
        assert got.status_code == 200 and got.json()["erpId"] == erp_id

    def test_create_new_makes_the_crm_row_from_the_erp_record(self, app: App) -> None:
        [erp_id] = app.seed("erp", "customers", 1)
        customer = app.bc_records("customers")[erp_id]

        body = couple(app, erp_id, createNew=True)

        accounts = app.crm_records("accounts", "accountid")
        assert body["crmId"] in accounts
        assert accounts[body["crmId"]]["name"] == customer["displayName"]
        assert accounts[body["crmId"]]["address1_city"] == customer["city"]

    def test_a_second_coupling_of_either_side_is_409(self, app: App) -> None:
        erp_a, erp_b = app.seed("erp", "customers", 2)
        crm_a, crm_b = app.seed("crm", "accounts", 2)
        couple(app, erp_a, crm_a)

        same_erp = app.call("POST", "/couplings", json={"mapping": "CUSTOMER", "erpId": erp_a, "crmId": crm_b})
        same_crm = app.call("POST", "/couplings", json={"mapping": "CUSTOMER", "erpId": erp_b, "crmId": crm_a})

        assert same_erp.status_code == 409 and same_erp.json()["field"] == "erpId"
        assert same_crm.status_code == 409 and same_crm.json()["field"] == "crmId"
        assert same_erp.headers["Content-Type"].startswith("application/problem+json")

    def test_a_coupling_whose_counterpart_was_deleted_can_be_replaced(self, app: App) -> None:
        [erp_id] = app.seed("erp", "customers", 1)
        crm_old, crm_new = app.seed("crm", "accounts", 2)
        couple(app, erp_id, crm_old)
        app.delete("crm", "accounts", crm_old)

        body = couple(app, erp_id, crm_new)

        assert body["crmId"] == crm_new
        assert app.call("GET", f"/couplings/CUSTOMER?crmId={crm_old}").status_code == 404

    def test_fifty_concurrent_couplings_of_one_record_give_exactly_one_201(self, app: App) -> None:
        [erp_id] = app.seed("erp", "customers", 1)
        crm_ids = app.seed("crm", "accounts", 50)

        def attempt(crm_id: str) -> int:
            return app.call("POST", "/couplings", json={"mapping": "CUSTOMER", "erpId": erp_id, "crmId": crm_id}).status_code

        with concurrent.futures.ThreadPoolExecutor(max_workers=50) as pool:
            statuses = list(pool.map(attempt, crm_ids))

        assert statuses.count(201) == 1
        assert set(statuses) == {201, 409}

    def test_uncouple_never_deletes_a_record(self, app: App) -> None:
        [erp_id] = app.seed("erp", "customers", 1)
        [crm_id] = app.seed("crm", "accounts", 1)
        couple(app, erp_id, crm_id)

        resp = app.call("DELETE", f"/couplings/CUSTOMER/{erp_id}")

        assert resp.status_code == 204
        assert app.call("GET", f"/couplings/CUSTOMER?erpId={erp_id}").status_code == 404
        assert erp_id in app.bc_records("customers")
        assert crm_id in app.crm_records("accounts", "accountid")


class TestSyncOne:
    def test_to_crm_writes_only_the_mapped_fields(self, app: App) -> None:
        [erp_id] = app.seed("erp", "customers", 1)
        [crm_id] = app.seed("crm", "accounts", 1)
        couple(app, erp_id, crm_id)
        before = app.crm_records("accounts", "accountid")[crm_id]
        app.edit("erp", "customers", erp_id, {"displayName": "Fabrikam Nieuw", "city": "Gent"})

        status, body = sync(app, erp_id, "toCrm")

        assert status == 200, body
        assert body["action"] == "modified"
        after = app.crm_records("accounts", "accountid")[crm_id]
        assert (after["name"], after["address1_city"]) == ("Fabrikam Nieuw", "Gent")
        unmapped = {k for k in before if k not in ("name", "address1_city") and not k.startswith(("modified", "version", "_modifiedby", "@"))}
        customer = app.bc_records("customers")[erp_id]
        for key in unmapped - {"address1_line1", "address1_postalcode", "address1_country", "telephone1",
                               "emailaddress1", "websiteurl", "address1_line2", "address1_stateorprovince",
                               "creditlimit", "accountnumber", "_transactioncurrencyid_value"}:
            assert after.get(key) == before.get(key), key
        assert customer["displayName"] == "Fabrikam Nieuw"

    def test_from_crm_writes_the_erp_record(self, app: App) -> None:
        [erp_id] = app.seed("erp", "customers", 1)
        [crm_id] = app.seed("crm", "accounts", 1)
        couple(app, erp_id, crm_id, sync="toCrm")
        app.edit("crm", "accounts", crm_id, {"telephone1": "+32 9 123 45 67"})

        status, body = sync(app, erp_id, "fromCrm")

        assert status == 200 and body["action"] == "modified", body
        assert app.bc_records("customers")[erp_id]["phoneNumber"] == "+32 9 123 45 67"

    def test_auto_picks_the_changed_side_and_then_says_unchanged(self, app: App) -> None:
        [erp_id] = app.seed("erp", "customers", 1)
        [crm_id] = app.seed("crm", "accounts", 1)
        couple(app, erp_id, crm_id, sync="toCrm")
        app.edit("crm", "accounts", crm_id, {"address1_city": "Aarhus C"})  # not a seeded city: the edit changes something

        status, first = sync(app, erp_id)
        status2, second = sync(app, erp_id)

        assert (status, first["direction"], first["action"]) == (200, "fromCrm", "modified")
        assert app.bc_records("customers")[erp_id]["city"] == "Aarhus C"
        assert (status2, second["action"]) == (200, "unchanged"), second  # no ping-pong

    def test_both_sides_changed_is_a_conflict_and_nothing_is_written(self, app: App) -> None:
        [erp_id] = app.seed("erp", "customers", 1)
        [crm_id] = app.seed("crm", "accounts", 1)
        couple(app, erp_id, crm_id, sync="toCrm")
        app.edit("erp", "customers", erp_id, {"city": "Brugge"})
        app.edit("crm", "accounts", crm_id, {"address1_city": "Odense"})

        status, body = sync(app, erp_id)

        assert status == 409 and body["reason"] == "updateConflict", body
        assert app.bc_records("customers")[erp_id]["city"] == "Brugge"
        assert app.crm_records("accounts", "accountid")[crm_id]["address1_city"] == "Odense"

    def test_a_unidirectional_mapping_refuses_the_other_direction(self, app: App) -> None:
        [currency] = app.seed("erp", "currencies", 1)
        [crm_currency] = app.seed("crm", "transactioncurrencies", 1)
        created = app.call("POST", "/couplings", json={"mapping": "CURRENCY", "erpId": currency, "crmId": crm_currency})
        assert created.status_code == 201, created.text

        resp = app.call("POST", "/sync", json={"mapping": "CURRENCY", "erpIds": [currency], "direction": "fromCrm"})

        assert resp.status_code == 409 and resp.json()["reason"] == "directionNotAllowed"


class TestBadInput:
    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"mapping": "CUSTOMER", "erpId": "42", "crmId": str(uuid.uuid4())}, "erpId"),
            ({"mapping": "NOPE", "erpId": str(uuid.uuid4()), "crmId": str(uuid.uuid4())}, "mapping"),
            ({"mapping": "CUSTOMER", "crmId": str(uuid.uuid4())}, "erpId"),
            ({"mapping": "CUSTOMER", "erpId": str(uuid.uuid4())}, "crmId"),
            ({"mapping": "CUSTOMER", "erpId": str(uuid.uuid4()), "crmId": str(uuid.uuid4()), "colour": 1}, "colour"),
        ],
        ids=["non-guid-id", "unknown-mapping", "missing-erp-id", "missing-crm-id", "unknown-field"],
    )
    def test_bad_coupling_requests_are_4xx_problems_that_change_nothing(self, app: App, body: dict, field: str) -> None:
        before = app.call("GET", "/couplings/CUSTOMER").json()

        resp = app.call("POST", "/couplings", json=body)

        assert 400 <= resp.status_code < 500
        assert resp.headers["Content-Type"].startswith("application/problem+json")
        assert resp.json()["field"] == field
        assert app.call("GET", "/couplings/CUSTOMER").json() == before

    def test_wrong_json_is_400(self, app: App) -> None:
        resp = app.call("POST", "/sync", data=b"{not json", headers={"Content-Type": "application/json"})
        assert resp.status_code == 400 and resp.json()["status"] == 400

    def test_a_missing_function_key_is_401(self, app: App) -> None:
        assert app.call("GET", "/connection", key=False).status_code == 401
        assert app.call("GET", "/health", key=False).status_code == 200

    def test_problems_speak_the_callers_language(self, app: App) -> None:
        resp = app.call("POST", "/couplings", json={"mapping": "CUSTOMER", "erpId": "x"}, headers={"Accept-Language": "nl-BE"})
        assert resp.json()["title"] == "De aanvraag is niet geldig"


def test_connection_reports_both_sides(app: App) -> None:
    resp = app.call("GET", "/connection")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["erp"]["ok"] and body["crm"]["ok"] and body["storage"]["ok"]
    assert body["erp"]["latencyMs"] >= 0
