"""ErrorStore and IntentStore on Azurite: error rows read four ways, create intents claimed once."""
from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from typing import Any

import pytest

from core.model import Direction, ErrorCategory, Side, SyncError
from core.store import Intent, Storage

T0 = dt.datetime(2026, 3, 1, 12, 0, 0, tzinfo=dt.timezone.utc)


@pytest.fixture(name="storage")
def _storage(azurite: str) -> Storage:
    """A Storage whose tables no other test sees (unique prefix)."""
    return Storage.from_connection_string(azurite, prefix="t" + uuid.uuid4().hex[:12])


def _err(n: int, mapping: str = "CUSTOMER", erp_id: str | None = "E1", job_id: str | None = "j1") -> SyncError:
    return SyncError(id=f"e{n}", job_id=job_id, mapping=mapping, erp_id=erp_id, crm_id="C1",
                     direction=Direction.TO_CRM, category=ErrorCategory.VALIDATION, message=f"bad {n}",
                     detail="x" * 40_000 if n == 0 else None, occurred_on=T0 + dt.timedelta(seconds=n))


class TestErrorStore:
    def test_add_and_read_by_mapping_job_and_coupling_newest_first(self, storage: Storage) -> None:
        storage.errors.add(_err(0))
        storage.errors.add_many([_err(1, erp_id="E2"), _err(2, mapping="VENDOR", job_id="j2"), _err(3, job_id=None)])
        assert [e.id for e in storage.errors.list()] == ["e3", "e2", "e1", "e0"]
        assert [e.id for e in storage.errors.list("CUSTOMER", top=2)] == ["e3", "e1"]
        assert [e.id for e in storage.errors.for_job("j1")] == ["e1", "e0"]
        assert [e.id for e in storage.errors.for_coupling("CUSTOMER", "E1")] == ["e3", "e0"]
        assert storage.errors.for_coupling("CUSTOMER", "E1")[-1] == dataclasses.replace(_err(0), detail="x" * 30_000)

    def test_add_many_over_100_rows_is_chunked(self, storage: Storage) -> None:
        storage.errors.add_many([_err(n, erp_id=f"E{n}") for n in range(1, 151)])
        assert len(storage.errors.list("CUSTOMER", top=1000)) == 150
        assert len(storage.errors.for_job("j1")) == 150

    def test_delete_for_coupling_removes_its_errors_from_every_view(self, storage: Storage) -> None:
        storage.errors.add_many([_err(0), _err(1), _err(2, erp_id="E2")])
        assert storage.errors.delete_for_coupling("CUSTOMER", "E1") == 2
        assert storage.errors.for_coupling("CUSTOMER", "E1") == []
        assert [e.id for e in storage.errors.list()] == ["e2"]
        assert [e.id for e in storage.errors.for_job("j1")] == ["e2"]
        assert storage.errors.delete_for_coupling("CUSTOMER", "E1") == 0

    def test_a_redelivered_error_is_written_once(self, storage: Storage) -> None:
        storage.errors.add(_err(1))
        storage.errors.add(_err(1))
        assert len(storage.errors.list()) == 1


_NOW = dt.datetime(2026, 12, 3, 12, 0, tzinfo=dt.timezone.utc)


def _intent(side: Side, source_id: str, planned: str, **kw: Any) -> Intent:
    return Intent("CUSTOMER", side, source_id, planned, claimed_on=_NOW, **kw)


class TestIntentStore:
    def test_claim_records_the_planned_id_and_a_retry_gets_the_same_one(self, storage: Storage) -> None:
        first = storage.intents.claim(_intent(Side.ERP, "E1", "new-1", values={"name": "Ann"}, hashes={"n": "a:b"}))
        assert first.planned_id == "new-1" and first.claimed_on == _NOW
        again = storage.intents.claim(_intent(Side.ERP, "E1", "new-2"))
        assert again.planned_id == "new-1" and again.values == {"name": "Ann"} and again.hashes == {"n": "a:b"}
        assert again.claimed_on == _NOW
        assert storage.intents.claim(_intent(Side.CRM, "E1", "new-3")).planned_id == "new-3"  # sides are separate
        pending = storage.intents.pending("CUSTOMER")
        assert {(i.source_side, i.source_id, i.planned_id) for i in pending} == {
            (Side.ERP, "E1", "new-1"), (Side.CRM, "E1", "new-3")}

    def test_claim_many_over_100_keeps_earlier_claims(self, storage: Storage) -> None:
        storage.intents.claim(_intent(Side.CRM, "C7", "old-7"))
        standing = storage.intents.claim_many([_intent(Side.CRM, f"C{i}", f"new-{i}") for i in range(130)])
        assert standing["C7"].planned_id == "old-7" and standing["C8"].planned_id == "new-8" and len(standing) == 130
        assert len(storage.intents.pending("CUSTOMER")) == 130

    def test_clear_and_clear_many_forget_intents_and_tolerate_missing_ones(self, storage: Storage) -> None:
        storage.intents.claim_many([_intent(Side.ERP, f"E{i}", f"n{i}") for i in range(5)])
        storage.intents.clear("CUSTOMER", Side.ERP, "E0")
        storage.intents.clear("CUSTOMER", Side.ERP, "E0")
        storage.intents.clear_many("CUSTOMER", Side.ERP, ["E1", "E2", "nope"])
        assert sorted(i.source_id for i in storage.intents.pending("CUSTOMER")) == ["E3", "E4"]
        assert storage.intents.claim(_intent(Side.ERP, "E0", "again")).planned_id == "again"
