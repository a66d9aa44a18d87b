"""Deletes seen and handled (X10): a coupled record deleted on one side meets the mapping's delete policy."""
from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from core.queue import local_queue
from tests.e2e.conftest import App
from tests.e2e.test_webhooks import SECRET, _hooked, _pair  # noqa: F401 - the `hooked` fixture

pytestmark = pytest.mark.e2e


@pytest.fixture(name="policy")
def _policy(hooked: App, request: pytest.FixtureRequest) -> Iterator[App]:
    """CUSTOMER with the delete policy given by the test's parameter, restored afterwards."""
    before = hooked.call("GET", "/mappings/CUSTOMER").json()["deletePolicy"]
    resp = hooked.call("PATCH", "/mappings/CUSTOMER", json={"deletePolicy": request.param},
                       headers={"Content-Type": "application/merge-patch+json"})
    assert resp.status_code == 200, resp.text
    requests.post(f"{hooked.stack.info.dataverse_url}/_admin/webhooks", timeout=30, json={
        "url": f"{hooked.api}/webhooks/crm", "entities": ["account"],
        "headers": {"x-koppel-secret": SECRET}}).raise_for_status()
    yield hooked
    hooked.call("PATCH", "/mappings/CUSTOMER", json={"deletePolicy": before},
                headers={"Content-Type": "application/merge-patch+json"})


def delete_in_dataverse_and_wait(app: App, crm_id: str) -> None:
    app.delete("crm", "accounts", crm_id)
    requests.post(f"{app.stack.info.dataverse_url}/_admin/webhooks/flush", timeout=30).raise_for_status()
    assert local_queue("koppel-jobs").drain(60)


@pytest.mark.parametrize("policy", ["delete"], indirect=True)
def test_delete_policy_delete_removes_the_counterpart_and_the_coupling(policy: App) -> None:
    erp_id, crm_id = _pair(policy)

    delete_in_dataverse_and_wait(policy, crm_id)

    assert erp_id not in policy.bc_records("customers")
    assert policy.call("GET", f"/couplings/CUSTOMER?erpId={erp_id}").status_code == 404


@pytest.mark.parametrize("policy", ["deactivate"], indirect=True)
def test_delete_policy_deactivate_blocks_the_counterpart(policy: App) -> None:
    erp_id, crm_id = _pair(policy)

    delete_in_dataverse_and_wait(policy, crm_id)

    assert policy.bc_records("customers")[erp_id]["blocked"] == "All"
    assert policy.call("GET", f"/couplings/CUSTOMER?erpId={erp_id}").status_code == 404


@pytest.mark.parametrize("policy", ["ignore"], indirect=True)
def test_delete_policy_ignore_touches_nothing(policy: App) -> None:
    erp_id, crm_id = _pair(policy)

    delete_in_dataverse_and_wait(policy, crm_id)

    assert policy.bc_records("customers")[erp_id]["blocked"] == " "
    assert policy.call("GET", f"/couplings/CUSTOMER?erpId={erp_id}").status_code == 200


@pytest.mark.parametrize("policy", ["uncouple"], indirect=True)
def test_delete_policy_uncouple_keeps_the_counterpart(policy: App) -> None:
    erp_id, crm_id = _pair(policy)

    delete_in_dataverse_and_wait(policy, crm_id)

    assert erp_id in policy.bc_records("customers")
    assert policy.call("GET", f"/couplings/CUSTOMER?erpId={erp_id}").status_code == 404
