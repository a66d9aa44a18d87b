"""Scheduled incremental runs end to end (SPEC F8, F11, X4, X5, X8): through HTTP, the queue and the worker.

Each test drives function_app under devhost against the emulators and Azurite: `POST /mappings/CUSTOMER/sync`
queues a run, the in-process queue delivers it to the worker, and the test reads both systems afterwards.
"""
from __future__ import annotations

import concurrent.futures
import threading
from collections.abc import Iterable, Iterator
from typing import Any

import pytest
import requests

from core.deps import Deps
from core.errors import StaleWrite
from core.model import Coupling, Job, JobStatus
from core.sync.passes import run_mapping
from core.queue import local_queue
from core.store.couplings import SCAN_ABOVE, CouplingStore
from tests.e2e.conftest import App

pytestmark = pytest.mark.e2e

WRITES = ("POST", "PATCH", "PUT", "DELETE")


@pytest.fixture(name="deps")
def _deps(app: App) -> Iterator[Deps]:
    """Core's dependencies in the test process (same settings as the app), to read jobs and state."""
    yield Deps.from_env()
    for url in (app.stack.info.bc_url, app.stack.info.dataverse_url):
        requests.post(f"{url}/_admin/faults", json={}, timeout=10).raise_for_status()
    app.stack.dataverse.on_request = None
    app.stack.bc.on_request = None


def run(app: App, deps: Deps, **body: Any) -> list[Job]:
    """Ask for a run over HTTP, wait for the worker to finish it, answer its jobs."""
    resp = app.call("POST", "/mappings/CUSTOMER/sync", json=body)
    assert resp.status_code == 202, resp.text
    assert local_queue("koppel-jobs").drain(120)
    return [deps.storage().jobs.get(i) for i in resp.json()["jobIds"]]


def total(jobs: list[Job], name: str) -> int:
    return sum(getattr(j.counters, name) for j in jobs)


def coupled_pair(app: App) -> tuple[str, str]:
    [erp_id] = app.seed("erp", "customers", 1)
    resp = app.call("POST", "/couplings", json={"mapping": "CUSTOMER", "erpId": erp_id, "createNew": True})
    assert resp.status_code == 201, resp.text
    return erp_id, resp.json()["crmId"]


def writes(app: App, side: str) -> int:
    routes: dict[str, int] = app.request_counts(side)["routes"]
    return sum(n for k, n in routes.items() if k.split(" ", 1)[0] in WRITES)


def clear_counts(app: App) -> None:
    for url in (app.stack.info.bc_url, app.stack.info.dataverse_url):
        requests.delete(f"{url}/_admin/requests", timeout=10).raise_for_status()


def crm(app: App, crm_id: str) -> dict[str, Any]:
    return app.crm_records("accounts", "accountid")[crm_id]


def erp(app: App, erp_id: str) -> dict[str, Any]:
    return app.bc_records("customers")[erp_id]


def test_invariant_2_edits_on_both_sides_are_merged_by_the_next_run(app: App, deps: Deps) -> None:
    erp_id, crm_id = coupled_pair(app)
    run(app, deps)
    app.edit("erp", "customers", erp_id, {"phoneNumber": "+49 30 111"})
    app.edit("crm", "accounts", crm_id, {"address1_city": "Leipzig"})

    jobs = run(app, deps)

    assert [j.status for j in jobs] == [JobStatus.SUCCEEDED, JobStatus.SUCCEEDED]
    assert crm(app, crm_id)["telephone1"] == "+49 30 111"
    assert erp(app, erp_id)["city"] == "Leipzig"
    assert total(jobs, "modified") == 2


def test_invariant_2_an_edit_in_the_same_second_as_our_write_is_not_lost(app: App, deps: Deps) -> None:
    erp_id, crm_id = coupled_pair(app)
    run(app, deps)
    app.edit("erp", "customers", erp_id, {"phoneNumber": "+49 30 222"})
    run(app, deps)  # writes telephone1 to CRM at second T; the CRM watermark lands on T
    written_at = crm(app, crm_id)["modifiedon"]
    # A person edits another column in that same second T (Dataverse's modifiedon has whole seconds).
    resp = requests.post(f"{app.stack.info.dataverse_url}/_admin/edit", timeout=10, json={
        "entity": "accounts", "id": crm_id, "fields": {"name": "Same Second GmbH"}, "at": written_at})
    resp.raise_for_status()
    assert crm(app, crm_id)["modifiedon"] == written_at

    run(app, deps)

    assert erp(app, erp_id)["displayName"] == "Same Second GmbH"


def test_invariant_3_a_run_right_after_a_run_writes_nothing(app: App, deps: Deps) -> None:
    pairs = [coupled_pair(app) for _ in range(3)]
    app.edit("erp", "customers", pairs[0][0], {"phoneNumber": "+49 30 333"})
    app.edit("crm", "accounts", pairs[1][1], {"address1_city": "Jena"})
    run(app, deps)
    clear_counts(app)

    jobs = run(app, deps)

    assert (writes(app, "erp"), writes(app, "crm")) == (0, 0)
    assert total(jobs, "modified") == 0 and total(jobs, "inserted") == 0
    assert all(j.status is not JobStatus.FAILED for j in jobs)


