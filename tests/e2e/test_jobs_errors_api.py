"""The synchronization log and the errors view through HTTP (F10, F11, X11), with each error action end to end.

Failures are provoked for real: couple a pair, delete the CRM row, synchronize toCrm → deletedCounterpart.
The Azure tables outlive a test, so each test looks only at the ids and jobs it made.
"""
from __future__ import annotations

import datetime as dt
import os
import uuid
from typing import Any

import pytest

from core.model import Counters, Direction, ErrorCategory, Job, JobStatus, JobType, SyncError
from core.store import Storage
from tests.e2e.conftest import App

pytestmark = pytest.mark.e2e


@pytest.fixture(name="storage")
def _storage(app: App) -> Storage:
    """The app's own tables, to arrange jobs and coupling states the routes then read."""
    return Storage.from_connection_string(os.environ["KOPPEL_STORAGE"])


def _pair(app: App) -> tuple[str, str]:
    [erp_id] = app.seed("erp", "customers", 1)
    [crm_id] = app.seed("crm", "accounts", 1)
    resp = app.call("POST", "/couplings", json={"mapping": "CUSTOMER", "erpId": erp_id, "crmId": crm_id})
    assert resp.status_code == 201, resp.text
    return erp_id, crm_id


def _broken_pair(app: App) -> tuple[str, str]:
    """A coupling whose CRM row was deleted, after one failing toCrm sync (error row + failure result)."""
    erp_id, crm_id = _pair(app)
    app.delete("crm", "accounts", crm_id)
    resp = app.call("POST", "/sync", json={"mapping": "CUSTOMER", "erpIds": [erp_id], "direction": "toCrm"})
    assert resp.status_code == 409, resp.text
    return erp_id, crm_id


def _errors(app: App) -> dict[str, dict[str, Any]]:
    resp = app.call("GET", "/errors?mapping=CUSTOMER&top=1000")
    assert resp.status_code == 200, resp.text
    return {e["erpId"]: e for e in resp.json()["value"]}


def _coupling(app: App, erp_id: str) -> dict[str, Any]:
    resp = app.call("GET", f"/couplings/CUSTOMER?erpId={erp_id}")
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


class TestJobs:
    def test_lists_newest_first_and_gets_one_with_its_error_rows(self, app: App, storage: Storage) -> None:
        mapping = "J" + uuid.uuid4().hex[:8].upper()
        start = dt.datetime(2024, 5, 1, 8, tzinfo=dt.timezone.utc)
        ids = [str(uuid.uuid4()) for _ in range(3)]
        for n, job_id in enumerate(ids):
            storage.jobs.create(Job(job_id, mapping, JobType.SYNC, Direction.TO_CRM, JobStatus.PARTIAL,
                                    start + dt.timedelta(minutes=n), counters=Counters(modified=n, failed=1),
                                    progress=1.0, message="done", dry_run=n == 1))
        storage.errors.add(SyncError(str(uuid.uuid4()), ids[2], mapping, str(uuid.uuid4()), None, Direction.TO_CRM,
                                     ErrorCategory.VALIDATION, "name is too long", None, start))

        listed = app.call("GET", f"/jobs?mapping={mapping}&top=2")
        one = app.call("GET", f"/jobs/{ids[2]}")

        assert listed.status_code == 200, listed.text
        assert [j["id"] for j in listed.json()["value"]] == [ids[2], ids[1]]
        assert listed.json()["value"][1]["dryRun"] is True
        body = one.json()
        assert (body["status"], body["counters"]["modified"], body["progress"]) == ("partial", 2, 1.0)
        assert [e["message"] for e in body["errors"]] == ["name is too long"]

    def test_an_id_that_is_not_a_guid_is_400_and_an_unknown_one_404(self, app: App) -> None:
        bad = app.call("GET", "/jobs/not-a-guid")
        unknown = app.call("GET", f"/jobs/{uuid.uuid4()}")

        assert bad.status_code == 400 and bad.json()["field"] == "id"
        assert unknown.status_code == 404


