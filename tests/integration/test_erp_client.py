"""ErpClient against the HTTPS Business Central emulator: msal tokens from the emulated Entra ID,
paged and bulk reads, ETag-conditional writes, batches with mixed outcomes, throttling and faults."""
from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import requests

from core.errors import AuthError, Rejected, StaleWrite
from core.erp import ErpClient
from core.odata import ODataSession, RetryPolicy, WriteOp
from core.odata.auth import MsalAuth
from core.settings import ErpConfig, Secret
from emulators.stack import Stack


def erp_config(stack: Stack, secret: str | None = None) -> ErpConfig:
    info = stack.info
    return ErpConfig(tenant_id=info.tenant, environment=info.bc_environment, company_id=info.bc_company_id,
                     client_id=info.client_id, client_secret=Secret(secret or info.client_secret),
                     base_url=info.bc_url, authority_host=info.entra_url)


@pytest.fixture(name="erp")
def _erp(fresh_stack: Stack) -> ErpClient:
    """An ErpClient on the freshly reset stack; retries wait for real (the emulator's windows are real)."""
    config = erp_config(fresh_stack)
    session = ODataSession(service="erp", auth=MsalAuth(config, service="erp"),
                           headers={"Accept": "application/json"}, concurrency=5,
                           retry=RetryPolicy(attempts=8, backoff_factor=0.05, backoff_max=0.5, jitter=0.05),
                           timeout=(5.0, 30.0))
    return ErpClient(config, session=session)


def admin(stack: Stack, action: str, body: dict[str, Any] | None = None, method: str = "POST") -> Any:
    resp = requests.request(method, f"{stack.info.bc_url}/_admin/{action}", json=body, timeout=10)
    resp.raise_for_status()
    return resp.json() if resp.content else None


def seed(stack: Stack, count: int, entity: str = "customers") -> list[str]:
    ids: list[str] = admin(stack, "seed", {"entity": entity, "count": count, "seed": 7})["ids"]
    return ids


def api_requests(stack: Stack) -> dict[str, int]:
    """Requests since the last reset, by `METHOD /route-below-api/v2.0`."""
    routes: dict[str, int] = admin(stack, "requests", method="GET")["routes"]
    return {f"{k.split(' ')[0]} /{k.split('/api/v2.0/', 1)[-1]}": v for k, v in routes.items()}


class TestConnection:
    def test_ping_with_an_msal_token_from_the_emulated_entra_id(self, erp: ErpClient) -> None:
        assert erp.ping() >= 0.0

    def test_wrong_secret_is_an_auth_error_without_the_secret(self, fresh_stack: Stack) -> None:
        client = ErpClient(erp_config(fresh_stack, secret="not-the-secret-xyz"))
        with pytest.raises(AuthError) as info:
            client.ping()
        assert "not-the-secret-xyz" not in str(info.value) and "invalid_client" in str(info.value)


class TestReads:
    def test_changed_since_filters_selects_and_orders(self, erp: ErpClient, fresh_stack: Stack) -> None:
        # Arrange
        ids = seed(fresh_stack, 20)
        later = "2031-01-01T00:00:00.123Z"
        admin(fresh_stack, "edit", {"entity": "customers", "id": ids[3], "fields": {"displayName": "Late"},
                                    "by": "ann", "at": later})
        # Act
        pages = list(erp.read_changed_since("customers", dt.datetime(2031, 1, 1, 0, 0, 0, 123000, dt.timezone.utc),
                                            ["displayName"]))
        everything = [r for page in erp.read_changed_since("customers", None, ["displayName", "number"])
                      for r in page]
        # Assert
        assert [[(r.id, dict(r.fields)) for r in page] for page in pages] == [[(ids[3], {"displayName": "Late"})]]
        assert pages[0][0].modified_on == dt.datetime(2031, 1, 1, 0, 0, 0, 123000, dt.timezone.utc)
        assert len(everything) == 20 and set(everything[0].fields) == {"displayName", "number"}
        assert [r.modified_on for r in everything] == sorted(r.modified_on for r in everything)

    def test_mapping_filter_is_anded(self, erp: ErpClient, fresh_stack: Stack) -> None:
        ids = seed(fresh_stack, 5)
        number = erp.get("customers", ids[2], ["number"])
        assert number is not None
        found = [r for page in erp.read_changed_since("customers", None, ["number"],
                                                      f"number eq '{number.fields['number']}'") for r in page]
        assert [r.id for r in found] == [ids[2]]

    def test_read_by_ids_of_500_uses_a_few_requests(self, erp: ErpClient, fresh_stack: Stack) -> None:
        # Arrange
        ids = seed(fresh_stack, 520)
        admin(fresh_stack, "requests", method="DELETE")
        # Act
        found = erp.read_by_ids("customers", ids[:500] + ["00000000-0000-0000-0000-00000000abcd"], ["displayName"])
        # Assert
        assert set(found) == set(ids[:500])
        counts = api_requests(fresh_stack)
        assert set(counts) == {"GET /companies({id})/customers"} and counts["GET /companies({id})/customers"] <= 5

    def test_get_missing_is_none(self, erp: ErpClient) -> None:
        assert erp.get("customers", "00000000-0000-0000-0000-00000000abcd", ["displayName"]) is None


