"""Near-real-time sync (X2) end to end: real BC notifications and Dataverse webhooks reach the app through devhost."""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
import requests

import functions.deps
from core.queue import local_queue
from core.actions.subscriptions import ensure_subscriptions
from tests.e2e.conftest import App

pytestmark = pytest.mark.e2e

SECRET = "wh-" + "s3cret-for-tests"


@pytest.fixture(name="hooked")
def _hooked(app: App, monkeypatch: pytest.MonkeyPatch) -> Iterator[App]:
    """The app with a webhook secret and public URL: fresh deps read them, the old ones come back after."""
    monkeypatch.setenv("KOPPEL_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("KOPPEL_PUBLIC_URL", app.api.removesuffix("/api"))
    monkeypatch.setattr(functions.deps, "_deps", None)
    queue = local_queue("koppel-jobs")
    assert queue.drain(60)
    yield app
    assert queue.drain(60)


def _pair(app: App) -> tuple[str, str]:
    [erp_id], [crm_id] = app.seed("erp", "customers", 1), app.seed("crm", "accounts", 1)
    resp = app.call("POST", "/couplings", json={"mapping": "CUSTOMER", "erpId": erp_id, "crmId": crm_id,
                                                 "sync": "toCrm"})
    assert resp.status_code == 201, resp.text
    return erp_id, crm_id


def _bc(app: App, method: str, path: str, **kw: Any) -> requests.Response:
    resp = requests.request(method, f"{app.stack.info.bc_url}/_admin/{path}", timeout=30, **kw)
    resp.raise_for_status()
    return resp


def _sync_jobs(app: App) -> list[dict[str, Any]]:
    """Sync jobs newest first, once each: GET /jobs can list a job twice when its start time moved after
    it was queued (JobStore.update keeps the old index copy; reported, not ours to change)."""
    jobs = [j for j in app.call("GET", "/jobs?mapping=CUSTOMER&top=100").json()["value"] if j["type"] == "sync"]
    return list({j["id"]: j for j in reversed(jobs)}.values())[::-1]


def test_a_bc_edit_reaches_dataverse_without_a_scheduled_run(hooked: App) -> None:
    erp_id, crm_id = _pair(hooked)
    subs = ensure_subscriptions(functions.deps.deps())
    assert {(s.entity, s.action) for s in subs} >= {("customers", "created")}
    assert "contacts" not in {s.entity for s in subs}  # BC cannot subscribe to contacts (api-facts §B.6)
    before = len(_sync_jobs(hooked))

    hooked.edit("erp", "customers", erp_id, {"city": "Mechelen"})
    assert _bc(hooked, "POST", "webhooks/flush").json()["posts"] >= 1
    assert local_queue("koppel-jobs").drain(60)

    assert hooked.crm_records("accounts", "accountid")[crm_id]["address1_city"] == "Mechelen"
    jobs = _sync_jobs(hooked)
    assert len(jobs) == before + 1 and jobs[0]["direction"] == "toCrm" and jobs[0]["counters"]["modified"] == 1
    assert [d["status"] for d in _bc(hooked, "GET", "webhooks").json()["deliveries"]] == [202]


def test_a_dataverse_edit_reaches_bc_through_its_webhook(hooked: App) -> None:
    erp_id, crm_id = _pair(hooked)
    requests.post(f"{hooked.stack.info.dataverse_url}/_admin/webhooks", timeout=30, json={
        "url": f"{hooked.api}/webhooks/crm", "entities": ["account"],
        "headers": {"x-koppel-secret": SECRET}}).raise_for_status()

    hooked.edit("crm", "accounts", crm_id, {"address1_city": "Odense"})
    requests.post(f"{hooked.stack.info.dataverse_url}/_admin/webhooks/flush", timeout=30).raise_for_status()
    assert local_queue("koppel-jobs").drain(60)

    assert hooked.bc_records("customers")[erp_id]["city"] == "Odense"
    job = _sync_jobs(hooked)[0]
    assert job["direction"] == "fromCrm" and job["counters"]["modified"] == 1


def _notification(app: App, erp_id: str, state: str, stamp: str = "2030-01-01T00:00:00Z") -> dict[str, Any]:
    company = app.stack.info.to_json()["bcCompanyId"]
    return {"value": [{"subscriptionId": "s1", "clientState": state, "changeType": "updated",
                       "resource": f"api/v2.0/companies({company})/customers({erp_id})",
                       "lastModifiedDateTime": stamp}]}


def test_wrong_secrets_are_refused_and_queue_nothing(hooked: App) -> None:
    erp_id, _ = _pair(hooked)
    before = len(_sync_jobs(hooked))

    erp = hooked.call("POST", "/webhooks/erp", key=False, json=_notification(hooked, erp_id, "not-it"))
    crm = hooked.call("POST", "/webhooks/crm", key=False, headers={"x-koppel-secret": "not-it"},
                      json={"MessageName": "Update", "PrimaryEntityName": "account", "PrimaryEntityId": erp_id})
    bare = hooked.call("POST", "/webhooks/crm", key=False, json={"MessageName": "Update"})

    for resp in (erp, crm, bare):
        assert resp.status_code == 401 and resp.headers["Content-Type"].startswith("application/problem+json")
        assert SECRET not in resp.text
    assert local_queue("koppel-jobs").drain(60)
    assert len(_sync_jobs(hooked)) == before


def test_the_handshake_echoes_the_token(hooked: App) -> None:
    resp = hooked.call("POST", "/webhooks/erp?validationToken=abc-123_XYZ", key=False)
    assert (resp.status_code, resp.text) == (200, "abc-123_XYZ")
    assert resp.headers["Content-Type"].startswith("text/plain")


def test_garbage_is_a_400_problem(hooked: App) -> None:
    resp = hooked.call("POST", "/webhooks/erp", key=False, json={"value": [{"changeType": "renamed"}]})
    assert resp.status_code == 400 and resp.json()["status"] == 400


def test_a_redelivered_notification_syncs_once(hooked: App) -> None:
    erp_id, crm_id = _pair(hooked)
    hooked.edit("erp", "customers", erp_id, {"city": "Gent"})
    before = len(_sync_jobs(hooked))
    body = _notification(hooked, erp_id, SECRET)

    first = hooked.call("POST", "/webhooks/erp", key=False, json=body)
    assert first.status_code == 202, first.text
    assert local_queue("koppel-jobs").drain(60)
    again = hooked.call("POST", "/webhooks/erp", key=False, json=body)  # BC retrying after a lost answer

    assert again.status_code == 202 and again.json()["jobIds"] == first.json()["jobIds"]
    assert local_queue("koppel-jobs").drain(60)
    jobs = _sync_jobs(hooked)
    assert len(jobs) == before + 1 and jobs[0]["counters"]["modified"] == 1
    assert hooked.crm_records("accounts", "accountid")[crm_id]["address1_city"] == "Gent"


def test_an_expiring_subscription_is_renewed_and_a_deleted_one_recreated(hooked: App) -> None:
    _pair(hooked)
    [first] = [s for s in ensure_subscriptions(functions.deps.deps()) if s.entity == "customers"]
    soon = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=5)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    _bc(hooked, "POST", "webhooks/expire", json={"subscriptionId": first.id, "at": soon})

    [renewed] = [s for s in ensure_subscriptions(functions.deps.deps()) if s.entity == "customers"]
    assert (renewed.id, renewed.action) == (first.id, "renewed")
    assert renewed.expires_on > dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=2)
    [kept] = [s for s in ensure_subscriptions(functions.deps.deps()) if s.entity == "customers"]
    assert kept.action == "kept"

    erp = functions.deps.deps().erp()
    erp.session.request("DELETE", f"{erp.config.api_root}/subscriptions('{first.id}')",
                        headers={"If-Match": kept.etag})
    [again] = [s for s in ensure_subscriptions(functions.deps.deps()) if s.entity == "customers"]
    assert again.action == "created" and again.id != first.id
