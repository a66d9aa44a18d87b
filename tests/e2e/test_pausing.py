"""Pause, resume and the circuit breaker end to end (SPEC X12): through HTTP, the queue and the worker."""
from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from core.deps import Deps
from core.model import JobStatus
from core.sync.passes import due_mappings, queue_sync_jobs, run_mapping
from core.queue import local_queue
from tests.e2e.conftest import App

pytestmark = pytest.mark.e2e


@pytest.fixture(name="deps")
def _deps(app: App) -> Iterator[Deps]:
    """Core's dependencies in the test process; afterwards faults are cleared and CUSTOMER resumed
    (the Mappings table outlives a test)."""
    d = Deps.from_env()
    yield d
    for url in (app.stack.info.bc_url, app.stack.info.dataverse_url):
        requests.post(f"{url}/_admin/faults", json={}, timeout=10).raise_for_status()
    app.call("POST", "/mappings/CUSTOMER/resume").raise_for_status()


def _run(app: App) -> list[str]:
    resp = app.call("POST", "/mappings/CUSTOMER/sync", json={})
    assert resp.status_code == 202, resp.text
    assert local_queue("koppel-jobs").drain(120)
    ids: list[str] = resp.json()["jobIds"]
    return ids


def _coupled(app: App, count: int) -> dict[str, str]:
    pairs = {}
    for erp_id in app.seed("erp", "customers", count):
        resp = app.call("POST", "/couplings", json={"mapping": "CUSTOMER", "erpId": erp_id, "createNew": True})
        assert resp.status_code == 201, resp.text
        pairs[erp_id] = resp.json()["crmId"]
    return pairs


def test_a_paused_mapping_does_no_work_and_catches_up_when_resumed(app: App, deps: Deps) -> None:
    pairs = _coupled(app, 3)
    _run(app)  # watermarks past the couplings
    paused = app.call("POST", "/mappings/CUSTOMER/pause", json={"reason": "ERP upgrade tonight"})
    assert paused.status_code == 200, paused.text
    assert paused.json()["paused"] is True and paused.json()["reason"] == "ERP upgrade tonight"
    for n, erp_id in enumerate(pairs):
        app.edit("erp", "customers", erp_id, {"displayName": f"Paused edit {n} {erp_id[:8]}"})

    sync_now = app.call("POST", "/mappings/CUSTOMER/sync", json={})
    assert sync_now.status_code == 409 and sync_now.json()["reason"] == "paused"
    assert "CUSTOMER" not in due_mappings(deps, deps.clock())
    queued = queue_sync_jobs(deps, deps.storage().mappings.get("CUSTOMER"), dry_run=False)
    assert run_mapping(deps, "CUSTOMER", owner="test-paused", job_ids=[j.id for j in queued]) == []
    for job in queued:
        done = deps.storage().jobs.get(job.id)
        assert done.status is JobStatus.FAILED and "paused: ERP upgrade tonight" in (done.message or "")
    crm = app.crm_records("accounts", "accountid")
    assert not any(crm[c]["name"].startswith("Paused edit") for c in pairs.values())

    resumed = app.call("POST", "/mappings/CUSTOMER/resume")
    assert resumed.status_code == 200 and resumed.json()["paused"] is False
    assert "CUSTOMER" in due_mappings(deps, deps.clock())  # the next scheduled run is due at once
    _run(app)
    crm = app.crm_records("accounts", "accountid")
    assert [crm[c]["name"] for c in pairs.values()] == [f"Paused edit {n} {e[:8]}" for n, e in enumerate(pairs)]


def test_a_side_refusing_our_credentials_trips_the_breaker(app: App, deps: Deps) -> None:
    pairs = _coupled(app, 2)
    _run(app)
    for erp_id in pairs:
        app.edit("erp", "customers", erp_id, {"displayName": f"Breaker {erp_id[:8]}"})
    requests.post(f"{app.stack.info.dataverse_url}/_admin/faults", json={"failStatus": 401, "failShare": 1.0},
                  timeout=10).raise_for_status()

    jobs = [deps.storage().jobs.get(i) for i in _run(app)]
    assert jobs[0].status in (JobStatus.FAILED, JobStatus.PARTIAL)
    mapping = app.call("GET", "/mappings/CUSTOMER").json()
    assert mapping["paused"] is True
    conn = app.call("GET", "/connection")
    assert conn.status_code == 200, conn.text
    [note] = [p for p in conn.json()["pausedMappings"] if p["mapping"] == "CUSTOMER"]
    assert note["by"] == "breaker" and "CRM refused our credentials (401)" in note["reason"] and note["since"]
    assert "CUSTOMER" not in due_mappings(deps, deps.clock())
    assert run_mapping(deps, "CUSTOMER", owner="test-scheduled") == []  # the next scheduled run does nothing

    requests.post(f"{app.stack.info.dataverse_url}/_admin/faults", json={}, timeout=10).raise_for_status()
    assert app.call("POST", "/mappings/CUSTOMER/resume").status_code == 200
    _run(app)
    crm = app.crm_records("accounts", "accountid")
    assert [crm[c]["name"] for c in pairs.values()] == [f"Breaker {e[:8]}" for e in pairs]
    assert not [p for p in app.call("GET", "/connection").json()["pausedMappings"] if p["mapping"] == "CUSTOMER"]