class TestErrorsView:
    def test_lists_a_deleted_counterpart_with_which_side_exists(self, app: App) -> None:
        erp_id, crm_id = _broken_pair(app)
        healthy, _ = _pair(app)

        entries = _errors(app)

        entry = entries[erp_id]
        assert (entry["erpExists"], entry["crmExists"]) == (True, False)
        assert entry["category"] == "deletedCounterpart" and "Restore" in entry["suggestedAction"]
        assert healthy not in entries

    def test_existence_is_read_in_bulk_not_per_record(self, app: App) -> None:
        broken = [_broken_pair(app)[0] for _ in range(3)]
        before = app.request_counts("crm")

        entries = _errors(app)
        after = app.request_counts("crm")

        assert all(not entries[e]["crmExists"] for e in broken)
        total = sum(v for v in after.values() if isinstance(v, int)) - sum(
            v for v in before.values() if isinstance(v, int))
        assert 1 <= total <= 2, (before, after)


class TestErrorActions:
    def test_retry_clears_skipped_and_the_repeat_count(self, app: App) -> None:
        erp_id, _ = _broken_pair(app)
        app.call("POST", "/sync", json={"mapping": "CUSTOMER", "erpIds": [erp_id], "direction": "toCrm"})
        assert _coupling(app, erp_id)["skipped"] is True

        resp = app.call("POST", "/errors/retry", json={"mapping": "CUSTOMER", "erpIds": [erp_id]})

        assert resp.status_code == 200 and resp.json()["value"][0]["ok"] is True
        assert _coupling(app, erp_id)["skipped"] is False

    def test_retry_all_covers_every_failed_coupling(self, app: App) -> None:
        erp_a, _ = _broken_pair(app)
        erp_b, _ = _broken_pair(app)
        for erp_id in (erp_a, erp_b):
            app.call("POST", "/sync", json={"mapping": "CUSTOMER", "erpIds": [erp_id], "direction": "toCrm"})

        resp = app.call("POST", "/errors/retry", json={"all": True, "mapping": "CUSTOMER"})

        assert resp.status_code == 200, resp.text
        assert {erp_a, erp_b} <= {r["id"] for r in resp.json()["value"] if r["ok"]}
        assert not _coupling(app, erp_a)["skipped"] and not _coupling(app, erp_b)["skipped"]

    def test_synchronize_unskips_and_syncs_in_the_chosen_direction_per_id(self, app: App, storage: Storage) -> None:
        erp_id, crm_id = _pair(app)
        coupling = storage.couplings.erp_to_crm("CUSTOMER", erp_id)
        assert coupling is not None
        storage.couplings.update(coupling.with_changes(skipped=True))
        app.edit("erp", "customers", erp_id, {"displayName": "Renamed in ERP"})
        broken, _ = _broken_pair(app)

        resp = app.call("POST", "/errors/synchronize",
                        json={"mapping": "CUSTOMER", "erpIds": [erp_id, broken], "direction": "toCrm"})

        assert resp.status_code == 200, resp.text
        results = {r["id"]: r for r in resp.json()["value"]}
        assert results[erp_id]["ok"] is True and results[broken]["ok"] is False, results
        assert app.crm_records("accounts", "accountid")[crm_id]["name"] == "Renamed in ERP"
        assert _coupling(app, erp_id)["skipped"] is False

    def test_synchronize_refuses_more_than_100_ids(self, app: App) -> None:
        ids = [str(uuid.uuid4()) for _ in range(101)]

        resp = app.call("POST", "/errors/synchronize", json={"mapping": "CUSTOMER", "erpIds": ids, "direction": "toCrm"})

        assert resp.status_code == 400 and resp.json()["field"] == "erpIds"

    def test_restore_recreates_the_deleted_side_and_recouples(self, app: App) -> None:
        erp_id, crm_id = _broken_pair(app)

        resp = app.call("POST", "/errors/restore", json={"mapping": "CUSTOMER", "erpIds": [erp_id]})

        assert resp.status_code == 200 and resp.json()["value"][0]["ok"] is True, resp.text
        new_crm = _coupling(app, erp_id)["crmId"]
        assert new_crm != crm_id
        accounts = app.crm_records("accounts", "accountid")
        assert accounts[new_crm]["name"] == app.bc_records("customers")[erp_id]["displayName"]
        assert erp_id not in _errors(app)

    def test_delete_couplings_uncouples_and_keeps_both_records(self, app: App) -> None:
        erp_id, _ = _broken_pair(app)

        resp = app.call("POST", "/errors/delete-couplings", json={"mapping": "CUSTOMER", "erpIds": [erp_id]})

        assert resp.status_code == 200 and resp.json()["value"][0]["ok"] is True
        assert app.call("GET", f"/couplings/CUSTOMER?erpId={erp_id}").status_code == 404
        assert erp_id in app.bc_records("customers") and erp_id not in _errors(app)
