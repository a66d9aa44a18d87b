"""CrmClient against the HTTPS Dataverse emulator: msal tokens, paged/bulk/delta reads, lookups,
conditional and idempotent writes, multipart batches with mixed outcomes, bulk actions and faults."""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
import requests

from core.odata.auth import MsalAuth
from core.crm import CrmClient
from core.errors import AuthError, Rejected, StaleWrite
from core.odata import ODataSession, RetryPolicy, WriteOp
from core.settings import CrmConfig, Secret
from emulators.stack import Stack


def crm_config(stack: Stack, secret: str | None = None) -> CrmConfig:
    info = stack.info
    return CrmConfig(url=info.dataverse_url, tenant_id=info.tenant, client_id=info.client_id,
                     client_secret=Secret(secret or info.client_secret), authority_host=info.entra_url)


@pytest.fixture(name="crm")
def _crm(fresh_stack: Stack) -> CrmClient:
    """A CrmClient on the freshly reset stack; retries wait for real (the emulator's windows are real)."""
    config = crm_config(fresh_stack)
    session = ODataSession(service="crm", auth=MsalAuth(config, service="crm"),
                           headers={"Accept": "application/json", "OData-Version": "4.0"}, concurrency=8,
                           retry=RetryPolicy(attempts=8, backoff_factor=0.05, backoff_max=0.5, jitter=0.05),
                           timeout=(5.0, 30.0))
    return CrmClient(config, session=session)


def admin(stack: Stack, action: str, body: dict[str, Any] | None = None, method: str = "POST") -> Any:
    resp = requests.request(method, f"{stack.info.dataverse_url}/_admin/{action}", json=body, timeout=10)
    resp.raise_for_status()
    return resp.json() if resp.content else None


def seed(stack: Stack, count: int, entity: str = "accounts") -> list[str]:
    ids: list[str] = admin(stack, "seed", {"entity": entity, "count": count, "seed": 5})["ids"]
    return ids


def api_requests(stack: Stack) -> dict[str, int]:
    routes: dict[str, int] = admin(stack, "requests", method="GET")["routes"]
    return {k.replace("/api/data/v9.2", ""): v for k, v in routes.items()}


def new_id() -> str:
    return str(uuid.uuid4())


class TestConnection:
    def test_ping_and_whoami_with_an_msal_token(self, crm: CrmClient) -> None:
        assert crm.ping() >= 0.0
        assert uuid.UUID(crm.whoami())

    def test_wrong_secret_is_an_auth_error_without_the_secret(self, fresh_stack: Stack) -> None:
        with pytest.raises(AuthError) as info:
            CrmClient(crm_config(fresh_stack, secret="not-the-secret-xyz")).ping()
        assert "not-the-secret-xyz" not in str(info.value)