class TestWrites:
    def test_create_update_and_stale_etag(self, erp: ErpClient) -> None:
        # Arrange
        created = erp.create("customers", {"displayName": "Fabrikam"})
        # Act
        updated = erp.update("customers", created.id, str(created.etag), {"displayName": "Fabrikam Inc"})
        # Assert
        assert updated.fields["displayName"] == "Fabrikam Inc" and updated.etag != created.etag
        with pytest.raises(StaleWrite):  # BC answers 409 Request_EntityChanged (api-facts §B.3)
            erp.update("customers", created.id, str(created.etag), {"displayName": "Lost"})
        with pytest.raises(ValueError):
            erp.update("customers", created.id, "*", {"displayName": "Blind"})
        erp.delete("customers", created.id, str(updated.etag))
        assert erp.get("customers", created.id) is None

    def test_batch_with_mixed_outcomes(self, erp: ErpClient, fresh_stack: Stack) -> None:
        # Arrange
        ids = seed(fresh_stack, 3)
        current = erp.read_by_ids("customers", ids, ["displayName"])
        stale = erp.update("customers", ids[1], str(current[ids[1]].etag), {"displayName": "Changed meanwhile"})
        assert stale.etag
        ops = [
            WriteOp("update", "customers", ids[0], current[ids[0]].etag, {"displayName": "Batch A"}, ref="a"),
            WriteOp("update", "customers", ids[1], current[ids[1]].etag, {"displayName": "Batch B"}, ref="b"),
            WriteOp("create", "customers", values={"displayName": "x" * 300}, ref="c"),
            WriteOp("create", "customers", values={"displayName": "Batch D"}, ref="d"),
            WriteOp("delete", "customers", ids[2], current[ids[2]].etag, ref="e"),
        ]
        admin(fresh_stack, "requests", method="DELETE")
        # Act
        results = erp.apply_batch(ops)
        # Assert
        assert [r.op.ref for r in results] == ["a", "b", "c", "d", "e"]
        assert results[0].ok and results[0].record is not None and results[0].record.fields["displayName"] == "Batch A"
        assert isinstance(results[1].error, StaleWrite)
        assert isinstance(results[2].error, Rejected) and results[2].error.code == "Application_StringExceededLength"
        assert results[3].ok and results[3].record is not None and results[3].record.id
        assert api_requests(fresh_stack) == {"POST /$batch": 1}
        assert results[4].ok and erp.get("customers", ids[2]) is None

    def test_operations_a_batch_did_not_run_are_resent_never_dropped(self, erp: ErpClient,
                                                                     fresh_stack: Stack) -> None:
        # Arrange: a BC that ignores `odata.continue-on-error` stops at the stale first update (§F.1)
        ids = seed(fresh_stack, 2)
        current = erp.read_by_ids("customers", ids, ["displayName"])
        erp.update("customers", ids[0], str(current[ids[0]].etag), {"displayName": "Changed meanwhile"})
        send = erp.session.request

        def without_preference(method: str, url: str, **kw: Any) -> Any:
            kw["headers"] = {k: v for k, v in (kw.get("headers") or {}).items() if k != "Prefer"}
            return send(method, url, **kw)

        erp.session.request = without_preference  # type: ignore[method-assign]
        ops = [
            WriteOp("update", "customers", ids[0], current[ids[0]].etag, {"displayName": "Stale"}, ref="a"),
            WriteOp("create", "customers", values={"displayName": "Created after"}, ref="b"),
            WriteOp("update", "customers", ids[1], current[ids[1]].etag, {"displayName": "Updated after"}, ref="c"),
        ]
        admin(fresh_stack, "requests", method="DELETE")
        # Act
        results = erp.apply_batch(ops)
        # Assert: the ops after the failure went again in a second batch and landed
        assert isinstance(results[0].error, StaleWrite)
        assert results[1].ok and results[2].ok
        names = sorted(r["displayName"] for r in admin(fresh_stack, "records/customers", method="GET")["value"])
        assert names == ["Changed meanwhile", "Created after", "Updated after"]
        assert api_requests(fresh_stack) == {"POST /$batch": 2}

    def test_batch_sends_continue_on_error(self, erp: ErpClient, fresh_stack: Stack) -> None:
        seen: list[dict[str, str]] = []
        fresh_stack.bc.on_request = lambda req: seen.append(dict(req.headers.items()))
        try:
            erp.apply_batch([WriteOp("create", "customers", values={"displayName": "One"})])
        finally:
            fresh_stack.bc.on_request = None
        assert seen[-1]["Prefer"] == "odata.continue-on-error"

    def test_batches_split_at_100(self, erp: ErpClient, fresh_stack: Stack) -> None:
        admin(fresh_stack, "requests", method="DELETE")
        results = erp.apply_batch([WriteOp("create", "customers", values={"displayName": f"N{i}"}) for i in range(150)])
        assert all(r.ok for r in results) and len({r.record.id for r in results if r.record}) == 150
        assert api_requests(fresh_stack) == {"POST /$batch": 2}


