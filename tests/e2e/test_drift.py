"""Drift reconciliation end to end (SPEC X9): a change made behind Koppel's back without moving modifiedon is
invisible to incremental runs; `POST /mappings/CUSTOMER/reconcile` finds it with bulk reads and repairs it."""
from __future__ import annotations

import time
from typing import Any

import pytest
import requests

from core.deps import Deps
from core.model import Job, JobStatus
from core.queue import local_queue
from tests.e2e.conftest import App
from tests.e2e.test_scheduled_sync import _deps, clear_counts, coupled_pair, crm, run, total  # noqa: F401

pytestmark = pytest.mark.e2e
PAIRS = 4


def reconcile(app: App, deps: Deps, **body: Any) -> Job:
    resp = app.call("POST", "/mappings/CUSTOMER/reconcile", json=body)
    assert resp.status_code == 202, resp.text
    assert local_queue("koppel-jobs").drain(120)
    return deps.storage().jobs.get(resp.json()["id"])


def gets(app: App, side: str) -> int:
    routes: dict[str, int] = app.request_counts(side)["routes"]
    return sum(n for k, n in routes.items() if k.startswith("GET "))


def erp_name(app: App, erp_id: str) -> str:
    return str(app.bc_records("customers")[erp_id]["displayName"])


@pytest.fixture(name="drifted")
def _drifted(app: App, deps: Deps) -> tuple[str, str, list[tuple[str, str]]]:
    """PAIRS coupled, synced pairs; one CRM row renamed behind Koppel's back with its modifiedon kept, after the
    CRM watermark moved past it (so the incremental pass's tie-safe re-read does not see it either)."""
    deps.storage().couplings.uncouple_all("CUSTOMER")  # couplings other tests left behind (the emulators reset)
    pairs = [coupled_pair(app) for _ in range(PAIRS)]
    run(app, deps)
    time.sleep(1.1)  # Dataverse's modifiedon has whole seconds: the next edit lands strictly later
    app.edit("crm", "accounts", pairs[-1][1], {"address1_city": "Jena"})
    run(app, deps)
    erp_id, crm_id = pairs[0]
    stored = deps.storage().couplings.erp_to_crm("CUSTOMER", erp_id)
    assert stored is not None and stored.crm_modified_on is not None
    at = crm(app, crm_id)["modifiedon"]
    requests.post(f"{app.stack.info.dataverse_url}/_admin/edit", timeout=10, json={
        "entity": "accounts", "id": crm_id, "fields": {"name": "Renamed Behind Koppel"}, "at": at}
                  ).raise_for_status()
    assert crm(app, crm_id)["modifiedon"] == at
    return erp_id, crm_id, pairs


def test_incremental_runs_miss_it_and_reconcile_repairs_it(app: App, deps: Deps,
                                                           drifted: tuple[str, str, list[tuple[str, str]]]) -> None:
    erp_id, crm_id, _ = drifted
    jobs = run(app, deps)
    assert total(jobs, "modified") == 0
    assert erp_name(app, erp_id) != "Renamed Behind Koppel"
    clear_counts(app)

    job = reconcile(app, deps)

    assert job.status is JobStatus.SUCCEEDED, [e.message for e in deps.storage().errors.for_job(job.id)]
    assert (job.counters.drifted, job.counters.repaired, job.counters.modified) == (1, 1, 1)
    assert erp_name(app, erp_id) == crm(app, crm_id)["name"] == "Renamed Behind Koppel"
    # The repaired pair is settled: the next incremental run and the next reconcile find nothing.
    assert total(run(app, deps), "modified") == 0
    assert reconcile(app, deps).counters.drifted == 0


def test_dry_run_reports_and_changes_nothing_with_bulk_reads(app: App, deps: Deps,
                                                             drifted: tuple[str, str, list[tuple[str, str]]]) -> None:
    erp_id, crm_id, _ = drifted
    clear_counts(app)

    job = reconcile(app, deps, dryRun=True)

    assert job.status is JobStatus.SUCCEEDED and job.dry_run
    assert (job.counters.drifted, job.counters.repaired, job.counters.unchanged) == (1, 0, PAIRS - 1)
    assert erp_name(app, erp_id) != "Renamed Behind Koppel"
    assert deps.storage().couplings.erp_to_crm("CUSTOMER", erp_id) is not None
    # Bulk: every record of a side in one page read (plus the lookup translations), never one request per pair.
    assert gets(app, "erp") <= 2 and gets(app, "crm") <= 2, (app.request_counts("erp"), app.request_counts("crm"))
    assert reconcile(app, deps).counters.drifted == 1  # the dry run left the drift in place


def test_a_coupled_pair_whose_counterpart_was_deleted_is_reported(app: App, deps: Deps) -> None:
    deps.storage().couplings.uncouple_all("CUSTOMER")
    erp_id, crm_id = coupled_pair(app)
    app.delete("crm", "accounts", crm_id)

    job = reconcile(app, deps)

    assert job.status is JobStatus.PARTIAL and job.counters.failed == 1
    [row] = [e for e in deps.storage().errors.for_job(job.id)]
    assert row.erp_id == erp_id and row.category.value == "deletedCounterpart"


def test_reconcile_refuses_a_bad_body_and_an_unknown_mapping(app: App) -> None:
    assert app.call("POST", "/mappings/CUSTOMER/reconcile", json={"dryRun": "yes"}).status_code == 400
    assert app.call("POST", "/mappings/NOPE/reconcile", json={}).status_code == 404


@pytest.mark.parametrize("side", ["erp", "crm"])
def test_an_edit_carrying_an_older_time_is_carried_over_not_reverted(app: App, deps: Deps, side: str) -> None:
    """X9: the side whose values differ from the last synced ones changed, whatever its modified time says."""
    deps.storage().couplings.uncouple_all("CUSTOMER")
    erp_id, crm_id = coupled_pair(app)
    run(app, deps)
    url = app.stack.info.bc_url if side == "erp" else app.stack.info.dataverse_url
    entity, record, field = ("customers", erp_id, "city") if side == "erp" else ("accounts", crm_id, "address1_city")
    requests.post(f"{url}/_admin/edit", timeout=10, json={
        "entity": entity, "id": record, "fields": {field: "Jena"}, "at": "2020-01-01T00:00:00Z"}).raise_for_status()

    job = reconcile(app, deps)

    assert job.status is JobStatus.SUCCEEDED and job.counters.drifted == 1, job
    assert app.bc_records("customers")[erp_id]["city"] == "Jena"
    assert crm(app, crm_id)["address1_city"] == "Jena"
