"""CouplingStore: the Couplings table, the one place that knows which ERP record is coupled to which CRM row.

Partition = mapping name; two rows per coupling (DESIGN decision 2): `erp|<erpId>` holds the state, `crm|<crmId>`
points back. Both are written in one entity-group transaction, so "one counterpart per record on both sides" is
an atomic constraint of the storage itself, not a check-then-write race.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from typing import Any

from core.errors import AlreadyCoupled, StaleWrite
from core.model import Coupling, Side
from core.store._tables import (
    STORAGE_ERRORS,
    TableClient,
    TableTransactionError,
    UpdateMode,
    chunks,
    decode_continuation,
    encode_continuation,
    failed_op,
    if_match,
    key,
    range_filter,
    translate,
    translated,
)
from core.store.coupling_bulk import couple_many, submit_grouped, uncouple_many, update_many
from core.store.coupling_rows import STATE, from_entity, pointer_entity, pointer_key, state_key, state_range, to_entity
from core.store.coupling_snapshot import CouplingSnapshot

__all__ = ["CouplingStore", "FAILURE", "SCAN_ABOVE"]

FAILURE = "failure"  # the erp_result/crm_result value that makes a coupling "failed" (F10)
# Table Storage allows at most 15 comparisons in one filter; one of them is the PartitionKey.
_OR_IDS = 14
# Up to this many ids, OR-queries (≤ 10 requests, each reading only the rows asked for) beat a scan; above it a
# range scan of the partition (1,000 rows per request) is cheaper for any partition under ~10,000 couplings and
# keeps the request count per page of records flat. A page of records is usually 100–1,000 ids (api-facts §D).
SCAN_ABOVE = 140
_RESULT_COLUMN = {Side.ERP: "ErpResult", Side.CRM: "CrmResult"}


class CouplingStore:
    """The binder (STYLE §4): `couple`, `erp_to_crm`, `crm_to_erp`, and their bulk forms."""

    def __init__(self, table: TableClient):
        self._table = table

    # --- one coupling -------------------------------------------------------------------------------------
    def couple(self, coupling: Coupling) -> Coupling:
        """Insert both rows atomically.

        Raises:
            AlreadyCoupled: the ERP record or the CRM row already has a counterpart; `side` names which.
        """
        result = couple_many(self._table, [coupling])[0]
        if isinstance(result, AlreadyCoupled):
            raise result
        return result

    def couple_many(self, couplings: Iterable[Coupling]) -> list[Coupling | AlreadyCoupled]:
        """Bulk couple (X1) in transactions of ≤ 50 couplings; a clash only drops that coupling (input order kept)."""
        return couple_many(self._table, list(couplings))

    def erp_to_crm(self, mapping: str, erp_id: str) -> Coupling | None:
        with translated("read coupling"):
            rows = list(self._table.query_entities(
                "PartitionKey eq @pk and RowKey eq @rk", parameters={"pk": key(mapping), "rk": state_key(erp_id)}))
        return from_entity(rows[0]) if rows else None

    def crm_to_erp(self, mapping: str, crm_id: str) -> Coupling | None:
        with translated("read coupling"):
            rows = list(self._table.query_entities(
                "PartitionKey eq @pk and RowKey eq @rk", parameters={"pk": key(mapping), "rk": pointer_key(crm_id)},
                select=["ErpId"]))
        if not rows:
            return None
        coupling = self.erp_to_crm(mapping, rows[0]["ErpId"])
        # The state row is the truth; a pointer is only an index into it.
        return coupling if coupling is not None and coupling.crm_id == crm_id else None

    def update(self, coupling: Coupling) -> Coupling:
        """Replace the state row if it is unchanged since read (its etag). The CRM id must not change here.

        Raises:
            StaleWrite: the row changed or was uncoupled since it was read.
        """
        result = update_many(self._table, [coupling])[0]
        if isinstance(result, StaleWrite):
            raise result
        return result

    def update_many(self, couplings: Iterable[Coupling]) -> list[Coupling | StaleWrite]:
        """Etag-conditional replace of state rows in transactions of ≤ 100; a stale one only drops itself."""
        return update_many(self._table, list(couplings))

    def replace_crm(self, coupling: Coupling, new_crm_id: str) -> Coupling:
        """Point a coupling at another CRM row (its counterpart was deleted and is restored or replaced).

        One transaction: delete the old pointer, create the new one, replace the state row (etag-conditional).
        The other fields of `coupling` are written as given.

        Raises:
            AlreadyCoupled: `new_crm_id` is coupled to another ERP record.
            StaleWrite: the coupling changed since it was read.
        """
        if new_crm_id == coupling.crm_id:
            return self.update(coupling)
        updated = replace(coupling, crm_id=new_crm_id)
        ops: list[Any] = [
            ("delete", {"PartitionKey": key(coupling.mapping), "RowKey": pointer_key(coupling.crm_id)}),
            ("create", pointer_entity(updated)),
            ("update", to_entity(updated), {"mode": UpdateMode.REPLACE, **if_match(coupling.etag)}),
        ]
        try:
            replies = self._table.submit_transaction(ops)
        except TableTransactionError as err:
            index, code = failed_op(err)
            if index == 1 and code == "EntityAlreadyExists":
                raise AlreadyCoupled("crm", new_crm_id, coupling.mapping) from err
            if code in ("ResourceNotFound", "UpdateConditionNotSatisfied"):
                raise StaleWrite("replace CRM id: the coupling changed since it was read.") from err
            raise translate("replace CRM id", err) from err
        except STORAGE_ERRORS as err:
            raise translate("replace CRM id", err) from err
        return replace(updated, etag=replies[2]["etag"])

    def uncouple(self, mapping: str, erp_id: str) -> Coupling | None:
        """Remove both rows in one transaction; answers the removed coupling, or None if there was none."""
        coupling = self.erp_to_crm(mapping, erp_id)
        if coupling is None:
            return None
        removed = uncouple_many(self._table, [coupling], self.find_by_erp)
        return coupling if removed else None

    def uncouple_many(self, mapping: str, erp_ids: Iterable[str]) -> int:
        """Remove the couplings of these ERP ids (transactions of ≤ 50 couplings); answers how many were removed."""
        found = self.find_by_erp(mapping, erp_ids)
        return uncouple_many(self._table, list(found.values()), self.find_by_erp)

    def uncouple_all(self, mapping: str) -> int:
        """Remove every coupling of a mapping (unconditionally); answers how many couplings were removed."""
        removed = 0
        while True:
            with translated("list couplings"):
                row_keys = [r["RowKey"] for r in self._table.query_entities(
                    "PartitionKey eq @pk", parameters={"pk": key(mapping)}, select=["RowKey"])]
            if not row_keys:
                return removed
            # A row deleted meanwhile by someone else (404) is dropped and the rest of its batch resubmitted.
            results = submit_grouped(
                self._table, "uncouple all", row_keys, lambda _: mapping, lambda rk: (rk,), 1,
                lambda rk: [("delete", {"PartitionKey": key(mapping), "RowKey": rk})],
                lambda rk, op, code: StaleWrite(rk) if code == "ResourceNotFound" else None)
            removed += sum(rk.startswith(STATE) and not isinstance(r, StaleWrite) for rk, r in zip(row_keys, results))

    # --- lookups by page ----------------------------------------------------------------------------------
    def find_by_erp(self, mapping: str, erp_ids: Iterable[str]) -> dict[str, Coupling]:
        """The couplings of these ERP ids, by ERP id, in one query per 14 ids, or one partition scan for many."""
        wanted = set(erp_ids)
        if not wanted:
            return {}
        if len(wanted) > SCAN_ABOVE:
            return {c.erp_id: c for c in self._scan(mapping, lambda e: e.get("ErpId") in wanted)}
        rows = self._query_keys(mapping, sorted(state_key(i) for i in wanted), select=None)
        return {c.erp_id: c for c in map(from_entity, rows)}

    def find_by_crm(self, mapping: str, crm_ids: Iterable[str]) -> dict[str, Coupling]:
        """The couplings of these CRM ids, by CRM id: pointers then their state rows, or one scan of state rows."""
        wanted = set(crm_ids)
        if not wanted:
            return {}
        if len(wanted) > SCAN_ABOVE:
            # The state rows carry CrmId, so one scan of `erp|` resolves every id without reading pointers.
            return {c.crm_id: c for c in self._scan(mapping, lambda e: e.get("CrmId") in wanted)}
        pointers = self._query_keys(mapping, sorted(pointer_key(i) for i in wanted), select=["ErpId", "CrmId"])
        found = self.find_by_erp(mapping, [p["ErpId"] for p in pointers])
        return {c.crm_id: c for c in found.values() if c.crm_id in wanted}

    def _query_keys(self, mapping: str, row_keys: Sequence[str], select: list[str] | None) -> list[Any]:
        rows: list[Any] = []
        for chunk in chunks(row_keys, _OR_IDS):
            # The filter text holds only parameter names; every value travels as a parameter (STYLE §19).
            names = [f"k{n}" for n in range(len(chunk))]
            # The SDK substitutes `@name` only in whole space-separated words: keep parentheses apart.
            query = "PartitionKey eq @pk and ( " + " or ".join(f"RowKey eq @{n}" for n in names) + " )"
            params: dict[str, Any] = {"pk": key(mapping), **dict(zip(names, chunk))}
            with translated("find couplings"):
                rows.extend(self._table.query_entities(query, parameters=params, select=select))
        return rows

    # --- listing ------------------------------------------------------------------------------------------
    def list_page(self, mapping: str, *, skipped: bool | None = None, failed_only: bool = False, top: int = 100,
                  continuation: str | None = None) -> tuple[list[Coupling], str | None]:
        """One page of couplings in ERP-id order; the continuation is opaque and URL-safe (None at the end).

        Raises:
            InvalidInput: the continuation token is not one this store issued.
        """
        clauses, params = [], state_range(mapping)
        if skipped is not None:
            clauses.append("Skipped eq @skipped")
            params["skipped"] = skipped
        if failed_only:
            clauses.append("( ErpResult eq @failure or CrmResult eq @failure )")
            params["failure"] = FAILURE
        token = decode_continuation(continuation)
        with translated("list couplings"):
            while True:
                pages: Any = self._table.query_entities(range_filter(" and ".join(clauses)), parameters=params,
                                                        results_per_page=max(1, min(top, 1000))).by_page(
                    continuation_token=token)
                items = [from_entity(e) for e in next(pages, [])]
                token = pages.continuation_token
                # A filtered query may answer an empty page with a token; don't hand those to a person.
                if items or not token:
                    return items, encode_continuation(token)

    def iter_all(self, mapping: str) -> Iterator[Coupling]:
        return self._scan(mapping, None)

    def snapshot(self, mapping: str) -> CouplingSnapshot:
        """Every coupling of a mapping in one partition scan, for a pass that touches many records."""
        return CouplingSnapshot(mapping, self.iter_all(mapping))

    def _scan(self, mapping: str, wanted: Callable[[Any], bool] | None) -> Iterator[Coupling]:
        # Only wanted entities are converted: from_entity (JSON hashes, datetimes) is most of a scan's client time.
        with translated("list couplings"):
            for e in self._table.query_entities(range_filter(), parameters=state_range(mapping)):
                if wanted is None or wanted(e):
                    yield from_entity(e)

    def iter_failed(self, mapping: str, side: Side) -> Iterator[Coupling]:
        """Couplings whose last write to `side` failed and that are not skipped (F8: retried first)."""
        params = {**state_range(mapping), "failure": FAILURE}
        query = range_filter(f"{_RESULT_COLUMN[side]} eq @failure and Skipped eq false")
        with translated("list failed couplings"):
            for e in self._table.query_entities(query, parameters=params):
                yield from_entity(e)

    def count(self, mapping: str) -> int:
        with translated("count couplings"):
            return sum(1 for _ in self._table.query_entities(
                range_filter(), parameters=state_range(mapping), select=["RowKey"]))
