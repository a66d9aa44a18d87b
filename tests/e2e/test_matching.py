"""Match-based coupling (F12) end to end: priority levels, case-insensitive values, ambiguity, create-new, sync after."""
from __future__ import annotations

import uuid
from typing import Any

import pytest

from core.queue import local_queue
from tests.e2e.conftest import App

pytestmark = pytest.mark.e2e


def own_customer_mapping(app: App, *, currency: bool = True) -> str:
    """A copy of CUSTOMER under a name of its own (the Mappings and Couplings tables outlive a test); without
    `currency`, the currency lookup is disabled (a new Dataverse row gets the base currency, coupled in CURRENCY
    only after that mapping ran)."""
    name = "M" + uuid.uuid4().hex[:10].upper()
    body: dict[str, Any] = app.call("GET", "/mappings/CUSTOMER").json()
    body = {k: v for k, v in body.items() if k not in ("version", "etag")}
    for fm in body["fieldMappings"]:
        if fm.get("lookup") == "CURRENCY" and not currency:
            fm["enabled"] = False
    body["name"] = name
    resp = app.call("PUT", f"/mappings/{name}", json=body)
    assert resp.status_code in (200, 201), resp.text
    return name


def run_job(app: App, name: str, **body: Any) -> dict[str, Any]:
    resp = app.call("POST", f"/mappings/{name}/match-couple", json=body)
    assert resp.status_code == 202, resp.text
    assert local_queue("koppel-jobs").drain(60)
    job: dict[str, Any] = app.call("GET", f"/jobs/{resp.json()['id']}").json()
    return job


def coupled_crm(app: App, name: str, erp_id: str) -> str | None:
    resp = app.call("GET", f"/couplings/{name}", params={"erpId": erp_id})
    return str(resp.json()["crmId"]) if resp.status_code == 200 else None


def test_match_by_priority_case_insensitive_skipping_ambiguous_and_coupled_rows(app: App) -> None:
    name = own_customer_mapping(app)
    a, b, c, d, e = app.seed("erp", "customers", 5)
    n1, n2, g1, g2, n5 = app.seed("crm", "accounts", 5)
    values = {a: ("M-1", "Alpha NV"), b: ("M-2", "Beta BV"), c: ("M-3", "Gamma"), d: ("M-4", "Delta"),
              e: ("M-5", "Epsilon")}
    for erp_id, (number, display) in values.items():
        app.edit("erp", "customers", erp_id, {"number": number, "displayName": display})
    app.edit("crm", "accounts", n1, {"accountnumber": "m-1", "name": "Something else"})  # priority 0, other case
    app.edit("crm", "accounts", n2, {"accountnumber": "X-2", "name": "BETA bv"})  # priority 1 only
    app.edit("crm", "accounts", g1, {"accountnumber": "X-3", "name": "Gamma"})  # two "gamma": ambiguous
    app.edit("crm", "accounts", g2, {"accountnumber": "X-4", "name": "gamma"})
    app.edit("crm", "accounts", n5, {"accountnumber": "M-4", "name": "Five"})  # d's number, but coupled to e
    assert app.call("POST", "/couplings", json={"mapping": name, "erpId": e, "crmId": n5}).status_code == 201

    job = run_job(app, name)

    assert job["type"] == "coupling" and job["status"] == "partial", job
    assert (job["counters"]["coupled"], job["counters"]["failed"]) == (2, 2)
    assert coupled_crm(app, name, a) == n1 and coupled_crm(app, name, b) == n2
    assert coupled_crm(app, name, c) is None and coupled_crm(app, name, d) is None
    assert app.call("GET", f"/couplings/{name}", params={"crmId": n5}).json()["erpId"] == e  # never coupled twice
    failed = {row["erpId"] for row in job["errors"]}
    reasons = {row["erpId"]: row["message"] for row in job["errors"]}
    assert failed == {c, d}
    # Which failure each was: c has two candidates (named), d none left uncoupled.
    assert "2 uncoupled CRM rows match equally" in reasons[c] and g1 in reasons[c] and g2 in reasons[c], reasons[c]
    assert "no uncoupled CRM row matches on number/accountnumber" in reasons[d], reasons[d]
    assert len(app.crm_records("accounts", "accountid")) == 5  # nothing created without createNew


def test_create_new_on_no_match_and_sync_after_coupling(app: App) -> None:
    name = own_customer_mapping(app)
    matched, lonely = app.seed("erp", "customers", 2)
    [row] = app.seed("crm", "accounts", 1)
    app.edit("erp", "customers", matched, {"number": "K-1", "displayName": "Kappa", "city": "Leuven"})
    app.edit("erp", "customers", lonely, {"number": "K-2", "displayName": "Lambda"})
    app.edit("crm", "accounts", row, {"accountnumber": "K-1", "name": "Kappa", "address1_city": "Gent"})

    job = run_job(app, name, createNew=True, syncAfter=True)

    assert job["status"] == "succeeded", job
    assert (job["counters"]["coupled"], job["counters"]["inserted"], job["counters"]["failed"]) == (1, 1, 0)
    accounts = app.crm_records("accounts", "accountid")
    assert accounts[row]["address1_city"] == "Leuven"  # synced after coupling: toCrm under the merge policy
    created = coupled_crm(app, name, lonely)
    assert created is not None and accounts[created]["accountnumber"] == "K-2" and len(accounts) == 2


def test_a_second_run_couples_nothing_again_and_a_dry_run_writes_nothing(app: App) -> None:
    name = own_customer_mapping(app)
    [erp_id] = app.seed("erp", "customers", 1)
    [crm_id] = app.seed("crm", "accounts", 1)
    app.edit("erp", "customers", erp_id, {"number": "Z-1"})
    app.edit("crm", "accounts", crm_id, {"accountnumber": "Z-1"})

    preview = run_job(app, name, dryRun=True)
    assert preview["counters"]["coupled"] == 1 and coupled_crm(app, name, erp_id) is None
    first, second = run_job(app, name), run_job(app, name)

    assert first["counters"]["coupled"] == 1 and coupled_crm(app, name, erp_id) == crm_id
    assert second["counters"]["coupled"] == 0 and second["status"] == "succeeded"


def test_a_mapping_without_match_fields_is_refused(app: App) -> None:
    name = own_customer_mapping(app)
    body = app.call("GET", f"/mappings/{name}").json()
    for fm in body["fieldMappings"]:
        fm["matchPriority"] = None
    body = {k: v for k, v in body.items() if k not in ("version", "etag")}
    assert app.call("PUT", f"/mappings/{name}", json=body).status_code == 200
    resp = app.call("POST", f"/mappings/{name}/match-couple", json={})
    assert resp.status_code == 400 and resp.json()["field"] == "mapping"