class TestFaults:
    def test_throttled_reads_end_with_all_the_data(self, erp: ErpClient, fresh_stack: Stack) -> None:
        # Arrange
        ids = seed(fresh_stack, 300)
        admin(fresh_stack, "faults", {"throttleAfter": 2, "retryAfterS": 1})
        # Act
        found = {}
        for chunk in (ids[:100], ids[100:200], ids[200:]):
            found.update(erp.read_by_ids("customers", chunk, ["displayName"]))
        # Assert
        assert set(found) == set(ids)
        assert erp.session.stats["GET"] > 3  # some answers were 429 and were retried

    def test_failing_share_of_503s_still_writes_everything(self, erp: ErpClient, fresh_stack: Stack) -> None:
        # Arrange
        ids = seed(fresh_stack, 20)
        current = erp.read_by_ids("customers", ids, ["displayName"])
        admin(fresh_stack, "faults", {"failShare": 0.5, "failStatus": 503, "seed": 3})
        # Act
        results = [erp.update("customers", i, str(current[i].etag), {"displayName": f"V{n}"})
                   for n, i in enumerate(ids)]
        # Assert
        admin(fresh_stack, "faults", {})
        assert [r.fields["displayName"] for r in results] == [f"V{n}" for n in range(20)]
        assert erp.session.stats["PATCH"] > 20

    def test_read_timeout_on_a_get_is_retried(self, fresh_stack: Stack) -> None:
        config = erp_config(fresh_stack)
        session = ODataSession(service="erp", auth=MsalAuth(config), timeout=(5.0, 0.5),
                               retry=RetryPolicy(attempts=3, backoff_factor=0.01, jitter=0.0))
        client = ErpClient(config, session=session)
        client.ping()  # token first, so the stall hits the API call
        admin(fresh_stack, "faults", {"stallNext": 1, "stallS": 1.5})
        assert client.ping() >= 0.0
        assert session.stats["GET"] == 3
