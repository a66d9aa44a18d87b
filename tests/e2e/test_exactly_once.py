"""Exactly once on Koppel's own recovery paths (SPEC X3, invariants 1, 2 and 4): a delivery killed at a write and
delivered again, and callers racing each other, leave one counterpart per record, every create coupled."""
from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Any

import pytest

from core.deps import Deps
from core.full_sync import queue_full_sync
from core.model import JobStatus
from tests.e2e.conftest import App
from tests.e2e.test_contacts import _coupled_customer, _person_of_company
from tests.e2e.test_matching import own_customer_mapping
from tests.harness.crash import Crash
from tests.harness.worker import captured_deps, deliver, expire_lease, queue_of

pytestmark = pytest.mark.e2e


@pytest.fixture(name="crash")
def _crash(monkeypatch: pytest.MonkeyPatch) -> Crash:
    return Crash(monkeypatch)


def couplings_of(app: App, name: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    url: str | None = f"/couplings/{name}?top=1000"
    while url:
        page = app.call("GET", url).json()
        rows += page["value"]
        token = page.get("continuation")
        url = f"/couplings/{name}?top=1000&continuation={token}" if token else None
    return rows


def assert_one_counterpart_each(app: App, name: str, erp_entity: str, crm_entity: str, crm_id_field: str) -> None:
    """Invariant 1 and 2: every record on either side is coupled, once; nothing created is left uncoupled."""
    couplings = couplings_of(app, name)
    erp, crm = set(app.bc_records(erp_entity)), set(app.crm_records(crm_entity, crm_id_field))
    assert Counter(c["erpId"] for c in couplings).most_common(1)[0][1] == 1
    assert Counter(c["crmId"] for c in couplings).most_common(1)[0][1] == 1
    assert {c["erpId"] for c in couplings} == erp, f"uncoupled BC records: {erp - {c['erpId'] for c in couplings}}"
    assert {c["crmId"] for c in couplings} == crm, f"uncoupled CRM rows: {crm - {c['crmId'] for c in couplings}}"


@pytest.mark.parametrize("point", ["ErpClient.apply_batch", "CouplingStore.couple_many", "IntentStore.clear_many"])
def test_a_full_sync_killed_in_its_creating_pass_and_delivered_again_duplicates_nothing(
        app: App, crash: Crash, point: str) -> None:
    name = own_customer_mapping(app, currency=False)
    crm_ids = app.seed("crm", "accounts", 12)
    for crm_id in crm_ids:  # BC stores a country code upper-cased: what the create wrote is not what BC holds
        app.edit("crm", "accounts", crm_id, {"address1_country": "nl"})
    worker = captured_deps()
    [message] = (queue_full_sync(worker, [name]), queue_of(worker).take())[1]

    crash.arm(point)
    with crash.run():
        deliver(message)
    crash.revive()
    assert len(app.bc_records("customers")) == 12
    expire_lease(worker, name)
    deliver(message, delivery_count=2)

    assert len(app.bc_records("customers")) == 12
    assert_one_counterpart_each(app, name, "customers", "accounts", "accountid")
    # An intent left by the kill may stay until the next adoption forgets it, but only for a coupled source.
    coupled = {c["crmId"] for c in couplings_of(app, name)}
    assert all(i.source_id in coupled for i in worker.storage().intents.pending(name))
    jobs = [worker.storage().jobs.get(j) for s in message.body["steps"] for j in s["syncJobs"]]
    assert all(j.status is JobStatus.SUCCEEDED for j in jobs), [(j.status, j.message) for j in jobs]


def test_a_scheduled_run_after_a_killed_create_adopts_it_in_the_reverse_pass_first(app: App, crash: Crash) -> None:
    """syncOnlyCoupled off: the next run's toCrm pass meets the BC customers the killed fromCrm pass created. It
    must couple them to the CRM rows they came from, not create a CRM row from each."""
    name = own_customer_mapping(app, currency=False)
    worker = captured_deps()
    mappings = worker.storage().mappings
    mapping = mappings.get(name)
    mappings.put(dataclasses.replace(mapping, sync_only_coupled=False), expected_etag=mapping.etag)
    try:
        _killed_run_then_next_run(app, crash, worker, name)
    finally:  # mappings outlive a test: a creating copy would answer later tests' webhooks with creates
        current = mappings.get(name)
        mappings.put(dataclasses.replace(current, sync_only_coupled=True), expected_etag=current.etag)


def _killed_run_then_next_run(app: App, crash: Crash, worker: Deps, name: str) -> None:
    crm_ids = app.seed("crm", "accounts", 8)
    for crm_id in crm_ids:
        app.edit("crm", "accounts", crm_id, {"address1_country": "nl"})
    from core.passes import run_mapping

    crash.arm("ErpClient.apply_batch")
    with crash.run():
        run_mapping(worker, name, owner="first")
    crash.revive()
    assert len(app.bc_records("customers")) == 8
    expire_lease(worker, name)
    run_mapping(worker, name, owner="second")

    assert len(app.crm_records("accounts", "accountid")) == 8
    assert_one_counterpart_each(app, name, "customers", "accounts", "accountid")


def _without_number(app: App) -> str:
    """A CUSTOMER copy whose number is not mapped: no alternate key stops a second account."""
    name = own_customer_mapping(app, currency=False)
    body = app.call("GET", f"/mappings/{name}").json()
    for fm in body["fieldMappings"]:
        if fm.get("erpField") == "number":
            fm["enabled"] = False
    body = {k: v for k, v in body.items() if k not in ("version", "etag")}
    assert app.call("PUT", f"/mappings/{name}", json=body).status_code == 200
    return name


@pytest.mark.parametrize("case", ["CONTACT", "customer without number"])
def test_concurrent_create_new_for_one_record_creates_one_row(app: App, case: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    if case == "CONTACT":
        name, erp_entity, crm_entity, crm_id_field = "CONTACT", "contacts", "contacts", "contactid"
    else:
        name, erp_entity, crm_entity, crm_id_field = _without_number(app), "customers", "accounts", "accountid"
    if case == "CONTACT":  # a person whose company is a coupled customer (the lookup resolves)
        erp_id, _ = _person_of_company(app, _coupled_customer(app)[2])
    else:
        [erp_id] = app.seed("erp", erp_entity, 1)
        app.edit("erp", erp_entity, erp_id, {"country": "NL"})
    before = set(app.crm_records(crm_entity, crm_id_field))

    def create_new(_: int) -> int:
        resp = app.call("POST", "/couplings", json={"mapping": name, "erpId": erp_id, "createNew": True})
        assert resp.status_code in (201, 409), resp.text
        return resp.status_code

    with ThreadPoolExecutor(10) as pool:
        statuses = list(pool.map(create_new, range(10)))

    assert statuses.count(201) == 1, statuses
    rows = {k: v for k, v in app.crm_records(crm_entity, crm_id_field).items() if k not in before}
    assert len(rows) == 1, f"{len(rows)} rows created for one record"
    coupled = app.call("GET", f"/couplings/{name}", params={"erpId": erp_id}).json()
    assert coupled["crmId"] in rows
