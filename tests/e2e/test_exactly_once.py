"""Exactly once on Koppel's own recovery paths (SPEC X3, invariants 1, 2 and 4): a delivery killed at a write and
delivered again, and callers racing each other, leave one counterpart per record, every create coupled."""
from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter
from typing import Any

import pytest

from core.deps import Deps
from core.sync.full_sync import queue_full_sync
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
    from core.sync.passes import run_mapping

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


def _coupled_customer_pair(app: App) -> tuple[str, str]:
    [erp_id] = app.seed("erp", "customers", 1)
    app.edit("erp", "customers", erp_id, {"country": "NL"})
    resp = app.call("POST", "/couplings", json={"mapping": "CUSTOMER", "erpId": erp_id, "createNew": True})
    assert resp.status_code == 201, resp.text
    return erp_id, resp.json()["crmId"]


def test_concurrent_sync_now_while_a_person_edits_both_sides_never_parks_the_coupling(app: App) -> None:
    """X11: a concurrency error (412, a coupling row changed meanwhile) is transient: re-read, re-plan — never a
    422, never a skipped coupling, and the edits made meanwhile still reach the other side."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    erp_id, crm_id = _coupled_customer_pair(app)
    stop = threading.Event()

    def person() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            app.edit("erp", "customers", erp_id, {"phoneNumber": f"+31 20 555 {n:04d}"})
            app.edit("crm", "accounts", crm_id, {"websiteurl": f"https://example.com/{n}"})

    def sync_now(_: int) -> int:
        resp = app.call("POST", "/sync", json={"mapping": "CUSTOMER", "erpIds": [erp_id], "direction": "auto"})
        assert resp.status_code in (200, 409), resp.text
        if resp.status_code == 409:
            # busy: the callers queue on the record (core.sync.record_lock) and the last ones are told to try again.
            assert resp.json().get("reason") in ("busy", "concurrentChange", "updateConflict"), resp.text
        return resp.status_code

    editor = threading.Thread(target=person)
    editor.start()
    try:
        with ThreadPoolExecutor(12) as pool:
            statuses = list(pool.map(sync_now, range(24)))
    finally:
        stop.set()
        editor.join()

    assert statuses.count(200) > 0, statuses
    coupling = app.call("GET", "/couplings/CUSTOMER", params={"erpId": erp_id}).json()
    assert not coupling["skipped"], (coupling, [e["message"] for e in app.call("GET", "/errors", params={"mapping": "CUSTOMER"}).json()["value"]][:6])
    app.edit("erp", "customers", erp_id, {"phoneNumber": "+31 20 555 9999"})
    app.edit("crm", "accounts", crm_id, {"websiteurl": "https://example.com/final"})
    final = app.call("POST", "/sync", json={"mapping": "CUSTOMER", "erpIds": [erp_id]})
    assert final.status_code == 200, final.text
    assert app.crm_records("accounts", "accountid")[crm_id]["telephone1"] == "+31 20 555 9999"
    assert app.bc_records("customers")[erp_id]["website"] == "https://example.com/final"


def test_sync_many_never_overwrites_a_destination_edited_between_its_read_and_its_write(
        app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    """F5 skips a record whose destination changed since the last sync; a person's edit landing after the job
    read the destination is such a change too (X8: the write carries the ETag read while deciding)."""
    from core.crm.client import CrmClient
    from core.queue import local_queue

    pairs = [_coupled_customer_pair(app) for _ in range(2)]
    for erp_id, _ in pairs:
        app.edit("erp", "customers", erp_id, {"phoneNumber": "+31 20 555 0001"})
    edited_crm = pairs[0][1]
    real = CrmClient.apply_batch
    interfered: list[int] = []

    def person_edits_first(self: CrmClient, ops: Any, **kw: Any) -> Any:
        if not interfered:
            interfered.append(1)
            app.edit("crm", "accounts", edited_crm, {"telephone1": "+31 6 1234 5678"}, by="Anna")
        return real(self, ops, **kw)

    monkeypatch.setattr(CrmClient, "apply_batch", person_edits_first)
    resp = app.call("POST", "/sync", json={"mapping": "CUSTOMER", "erpIds": [e for e, _ in pairs],
                                          "direction": "toCrm"})
    assert resp.status_code == 202, resp.text
    assert local_queue("koppel-jobs").drain(60)
    job = app.call("GET", f"/jobs/{resp.json()['id']}").json()

    assert interfered
    rows = app.crm_records("accounts", "accountid")
    assert rows[edited_crm]["telephone1"] == "+31 6 1234 5678"  # Anna's edit stands
    assert rows[pairs[1][1]]["telephone1"] == "+31 20 555 0001"  # the other record was written
    assert job["counters"]["skipped"] == 1 and job["counters"]["modified"] == 1, job
    assert pairs[0][0] in (job["message"] or ""), job


def test_a_full_sync_killed_at_every_write_in_turn_recovers_exactly_once(app: App, crash: Crash) -> None:
    """Kill the delivery at the 1st, 2nd, … nth instrumented write of a full sync (match-coupling, creates on both
    sides, coupling writes, job and watermark writes), deliver it again, and check every time: each record has
    one counterpart, nothing Koppel created is uncoupled, and every job of the run finished."""
    from tests.harness.model import fresh_stack_and_storage

    def one_run(kill_at: int | None) -> int:
        fresh_stack_and_storage(app)
        name = own_customer_mapping(app, currency=False)
        for _ in range(2):
            [e], [c] = app.seed("erp", "customers", 1), app.seed("crm", "accounts", 1)
            app.edit("erp", "customers", e, {"country": "NL"})
            app.edit("crm", "accounts", c, {"address1_country": "nl"})
        worker = captured_deps()
        queue_full_sync(worker, [name])
        [message] = queue_of(worker).take()
        if kill_at is None:
            crash.watch()
        else:
            crash.arm("*", nth=kill_at, after=kill_at % 2 == 0)  # even: after the write landed; odd: before
        with crash.run():
            deliver(message)
        hits = len(crash.hits)
        crash.revive()
        expire_lease(worker, name)
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr("core.sync.adoption.IN_FLIGHT_S", 0.0)  # redelivered after the lock expired
            deliver(message, delivery_count=2)
        assert_one_counterpart_each(app, name, "customers", "accounts", "accountid")
        assert len(app.bc_records("customers")) == 4, f"killed at write {kill_at}"
        jobs = [worker.storage().jobs.get(j) for s in message.body["steps"]
                for j in ([s["couplingJob"]] if s.get("couplingJob") else []) + s["syncJobs"]]
        assert all(j.status in (JobStatus.SUCCEEDED, JobStatus.PARTIAL) for j in jobs), \
            (kill_at, [(j.type.value, j.status.value, j.message) for j in jobs])
        return hits

    writes = one_run(None)
    assert writes >= 8
    for k in range(1, writes + 1):
        one_run(k)


def test_a_run_refused_by_another_runs_lease_waits_for_it_and_then_runs(app: App) -> None:
    """#8: a run a person asked for, meeting a dead run's lease, stays queued and runs once that lease ends — it
    is never failed for another run's sake (it used to end FAILED "Another run … was in progress")."""
    from core.queue import local_queue

    erp_id, crm_id, _ = _coupled_customer(app)
    app.edit("erp", "customers", erp_id, {"displayName": "Waited For The Lease"})
    worker = captured_deps()
    held = worker.storage().state.acquire_lease("CUSTOMER", "a-dead-worker", worker.clock(), 3.0)
    assert held is not None and held.lease_until is not None
    resp = app.call("POST", "/mappings/CUSTOMER/sync", json={})
    assert resp.status_code == 202, resp.text
    job_ids = resp.json()["jobIds"]
    assert local_queue("koppel-jobs").drain(60)
    jobs = [app.call("GET", f"/jobs/{j}").json() for j in job_ids]
    assert [j["status"] for j in jobs] == ["succeeded"] * len(jobs), jobs
    started = min(dt.datetime.fromisoformat(j["startedOn"]) for j in jobs)
    assert started >= held.lease_until, "a pass ran while another run held the lease"
    assert app.crm_records("accounts", "accountid")[crm_id]["name"] == "Waited For The Lease"


