"""ErrorStore: the Errors table, one row per failed record (F10, X11), readable four ways.

Each error is written as up to four copies, one per way it is read, each in its own partition with RowKey
`<newest-first time>|<id>`, so every read is one ascending range scan that stops after `top` rows:
`all` (every mapping) · `m|<mapping>` · `c|<mapping>|<erpId>` (one coupling's errors) · `j|<jobId>`.
Error rows are append-only (upserts, so a redelivered chunk rewrites the same row) until a coupling's are deleted.
"""
from __future__ import annotations

import builtins
from collections.abc import Iterable
from typing import Any

from core.errors import StaleWrite
from core.model import Direction, ErrorCategory, SyncError
from core.store._batches import submit_grouped
from core.store._tables import TableClient, UpdateMode, first_rows, from_utc, inverted_ms, key, to_utc, translated

__all__ = ["ErrorStore"]

_DETAIL_MAX = 30_000  # a string property holds at most 64 KiB (32 K UTF-16 chars)
_ALL = "all"


def _coupling_pk(mapping: str, erp_id: str) -> str:
    return f"c|{key(mapping)}|{key(erp_id)}"


def _partitions(e: SyncError) -> list[str]:
    pks = [_ALL, f"m|{key(e.mapping)}"]
    if e.erp_id is not None:
        pks.append(_coupling_pk(e.mapping, e.erp_id))
    if e.job_id is not None:
        pks.append(f"j|{key(e.job_id)}")
    return pks


def _row_key(e: SyncError) -> str:
    return f"{inverted_ms(e.occurred_on)}|{key(e.id)}"


def _to_entity(e: SyncError, pk: str) -> dict[str, Any]:
    return {
        "PartitionKey": pk, "RowKey": _row_key(e), "Id": e.id, "JobId": e.job_id, "Mapping": e.mapping,
        "ErpId": e.erp_id, "CrmId": e.crm_id, "Direction": e.direction.value if e.direction else None,
        "Category": e.category.value, "Message": e.message[:_DETAIL_MAX],
        "Detail": e.detail[:_DETAIL_MAX] if e.detail else e.detail, "OccurredOn": to_utc(e.occurred_on),
    }


def _from_entity(row: Any) -> SyncError:
    direction = row.get("Direction")
    return SyncError(
        id=row["Id"], job_id=row.get("JobId"), mapping=row["Mapping"], erp_id=row.get("ErpId"),
        crm_id=row.get("CrmId"), direction=Direction(direction) if direction else None,
        category=ErrorCategory(row["Category"]), message=row.get("Message", ""), detail=row.get("Detail"),
        occurred_on=from_utc(row["OccurredOn"]),  # type: ignore[arg-type]
    )


class ErrorStore:
    """Add error rows (in transactions) and read them newest first by mapping, job or coupling."""

    def __init__(self, table: TableClient):
        self._table = table

    def add(self, error: SyncError) -> None:
        self.add_many([error])

    def add_many(self, errors: Iterable[SyncError]) -> None:
        """Write every copy of every error, in transactions of ≤ 100 rows per partition (X1)."""
        rows = [_to_entity(e, pk) for e in errors for pk in _partitions(e)]
        submit_grouped(self._table, "add errors", rows, lambda r: r["PartitionKey"], lambda r: (r["RowKey"],), 1,
                       lambda r: [("upsert", r, {"mode": UpdateMode.REPLACE})], lambda r, op, code: None)

    def list(self, mapping: str | None = None, top: int = 100) -> builtins.list[SyncError]:
        """The newest `top` errors, of one mapping or of all."""
        return self._read(_ALL if mapping is None else f"m|{key(mapping)}", top)

    def for_job(self, job_id: str, top: int = 1000) -> builtins.list[SyncError]:
        return self._read(f"j|{key(job_id)}", top)

    def for_coupling(self, mapping: str, erp_id: str, top: int = 1000) -> builtins.list[SyncError]:
        return self._read(_coupling_pk(mapping, erp_id), top)

    def delete_for_coupling(self, mapping: str, erp_id: str) -> int:
        """Remove a coupling's errors from every view (they are resolved); answers how many errors went."""
        errors = self._read(_coupling_pk(mapping, erp_id), top=100_000)
        keys = [(pk, _row_key(e)) for e in errors for pk in _partitions(e)]
        # A copy already gone (deleted concurrently) is dropped and the rest of its batch resubmitted.
        submit_grouped(self._table, "delete errors", keys, lambda k: k[0], lambda k: (k[1],), 1,
                       lambda k: [("delete", {"PartitionKey": k[0], "RowKey": k[1]})],
                       lambda k, op, code: StaleWrite(k[1]) if code == "ResourceNotFound" else None)
        return len(errors)

    def _read(self, pk: str, top: int) -> builtins.list[SyncError]:
        top = max(1, top)
        with translated("list errors"):
            pages = self._table.query_entities("PartitionKey eq @pk", parameters={"pk": pk},
                                               results_per_page=min(top, 1000)).by_page()
            return [_from_entity(row) for row in first_rows(pages, top)]