def test_invariant_4_the_same_field_changed_on_both_sides_is_a_conflict_and_nothing_is_overwritten(
        app: App, deps: Deps) -> None:
    erp_id, crm_id = coupled_pair(app)
    run(app, deps)
    app.edit("erp", "customers", erp_id, {"displayName": "ERP Name"})
    app.edit("crm", "accounts", crm_id, {"name": "CRM Name"})

    jobs = run(app, deps)

    assert erp(app, erp_id)["displayName"] == "ERP Name"
    assert crm(app, crm_id)["name"] == "CRM Name"
    assert total(jobs, "failed") >= 1 and jobs[0].status is JobStatus.PARTIAL
    rows = deps.storage().errors.for_job(jobs[0].id)
    assert [r.category.value for r in rows] == ["conflict"] and rows[0].erp_id == erp_id


def test_invariant_2_a_run_under_injected_failures_and_throttling_ends_with_the_clean_result(
        app: App, deps: Deps) -> None:
    pairs = [coupled_pair(app) for _ in range(4)]
    run(app, deps)
    for i, (erp_id, crm_id) in enumerate(pairs):
        app.edit("erp", "customers", erp_id, {"phoneNumber": f"+49 40 {i}"})
        app.edit("crm", "accounts", crm_id, {"address1_city": f"Stadt {i}"})
    for url in (app.stack.info.bc_url, app.stack.info.dataverse_url):
        requests.post(f"{url}/_admin/faults", timeout=10,
                      json={"failShare": 0.3, "throttleAfter": 8, "retryAfterS": 1, "seed": 7}).raise_for_status()

    for _ in range(4):  # what a run could not finish it retries next run; never skipped, never lost
        jobs = run(app, deps)
        if all(j.status is JobStatus.SUCCEEDED for j in jobs):
            break
    for url in (app.stack.info.bc_url, app.stack.info.dataverse_url):
        requests.post(f"{url}/_admin/faults", json={}, timeout=10).raise_for_status()
    run(app, deps)

    for i, (erp_id, crm_id) in enumerate(pairs):
        assert crm(app, crm_id)["telephone1"] == f"+49 40 {i}"
        assert erp(app, erp_id)["city"] == f"Stadt {i}"
        assert crm(app, crm_id)["address1_city"] == f"Stadt {i}"


def test_invariant_2_a_person_editing_between_our_read_and_our_write_is_merged(app: App, deps: Deps) -> None:
    erp_id, crm_id = coupled_pair(app)
    run(app, deps)
    app.edit("erp", "customers", erp_id, {"phoneNumber": "+49 30 444"})
    dv_url = app.stack.info.dataverse_url
    fired = threading.Event()

    def person_edits_first(req: Any) -> None:
        if req.method == "POST" and req.path.endswith("$batch") and not fired.is_set():
            fired.set()  # the admin route is served by another server thread
            requests.post(f"{dv_url}/_admin/edit", timeout=10, json={
                "entity": "accounts", "id": crm_id, "fields": {"name": "Edited Meanwhile"}}).raise_for_status()

    app.stack.dataverse.on_request = person_edits_first
    run(app, deps)
    app.stack.dataverse.on_request = None
    run(app, deps)

    assert fired.is_set()
    assert crm(app, crm_id)["name"] == "Edited Meanwhile"
    assert crm(app, crm_id)["telephone1"] == "+49 30 444"
    assert erp(app, erp_id)["displayName"] == "Edited Meanwhile"


def test_a_dry_run_writes_nothing_and_reports_what_it_would_do(app: App, deps: Deps) -> None:
    erp_id, crm_id = coupled_pair(app)
    run(app, deps)
    app.edit("erp", "customers", erp_id, {"phoneNumber": "+49 30 555"})
    before = deps.storage().state.get("CUSTOMER")
    clear_counts(app)

    jobs = run(app, deps, dryRun=True)

    assert (writes(app, "erp"), writes(app, "crm")) == (0, 0)
    assert all(j.dry_run for j in jobs) and total(jobs, "modified") == 1
    assert crm(app, crm_id)["telephone1"] != "+49 30 555"
    after = deps.storage().state.get("CUSTOMER")
    assert (after.erp_watermark, after.crm_watermark) == (before.erp_watermark, before.crm_watermark)
    assert total(run(app, deps), "modified") == 1
    assert crm(app, crm_id)["telephone1"] == "+49 30 555"


def test_two_concurrent_runs_of_one_mapping_only_one_does_work(app: App, deps: Deps) -> None:
    coupled_pair(app)
    requests.post(f"{app.stack.info.bc_url}/_admin/faults", json={"latencyMs": 150}, timeout=10).raise_for_status()
    barrier = threading.Barrier(2)

    def one(owner: str) -> list[Job]:
        barrier.wait()
        return run_mapping(deps, "CUSTOMER", owner=owner)

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        results = list(pool.map(one, ["runner-a", "runner-b"]))

    assert sorted(len(r) for r in results) == [0, 2]
    state = deps.storage().state.get("CUSTOMER")
    assert state.lease_owner is None and state.next_run_on is not None


