"""Synchronize many records (F5) as a background job, and preview one (X5 dry run)."""
from __future__ import annotations

import pytest

from core.queue import local_queue
from tests.e2e.conftest import App

pytestmark = pytest.mark.e2e


def coupled_pairs(app: App, n: int) -> list[tuple[str, str]]:
    erp_ids, crm_ids = app.seed("erp", "customers", n), app.seed("crm", "accounts", n)
    for erp_id, crm_id in zip(erp_ids, crm_ids):
        resp = app.call("POST", "/couplings", json={"mapping": "CUSTOMER", "erpId": erp_id, "crmId": crm_id,
                                                     "sync": "toCrm"})
        assert resp.status_code == 201, resp.text
    return list(zip(erp_ids, crm_ids))


def test_many_ids_run_as_a_job_that_skips_what_it_must_and_lists_why(app: App) -> None:
    (a, a_crm), (b, b_crm), (c, c_crm) = coupled_pairs(app, 3)
    [uncoupled] = app.seed("erp", "customers", 1)
    for erp_id in (a, b, c):
        app.edit("erp", "customers", erp_id, {"city": "Leuven"})
    app.edit("crm", "accounts", c_crm, {"address1_city": "Aalborg"})  # c's destination changed meanwhile

    resp = app.call("POST", "/sync", json={"mapping": "CUSTOMER", "erpIds": [a, b, c, uncoupled],
                                           "direction": "toCrm"})

    assert resp.status_code == 202, resp.text
    job_id = resp.json()["id"]
    assert local_queue("koppel-jobs").drain(60)
    job = app.call("GET", f"/jobs/{job_id}").json()
    assert job["status"] == "succeeded", job
    assert (job["counters"]["modified"], job["counters"]["skipped"]) == (2, 2)
    assert f"{c}: the destination changed" in job["message"] and f"{uncoupled}: not coupled" in job["message"]
    accounts = app.crm_records("accounts", "accountid")
    assert [accounts[x]["address1_city"] for x in (a_crm, b_crm, c_crm)] == ["Leuven", "Leuven", "Aalborg"]


def test_many_ids_with_direction_auto_go_each_the_way_its_change_points(app: App) -> None:
    """F5 with auto, as F3 decides for one record: BC changed → toCrm, CRM changed → fromCrm, neither → unchanged."""
    (e1, c1), (e2, c2), (e3, _) = coupled_pairs(app, 3)
    app.edit("erp", "customers", e1, {"phoneNumber": "+32 2 555 0101"})
    app.edit("crm", "accounts", c2, {"websiteurl": "https://crm-side.example.com"})

    resp = app.call("POST", "/sync", json={"mapping": "CUSTOMER", "erpIds": [e1, e2, e3], "direction": "auto"})
    assert resp.status_code == 202, resp.text
    assert local_queue("koppel-jobs").drain(60)
    job = app.call("GET", f"/jobs/{resp.json()['id']}").json()

    assert job["status"] == "succeeded", job
    assert (job["counters"]["modified"], job["counters"]["unchanged"]) == (2, 1), job["counters"]
    assert app.crm_records("accounts", "accountid")[c1]["telephone1"] == "+32 2 555 0101"
    assert app.bc_records("customers")[e2]["website"] == "https://crm-side.example.com"


def test_a_dry_run_says_what_would_change_and_writes_nothing(app: App) -> None:
    [(erp_id, crm_id)] = coupled_pairs(app, 1)
    app.edit("erp", "customers", erp_id, {"displayName": "Preview Only"})
    before = app.crm_records("accounts", "accountid")[crm_id]

    resp = app.call("POST", "/sync", json={"mapping": "CUSTOMER", "erpIds": [erp_id], "direction": "toCrm",
                                           "dryRun": True})

    assert resp.status_code == 200, resp.text
    assert resp.json()["action"] == "modified" and "name" in resp.json()["passes"][0]["changedFields"]
    assert app.crm_records("accounts", "accountid")[crm_id] == before
    after = app.call("POST", "/sync", json={"mapping": "CUSTOMER", "erpIds": [erp_id], "direction": "auto"})
    assert after.json()["action"] == "modified"  # the dry run left the change for a real sync
