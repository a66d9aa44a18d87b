"""Full synchronization (F13) end to end: the plan's recommendations and a run that creates the missing side
without duplicating records that match."""
from __future__ import annotations

from typing import Any

import pytest

from core.queue import local_queue
from tests.e2e.conftest import App
from tests.e2e.test_matching import own_customer_mapping

pytestmark = pytest.mark.e2e


def plan_of(app: App, name: str) -> dict[str, Any]:
    resp = app.call("GET", "/setup/full-sync-plan")
    assert resp.status_code == 200, resp.text
    lines = resp.json()["value"]
    order = [line["mapping"] for line in lines]
    assert order.index("CURRENCY") < order.index("CUSTOMER") < order.index("CONTACT")  # dependency order
    line: dict[str, Any] = next(x for x in lines if x["mapping"] == name)
    return line


def run_full_sync(app: App, name: str) -> list[dict[str, Any]]:
    resp = app.call("POST", "/setup/full-sync", json={"mappings": [name]})
    assert resp.status_code == 202, resp.text
    [line] = resp.json()["value"]
    assert local_queue("koppel-jobs").drain(120)
    return [app.call("GET", f"/jobs/{j}").json() for j in line["jobIds"]]


def test_the_plan_recommends_by_which_sides_have_records(app: App) -> None:
    name = own_customer_mapping(app)
    assert plan_of(app, name)["recommendation"] == "nothing"
    app.seed("erp", "customers", 2)
    line = plan_of(app, name)
    assert (line["erpCount"], line["crmCount"], line["recommendation"]) == (2, 0, "fullSync")
    app.seed("crm", "accounts", 3)
    line = plan_of(app, name)
    assert (line["erpCount"], line["crmCount"], line["recommendation"]) == (2, 3, "matchCoupling")


def test_full_sync_of_one_empty_side_creates_every_record_there(app: App) -> None:
    name = own_customer_mapping(app, currency=False)
    erp_ids = app.seed("erp", "customers", 3)

    jobs = run_full_sync(app, name)

    assert [j["status"] for j in jobs] == ["succeeded", "succeeded"], [(j["counters"]["failed"], j["message"], [e["message"] for e in j["errors"][:2]]) for j in jobs]
    accounts = app.crm_records("accounts", "accountid")
    assert len(accounts) == 3
    numbers = {r["number"] for r in app.bc_records("customers").values()}
    assert {a["accountnumber"] for a in accounts.values()} == numbers
    for erp_id in erp_ids:
        assert app.call("GET", f"/couplings/{name}", params={"erpId": erp_id}).status_code == 200


def test_full_sync_with_both_sides_couples_matches_first_and_duplicates_nothing(app: App) -> None:
    name = own_customer_mapping(app, currency=False)
    both, erp_only = app.seed("erp", "customers", 2)
    same, crm_only = app.seed("crm", "accounts", 2)
    app.edit("erp", "customers", both, {"number": "F-1", "displayName": "Foxtrot"})
    app.edit("crm", "accounts", same, {"accountnumber": "f-1", "name": "Foxtrot"})
    app.edit("crm", "accounts", crm_only, {"address1_country": "NL"})  # BC's country holds at most 10 characters

    jobs = run_full_sync(app, name)

    assert [j["type"] for j in jobs] == ["coupling", "sync", "sync"]
    assert all(j["status"] == "succeeded" for j in jobs), [(j["counters"], j["message"], [e["message"] for e in j["errors"][:2]]) for j in jobs]
    assert (jobs[0]["counters"]["coupled"], jobs[0]["counters"]["inserted"]) == (1, 1)
    accounts = app.crm_records("accounts", "accountid")
    customers = app.bc_records("customers")
    assert len(accounts) == 3 and len(customers) == 3  # one created on each side, the match not duplicated
    assert [a["accountnumber"].upper() for a in accounts.values()].count("F-1") == 1
    assert app.call("GET", f"/couplings/{name}", params={"erpId": both}).json()["crmId"] == same
    assert app.call("GET", f"/couplings/{name}", params={"crmId": crm_only}).status_code == 200
    assert app.call("GET", f"/couplings/{name}", params={"erpId": erp_only}).status_code == 200


def test_an_unknown_mapping_is_refused_and_nothing_is_queued(app: App) -> None:
    resp = app.call("POST", "/setup/full-sync", json={"mappings": ["NOSUCHMAPPING"]})
    assert resp.status_code == 404 and resp.json()["field"] == "mappings[0]"