def test_the_scheduler_queues_due_mappings_and_the_worker_runs_them(app: App, deps: Deps) -> None:
    import datetime as dt
    from dataclasses import replace

    erp_id, crm_id = coupled_pair(app)
    store = deps.storage().state
    state = store.get("CUSTOMER")
    store.save(replace(state, next_run_on=dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)))
    app.edit("erp", "customers", erp_id, {"phoneNumber": "+49 30 666"})

    from functions.scheduler import schedule_runs

    assert "CUSTOMER" in schedule_runs()
    assert local_queue("koppel-jobs").drain(120)

    assert crm(app, crm_id)["telephone1"] == "+49 30 666"
    after = store.get("CUSTOMER")
    assert after.next_run_on is not None and after.next_run_on > dt.datetime.now(dt.timezone.utc)


def test_a_coupling_changed_meanwhile_is_re_read_and_its_update_written_not_dropped(
        app: App, deps: Deps, monkeypatch: pytest.MonkeyPatch) -> None:
    erp_id, _ = coupled_pair(app)
    run(app, deps)
    app.edit("erp", "customers", erp_id, {"phoneNumber": "+49 30 666"})
    original = CouplingStore.update_many
    bumped: list[str] = []

    def someone_writes_first(self: CouplingStore, couplings: Iterable[Coupling]) -> list[Coupling | StaleWrite]:
        items = list(couplings)
        if not bumped:
            bumped.append(erp_id)
            current = self.erp_to_crm("CUSTOMER", erp_id)
            assert current is not None
            original(self, [current])  # same content, new etag: ours is now stale
        return original(self, items)

    monkeypatch.setattr(CouplingStore, "update_many", someone_writes_first)
    jobs = run_mapping(deps, "CUSTOMER", owner="stale-coupling-test")
    monkeypatch.undo()

    assert bumped and total(jobs, "failed") == 0 and total(jobs, "modified") == 1
    stored = deps.storage().couplings.erp_to_crm("CUSTOMER", erp_id)
    assert stored is not None
    erp_on = erp(app, erp_id)["lastModifiedDateTime"]
    assert stored.erp_modified_on is not None and stored.erp_modified_on.isoformat().startswith(erp_on[:19])


def test_a_pass_over_many_records_reads_the_couplings_partition_once(
        app: App, deps: Deps, customer_creates_from_crm: None, monkeypatch: pytest.MonkeyPatch) -> None:
    app.seed("erp", "customers", SCAN_ABOVE + 10)
    run(app, deps)  # creates and couples them
    for erp_id in list(erp_ids := [k for k in app.bc_records("customers")])[-(SCAN_ABOVE + 10):]:
        app.edit("erp", "customers", erp_id, {"phoneNumber": "+49 30 777"})
    scans: list[str] = []
    snapshot, find_by_erp = CouplingStore.snapshot, CouplingStore.find_by_erp

    def counted_snapshot(self: CouplingStore, mapping: str) -> Any:
        scans.append(mapping)
        return snapshot(self, mapping)

    def counted_find(self: CouplingStore, mapping: str, ids: Iterable[str]) -> dict[str, Coupling]:
        wanted = list(ids)
        if mapping == "CUSTOMER" and len(wanted) > SCAN_ABOVE:
            scans.append("find_by_erp")
        return find_by_erp(self, mapping, wanted)

    monkeypatch.setattr(CouplingStore, "snapshot", counted_snapshot)
    monkeypatch.setattr(CouplingStore, "find_by_erp", counted_find)
    jobs = run_mapping(deps, "CUSTOMER", owner="snapshot-test")
    monkeypatch.undo()

    assert total(jobs, "failed") == 0 and total(jobs, "modified") >= SCAN_ABOVE + 10
    assert scans.count("find_by_erp") == 0 and 1 <= scans.count("CUSTOMER") <= 2  # at most one per pass
    assert all(crm(app, c.crm_id)["telephone1"] == "+49 30 777"
               for c in deps.storage().couplings.find_by_erp("CUSTOMER", erp_ids[-(SCAN_ABOVE + 10):]).values())


def test_each_pass_of_a_run_reports_its_own_start(app: App, deps: Deps) -> None:
    """F11: the fromCrm pass starts after the toCrm pass finished, and its job says so (not the queue time)."""
    coupled_pair(app)
    resp = app.call("POST", "/mappings/CUSTOMER/sync", json={})
    assert resp.status_code == 202, resp.text
    assert local_queue("koppel-jobs").drain(120)
    to_crm, from_crm = (deps.storage().jobs.get(i) for i in resp.json()["jobIds"])

    assert to_crm.finished_on is not None and from_crm.started_on >= to_crm.finished_on