def test_a_deferred_run_fails_with_the_reason_once_the_other_run_outlasts_the_wait(app: App) -> None:
    """#8: waiting is bounded: past DEFER_FOR the run fails saying why, and sends nothing more."""
    from core.sync.passes import DEFER_FOR, queue_sync_jobs, run_mapping

    worker = captured_deps()
    assert worker.storage().state.acquire_lease("CUSTOMER", "a-stuck-run", worker.clock(), 60.0) is not None
    jobs = queue_sync_jobs(worker, worker.storage().mappings.get("CUSTOMER"), dry_run=False)
    since = worker.clock() - DEFER_FOR - dt.timedelta(seconds=1)
    assert run_mapping(worker, "CUSTOMER", owner="me", job_ids=[j.id for j in jobs], defer=True,
                       deferred_since=since) == []
    ended = [worker.storage().jobs.get(j.id) for j in jobs]
    assert {j.status for j in ended} == {JobStatus.FAILED}
    assert all("was in progress for longer than 60 minutes" in (j.message or "") for j in ended)
    assert queue_of(worker).messages == []
    # Within the wait, the same refusal keeps the jobs queued and sends the run again, delayed past the lease.
    jobs = queue_sync_jobs(worker, worker.storage().mappings.get("CUSTOMER"), dry_run=False)
    assert run_mapping(worker, "CUSTOMER", owner="me", job_ids=[j.id for j in jobs], defer=True) == []
    assert {worker.storage().jobs.get(j.id).status for j in jobs} == {JobStatus.QUEUED}
    [again] = queue_of(worker).messages
    assert again.body["jobIds"] == [j.id for j in jobs] and again.body["deferredSince"]
    assert 50 <= again.delay_s <= 65
    expire_lease(worker, "CUSTOMER")


