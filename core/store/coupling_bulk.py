"""Bulk writes to the Couplings table (X1): couple, update and uncouple many couplings per transaction."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace

from core.errors import AlreadyCoupled, StaleWrite
from core.model import Coupling
from core.store._batches import Op, submit_grouped
from core.store._tables import TableClient, UpdateMode, if_match, key
from core.store.coupling_rows import pointer_entity, pointer_key, state_key, to_entity

__all__ = ["couple_many", "update_many", "uncouple_many"]


def couple_many(table: TableClient, couplings: Sequence[Coupling]) -> list[Coupling | AlreadyCoupled]:
    """Create both rows of each coupling; op 0 (state) clashing means the ERP side, op 1 (pointer) the CRM side."""
    def clash(c: Coupling, op: int, code: str) -> AlreadyCoupled | None:
        if code != "EntityAlreadyExists":
            return None
        return AlreadyCoupled("erp", c.erp_id, c.mapping) if op == 0 else AlreadyCoupled("crm", c.crm_id, c.mapping)

    results = submit_grouped(
        table, "couple", couplings, lambda c: c.mapping, lambda c: (state_key(c.erp_id), pointer_key(c.crm_id)), 2,
        lambda c: [("create", to_entity(c)), ("create", pointer_entity(c))], clash)
    return [r if isinstance(r, AlreadyCoupled) else replace(c, etag=r[0]["etag"]) for c, r in zip(couplings, results)]


def update_many(table: TableClient, couplings: Sequence[Coupling]) -> list[Coupling | StaleWrite]:
    """Etag-conditional replace of state rows; a lost etag or a row uncoupled meanwhile is a StaleWrite."""
    def stale(c: Coupling, op: int, code: str) -> StaleWrite | None:
        if code not in ("UpdateConditionNotSatisfied", "ResourceNotFound"):
            return None
        return StaleWrite(f"The coupling of ERP record {c.erp_id} in mapping {c.mapping} changed since it was read.")

    for c in couplings:
        if_match(c.etag)  # fail before writing anything when a caller forgot to read first
    results = submit_grouped(
        table, "update couplings", couplings, lambda c: c.mapping, lambda c: (state_key(c.erp_id),), 1,
        lambda c: [("update", to_entity(c), {"mode": UpdateMode.REPLACE, **if_match(c.etag)})], stale)
    return [r if isinstance(r, StaleWrite) else replace(c, etag=r[0]["etag"]) for c, r in zip(couplings, results)]


def _delete_ops(c: Coupling) -> list[Op]:
    return [("delete", {"PartitionKey": key(c.mapping), "RowKey": state_key(c.erp_id)}, if_match(c.etag)),
            ("delete", {"PartitionKey": key(c.mapping), "RowKey": pointer_key(c.crm_id)})]


def uncouple_many(table: TableClient, couplings: Sequence[Coupling],
                  reread: Callable[[str, Iterable[str]], dict[str, Coupling]]) -> int:
    """Delete both rows of each coupling, the state row only if unchanged since read; answers how many went.

    A coupling changed meanwhile (its CRM id may have been replaced) is re-read once and deleted as it now is;
    one removed meanwhile by someone else is not counted.
    """
    def changed(c: Coupling, op: int, code: str) -> StaleWrite | None:
        return StaleWrite(c.erp_id) if code in ("UpdateConditionNotSatisfied", "ResourceNotFound") else None

    removed = 0
    for attempt in range(2):
        results = submit_grouped(table, "uncouple", couplings, lambda c: c.mapping,
                                 lambda c: (state_key(c.erp_id), pointer_key(c.crm_id)), 2, _delete_ops, changed)
        removed += sum(not isinstance(r, StaleWrite) for r in results)
        lost = [c for c, r in zip(couplings, results) if isinstance(r, StaleWrite)]
        if not lost or attempt:
            break
        by_mapping: dict[str, list[str]] = defaultdict(list)
        for c in lost:
            by_mapping[c.mapping].append(c.erp_id)
        couplings = [c for m, ids in by_mapping.items() for c in reread(m, ids).values()]
    return removed