class TestReads:
    def test_changed_since_with_lookups_and_modified_by(self, crm: CrmClient, fresh_stack: Stack) -> None:
        # Arrange
        ids = seed(fresh_stack, 12)
        admin(fresh_stack, "edit", {"entity": "accounts", "id": ids[4], "fields": {"name": "Edited"}, "by": "ann",
                                    "at": "2031-01-01T00:00:05Z"})
        # Act
        late = [r for p in crm.read_changed_since("accounts", "accountid", dt.datetime(2031, 1, 1, tzinfo=dt.timezone.utc),
                                                  ["name", "transactioncurrencyid"]) for r in p]
        everything = [r for p in crm.read_changed_since("accounts", "accountid", None, ["name"]) for r in p]
        # Assert
        assert [r.id for r in late] == [ids[4]] and late[0].fields["name"] == "Edited"
        assert late[0].modified_on == dt.datetime(2031, 1, 1, 0, 0, 5, tzinfo=dt.timezone.utc)
        assert late[0].modified_by and late[0].modified_by != crm.whoami()
        assert uuid.UUID(str(late[0].fields["transactioncurrencyid"]))
        assert len(everything) == 12 and [r.modified_on for r in everything] == sorted(r.modified_on for r in everything)

    def test_read_by_ids_of_500_is_one_request(self, crm: CrmClient, fresh_stack: Stack) -> None:
        ids = seed(fresh_stack, 510)
        admin(fresh_stack, "requests", method="DELETE")
        found = crm.read_by_ids("accounts", "accountid", ids[:500] + [new_id()], ["name"])
        assert set(found) == set(ids[:500])
        assert api_requests(fresh_stack) == {"GET /accounts": 1}

    def test_change_tracking_sees_updates_and_deletes(self, crm: CrmClient, fresh_stack: Stack) -> None:
        # Arrange
        ids = seed(fresh_stack, 5)
        first = crm.read_changes("accounts", "accountid", ["name"])
        row = crm.get("accounts", "accountid", ids[0], ["name"])
        assert row is not None
        crm.update("accounts", "accountid", ids[0], str(row.etag), {"name": "Tracked"})
        requests.delete(f"{fresh_stack.info.dataverse_url}/_admin/records/accounts/{ids[1]}", timeout=10)
        # Act
        second = crm.read_changes("accounts", "accountid", ["name"], first.next_delta_link)
        # Assert
        assert len(first.records) == 5 and first.deleted_ids == ()
        assert [(r.id, r.fields["name"]) for r in second.records] == [(ids[0], "Tracked")]
        assert second.deleted_ids == (ids[1],) and second.next_delta_link != first.next_delta_link
        assert not second.full

    def test_an_expired_delta_link_recovers_with_a_full_read(self, crm: CrmClient, fresh_stack: Stack) -> None:
        # Arrange: a link older than ExpireChangeTrackingInDays (7 days, api-facts §F.4)
        seed(fresh_stack, 3)
        first = crm.read_changes("accounts", "accountid", ["name"])
        admin(fresh_stack, "clock", {"advanceS": 8 * 86_400})
        # Act
        again = crm.read_changes("accounts", "accountid", ["name"], first.next_delta_link)
        # Assert: every row again, flagged as a full read, and a fresh link that works
        assert again.full and len(again.records) == 3 and again.deleted_ids == ()
        assert crm.read_changes("accounts", "accountid", ["name"], again.next_delta_link).records == ()