def test_a_job_whose_worker_died_is_ended_with_the_reason_and_the_next_run_finishes_the_work(
        app: App, crash: Crash) -> None:
    """#8, no job unfinished forever: a run killed mid-pass leaves its job RUNNING; once nobody has written it for
    longer than a function may run, the sweep ends it FAILED saying why (a live job is never touched), and the
    next run still carries the edit across."""
    from core.sync.dead_jobs import FUNCTION_TIMEOUT, fail_dead_jobs
    from core.sync.passes import queue_sync_jobs, run_mapping

    erp_id, crm_id, _ = _coupled_customer(app)
    app.edit("erp", "customers", erp_id, {"displayName": "Edited Before The Crash"})
    worker = captured_deps()
    [first, *rest] = queue_sync_jobs(worker, worker.storage().mappings.get("CUSTOMER"), dry_run=False)
    crash.arm("CrmClient.apply_batch")
    with crash.run():
        run_mapping(worker, "CUSTOMER", owner="dies", job_ids=[first.id, *(j.id for j in rest)])
    crash.revive()
    assert worker.storage().jobs.get(first.id).status is JobStatus.RUNNING
    assert fail_dead_jobs(worker) == []  # written a moment ago: it may be alive
    now = worker.clock
    later = dataclasses.replace(worker, clock=lambda: now() + FUNCTION_TIMEOUT + dt.timedelta(minutes=1))
    # The sweep queries the row's server Timestamp, so "later" is the sweep's clock, not the row's.
    [ended] = [j for j in fail_dead_jobs(later) if j.id == first.id]
    assert ended.status is JobStatus.FAILED and "stopped without finishing" in (ended.message or "")
    assert worker.storage().jobs.get(first.id).status is JobStatus.FAILED
    expire_lease(worker, "CUSTOMER")
    run_mapping(worker, "CUSTOMER", owner="next")
    assert app.crm_records("accounts", "accountid")[crm_id]["name"] == "Edited Before The Crash"
