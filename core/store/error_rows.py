"""ErrorStore: the Errors table, one row per failed record (F10, X11), readable four ways.

Each error is written as up to four copies, one per way it is read, so every read is one ascending range scan
that stops after `top` rows (`<t>` = newest-first time):
partition `all`, row `<t>|<id>` (every mapping) · partition `m|<mapping>`, rows `t|<t>|<id>` (the mapping's) and
`c|<erpId>|<t>|<id>` (one coupling's) · partition `j|<jobId>`, row `<t>|<id>`.
The two mapping views share a partition so a failing pass costs few transactions (X1), not one per coupling.
Error rows are append-only (upserts, so a redelivered chunk rewrites the same row) until a coupling's are deleted.
"""
from __future__ import annotations

import builtins
from collections.abc import Iterable
from typing import Any

from core.errors import StaleWrite
from core.model import Direction, ErrorCategory, SyncError
from core.store._batches import submit_grouped
from core.store._tables import (
    TableClient,
    UpdateMode,
    first_rows,
    from_utc,
    inverted_ms,
    key,
    range_filter,
    to_utc,
    translated,
)

__all__ = ["ErrorStore"]

_DETAIL_MAX = 30_000  # a string property holds at most 64 KiB (32 K UTF-16 chars)
_ALL = "all"


def _mapping_pk(mapping: str) -> str:
    return f"m|{key(mapping)}"


def _coupling_prefix(erp_id: str) -> str:
    return f"c|{key(erp_id)}|"


def _copies(e: SyncError) -> list[tuple[str, str]]:
    """(PartitionKey, RowKey) of every copy of an error."""
    row = f"{inverted_ms(e.occurred_on)}|{key(e.id)}"
    copies = [(_ALL, row), (_mapping_pk(e.mapping), f"t|{row}")]
    if e.erp_id is not None:
        copies.append((_mapping_pk(e.mapping), _coupling_prefix(e.erp_id) + row))
    if e.job_id is not None:
        copies.append((f"j|{key(e.job_id)}", row))
    return copies


def _to_entity(e: SyncError, pk: str, rk: str) -> dict[str, Any]:
    return {
        "PartitionKey": pk, "RowKey": rk, "Id": e.id, "JobId": e.job_id, "Mapping": e.mapping,
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
        rows = [_to_entity(e, pk, rk) for e in errors for pk, rk in _copies(e)]
        submit_grouped(self._table, "add errors", rows, lambda r: r["PartitionKey"], lambda r: (r["RowKey"],), 1,
                       lambda r: [("upsert", r, {"mode": UpdateMode.REPLACE})], lambda r, op, code: None)

    def list(self, mapping: str | None = None, top: int = 100) -> builtins.list[SyncError]:
        """The newest `top` errors, of one mapping or of all."""
        if mapping is None:
            return self._read(_ALL, None, top)
        return self._read(_mapping_pk(mapping), "t|", top)

    def for_job(self, job_id: str, top: int = 1000) -> builtins.list[SyncError]:
        return self._read(f"j|{key(job_id)}", None, top)

    def for_coupling(self, mapping: str, erp_id: str, top: int = 1000) -> builtins.list[SyncError]:
        return self._read(_mapping_pk(mapping), _coupling_prefix(erp_id), top)

    def delete_for_coupling(self, mapping: str, erp_id: str) -> int:
        """Remove a coupling's errors from every view (they are resolved); answers how many errors went."""
        errors = self.for_coupling(mapping, erp_id, top=100_000)
        keys = [k for e in errors for k in _copies(e)]
        # A copy already gone (deleted concurrently) is dropped and the rest of its batch resubmitted.
        submit_grouped(self._table, "delete errors", keys, lambda k: k[0], lambda k: (k[1],), 1,
                       lambda k: [("delete", {"PartitionKey": k[0], "RowKey": k[1]})],
                       lambda k, op, code: StaleWrite(k[1]) if code == "ResourceNotFound" else None)
        return len(errors)

    def _read(self, pk: str, prefix: str | None, top: int) -> builtins.list[SyncError]:
        top = max(1, top)
        query, params = "PartitionKey eq @pk", {"pk": pk}
        if prefix is not None:
            query, params = range_filter(), {"pk": pk, "lo": prefix, "hi": prefix[:-1] + "}"}
        with translated("list errors"):
            pages = self._table.query_entities(query, parameters=params, results_per_page=min(top, 1000)).by_page()
            return [_from_entity(row) for row in first_rows(pages, top)]
