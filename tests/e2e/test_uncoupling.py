"""Uncouple many records and every coupling of a mapping (F6); records are never deleted."""
from __future__ import annotations

import pytest

from core.queue import local_queue
from tests.e2e.conftest import App
from tests.e2e.test_sync_many import coupled_pairs

pytestmark = pytest.mark.e2e


def test_uncouple_many_removes_just_those_couplings(app: App) -> None:
    pairs = coupled_pairs(app, 3)

    resp = app.call("POST", "/couplings/CUSTOMER/uncouple", json={"erpIds": [pairs[0][0], pairs[1][0]]})

    assert resp.status_code == 200 and resp.json() == {"uncoupled": 2}
    statuses = [app.call("GET", f"/couplings/CUSTOMER?erpId={e}").status_code for e, _ in pairs]
    assert statuses == [404, 404, 200]
    assert {e for e, _ in pairs} <= set(app.bc_records("customers"))
    assert {c for _, c in pairs} <= set(app.crm_records("accounts", "accountid"))


def test_uncouple_all_runs_as_a_job_and_keeps_every_record(app: App) -> None:
    pairs = coupled_pairs(app, 3)

    resp = app.call("POST", "/mappings/customer/uncouple-all")

    assert resp.status_code == 202, resp.text
    assert local_queue("koppel-jobs").drain(60)
    job = app.call("GET", f"/jobs/{resp.json()['id']}").json()
    assert (job["status"], job["type"]) == ("succeeded", "uncoupling")
    assert job["counters"]["uncoupled"] >= 3
    assert app.call("GET", "/couplings/CUSTOMER").json()["value"] == []
    assert {c for _, c in pairs} <= set(app.crm_records("accounts", "accountid"))


def test_uncouple_many_refuses_bad_ids_and_changes_nothing(app: App) -> None:
    [(erp_id, _)] = coupled_pairs(app, 1)
    resp = app.call("POST", "/couplings/CUSTOMER/uncouple", json={"erpIds": [erp_id, "not-a-guid"]})
    assert resp.status_code == 400 and resp.json()["field"] == "erpIds[1]"
    assert app.call("GET", f"/couplings/CUSTOMER?erpId={erp_id}").status_code == 200
