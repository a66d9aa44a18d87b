"""F9 merge (the default update-conflict policy): fields changed on one side flow; only a field changed on both
sides to different values is a conflict — it is reported and left alone, and it does not hold the others back."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from core.queue import local_queue
from tests.e2e.conftest import App

pytestmark = pytest.mark.e2e


def _pair_with_edits_on_both_sides(app: App) -> tuple[str, str]:
    [erp_id] = app.seed("erp", "customers", 1)
    app.edit("erp", "customers", erp_id, {"country": "NL"})
    resp = app.call("POST", "/couplings", json={"mapping": "CUSTOMER", "erpId": erp_id, "createNew": True})
    assert resp.status_code == 201, resp.text
    crm_id = resp.json()["crmId"]
    app.edit("erp", "customers", erp_id, {"phoneNumber": "+31 20 555 0101", "displayName": "Named in BC"})
    app.edit("crm", "accounts", crm_id, {"websiteurl": "https://crm.example.com", "name": "Named in CRM"})
    return erp_id, crm_id


def _assert_merged(app: App, erp_id: str, crm_id: str) -> None:
    erp, crm = app.bc_records("customers")[erp_id], app.crm_records("accounts", "accountid")[crm_id]
    assert crm["telephone1"] == "+31 20 555 0101"  # changed in BC only: flowed to CRM
    assert erp["website"] == "https://crm.example.com"  # changed in CRM only: flowed to BC
    assert (erp["displayName"], crm["name"]) == ("Named in BC", "Named in CRM")  # the conflict: both kept
    errors = app.call("GET", "/errors", params={"mapping": "CUSTOMER"}).json()["value"]
    mine = [e for e in errors if e.get("erpId") == erp_id]
    assert mine and all("displayName|name" in e["message"] for e in mine), mine
    assert all("phoneNumber" not in e["message"] and "website" not in e["message"] for e in mine)


def test_a_scheduled_run_merges_one_sided_fields_and_reports_only_the_contested_one(app: App) -> None:
    erp_id, crm_id = _pair_with_edits_on_both_sides(app)

    resp = app.call("POST", "/mappings/CUSTOMER/sync", json={})
    assert resp.status_code == 202, resp.text
    assert local_queue("koppel-jobs").drain(120)

    _assert_merged(app, erp_id, crm_id)


def test_sync_now_auto_merges_one_sided_fields_and_answers_the_conflict(app: App) -> None:
    erp_id, crm_id = _pair_with_edits_on_both_sides(app)

    resp = app.call("POST", "/sync", json={"mapping": "CUSTOMER", "erpIds": [erp_id], "direction": "auto"})

    assert resp.status_code == 409 and resp.json()["reason"] == "updateConflict", resp.text
    assert "displayName|name" in resp.json()["detail"]
    _assert_merged(app, erp_id, crm_id)


@pytest.fixture(name="deletion_conflict")
def _deletion_conflict(app: App, request: pytest.FixtureRequest) -> Iterator[str]:
    """CUSTOMER with the deletion-conflict policy of the test's parameter, restored afterwards."""
    before = app.call("GET", "/mappings/CUSTOMER").json()["deletionConflict"]
    resp = app.call("PATCH", "/mappings/CUSTOMER", json={"deletionConflict": request.param},
                    headers={"Content-Type": "application/merge-patch+json"})
    assert resp.status_code == 200, resp.text
    yield request.param
    app.call("PATCH", "/mappings/CUSTOMER", json={"deletionConflict": before},
             headers={"Content-Type": "application/merge-patch+json"})


@pytest.mark.parametrize("deletion_conflict", ["restore", "uncouple"], indirect=True)
def test_sync_now_auto_applies_the_deletion_conflict_policy_as_a_run_does(app: App, deletion_conflict: str) -> None:
    [erp_id] = app.seed("erp", "customers", 1)
    app.edit("erp", "customers", erp_id, {"country": "NL"})
    resp = app.call("POST", "/couplings", json={"mapping": "CUSTOMER", "erpId": erp_id, "createNew": True})
    assert resp.status_code == 201, resp.text
    app.delete("crm", "accounts", resp.json()["crmId"])

    resp = app.call("POST", "/sync", json={"mapping": "CUSTOMER", "erpIds": [erp_id], "direction": "auto"})

    assert resp.status_code == 200, resp.text
    coupling = app.call("GET", "/couplings/CUSTOMER", params={"erpId": erp_id})
    if deletion_conflict == "restore":
        assert coupling.status_code == 200
        assert coupling.json()["crmId"] in app.crm_records("accounts", "accountid")
    else:
        assert coupling.status_code == 404