class TestWrites:
    def test_idempotent_create_update_and_stale_etag(self, crm: CrmClient, fresh_stack: Stack) -> None:
        # Arrange
        currency = seed(fresh_stack, 1, "transactioncurrencies")[0]
        account_id = new_id()
        # Act
        created = crm.create_with_id("accounts", "accountid", account_id, {"name": "Contoso",
                                                                          "transactioncurrencyid": currency})
        again = crm.create_with_id("accounts", "accountid", account_id, {"name": "Contoso"})
        updated = crm.update("accounts", "accountid", account_id, str(created.etag),
                             {"name": "Contoso Ltd", "transactioncurrencyid": None})
        # Assert
        assert created.id == again.id == account_id and created.fields["transactioncurrencyid"] == currency
        assert len(admin(fresh_stack, "records/accounts", method="GET")["value"]) == 1
        assert updated.fields["name"] == "Contoso Ltd" and updated.fields["transactioncurrencyid"] is None
        with pytest.raises(StaleWrite):  # 412 0x80060882 (api-facts §A.2)
            crm.update("accounts", "accountid", account_id, str(created.etag), {"name": "Lost"})
        crm.delete("accounts", account_id, str(updated.etag))
        assert crm.get("accounts", "accountid", account_id) is None

    def test_batch_with_mixed_outcomes_and_idempotent_retry(self, crm: CrmClient, fresh_stack: Stack) -> None:
        # Arrange
        ids = seed(fresh_stack, 3)
        current = crm.read_by_ids("accounts", "accountid", ids, ["name"])
        crm.update("accounts", "accountid", ids[1], str(current[ids[1]].etag), {"name": "Changed meanwhile"})
        created_id = new_id()
        ops = [
            WriteOp("update", "accounts", ids[0], current[ids[0]].etag, {"name": "Batch A"}, ref="a"),
            WriteOp("update", "accounts", ids[1], current[ids[1]].etag, {"name": "Batch B"}, ref="b"),
            WriteOp("create", "accounts", new_id(), values={"nosuchcolumn": 1}, ref="c"),
            WriteOp("create", "accounts", created_id, values={"name": "Batch D"}, ref="d"),
            WriteOp("delete", "accounts", ids[2], current[ids[2]].etag, ref="e"),
        ]
        admin(fresh_stack, "requests", method="DELETE")
        # Act
        results = crm.apply_batch(ops)
        replay = crm.apply_batch([ops[3]])  # as after a lost answer: the create must not double
        # Assert
        assert [r.op.ref for r in results] == ["a", "b", "c", "d", "e"]
        assert results[0].record is not None and results[0].record.fields["name"] == "Batch A"
        assert isinstance(results[1].error, StaleWrite)
        assert isinstance(results[2].error, Rejected)
        assert results[3].record is not None and results[3].record.id == created_id
        assert results[4].ok and crm.get("accounts", "accountid", ids[2]) is None
        assert replay[0].ok and replay[0].record is not None and replay[0].record.id == created_id
        assert replay[0].record.fields["name"] == "Batch D"
        names = [r["name"] for r in admin(fresh_stack, "records/accounts", method="GET")["value"]]
        assert names.count("Batch D") == 1
        assert api_requests(fresh_stack).get("POST /$batch") == 2

    def test_upsert_and_create_multiple(self, crm: CrmClient, fresh_stack: Stack) -> None:
        # Arrange
        rows = [{"accountid": new_id(), "name": f"Bulk {n}"} for n in range(1_200)]
        admin(fresh_stack, "requests", method="DELETE")
        # Act
        crm.upsert_multiple("accounts", "account", "accountid", rows)
        crm.upsert_multiple("accounts", "account", "accountid", rows[:10])  # idempotent
        created = crm.create_multiple("contacts", "contact", [{"lastname": f"L{n}"} for n in range(3)])
        # Assert
        assert len(admin(fresh_stack, "records/accounts", method="GET")["value"]) == 1_200
        assert len(created) == 3
        assert api_requests(fresh_stack) == {"POST /accounts/Microsoft.Dynamics.CRM.UpsertMultiple": 3,
                                             "POST /contacts/Microsoft.Dynamics.CRM.CreateMultiple": 1}

    def test_upsert_multiple_never_sends_a_repeated_id(self, crm: CrmClient, fresh_stack: Stack) -> None:
        # Arrange: the same row twice, once in upper case (Dataverse fails the whole call on a repeat)
        ident = new_id()
        rows = [{"accountid": ident, "name": "First", "telephone1": "555"}, {"accountid": new_id(), "name": "Other"},
                {"accountid": ident.upper(), "name": "Last"}]
        # Act
        crm.upsert_multiple("accounts", "account", "accountid", rows)
        # Assert: one target per id, later values winning
        found = {r["accountid"]: r for r in admin(fresh_stack, "records/accounts", method="GET")["value"]}
        assert len(found) == 2
        assert (found[ident]["name"], found[ident]["telephone1"]) == ("Last", "555")


class TestFaults:
    def test_throttled_reads_end_with_all_the_data(self, crm: CrmClient, fresh_stack: Stack) -> None:
        ids = seed(fresh_stack, 60)
        admin(fresh_stack, "faults", {"throttleAfter": 2, "retryAfterS": 1})
        found = {}
        for chunk in (ids[:20], ids[20:40], ids[40:]):
            found.update(crm.read_by_ids("accounts", "accountid", chunk, ["name"]))
        assert set(found) == set(ids)
        assert crm.session.stats["GET"] > 3

    def test_failing_share_of_503s_still_writes_everything(self, crm: CrmClient, fresh_stack: Stack) -> None:
        # Arrange
        created = crm.create_with_id("accounts", "accountid", new_id(), {"name": "Base"})
        admin(fresh_stack, "faults", {"failShare": 0.5, "failStatus": 503, "seed": 11})
        # Act
        ops = [WriteOp("create", "accounts", new_id(), values={"name": f"F{n}"}) for n in range(30)]
        results = [crm.apply_batch([op])[0] for op in ops]
        updated = crm.update("accounts", "accountid", created.id, str(created.etag), {"name": "Base 2"})
        # Assert
        admin(fresh_stack, "faults", {})
        assert all(r.ok for r in results) and updated.fields["name"] == "Base 2"
        names = sorted(r["name"] for r in admin(fresh_stack, "records/accounts", method="GET")["value"])
        assert names == sorted(["Base 2"] + [f"F{n}" for n in range(30)])
        assert crm.session.stats["POST"] > 30
