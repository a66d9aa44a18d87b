"""IntentStore: the Intents table, creates recorded BEFORE they happen (DESIGN decision 3, SPEC X3).

Row `(mapping, "<side>|<sourceId>")` holds the destination id planned for the record created from that source.
A retry after a crash claims again, gets the same planned id back, and finds the record instead of creating
a second one. The create of the row is the claim: of two claimers exactly one inserts, the other reads.
"""
from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass
from typing import Any

from core.errors import StaleWrite
from core.model import Side
from core.store._batches import submit_grouped
from core.store._tables import TableClient, key, translated

__all__ = ["Intent", "IntentStore"]


@dataclass(frozen=True, slots=True)
class Intent:
    """A create that was planned and may have happened: `planned_id` on the other side of `source_side`."""

    mapping: str
    source_side: Side
    source_id: str
    planned_id: str
    etag: str | None = None


def _row_key(side: Side, source_id: str) -> str:
    return f"{side.value}|{key(source_id)}"


def _to_entity(i: Intent) -> dict[str, Any]:
    return {"PartitionKey": key(i.mapping), "RowKey": _row_key(i.source_side, i.source_id), "Mapping": i.mapping,
            "SourceSide": i.source_side.value, "SourceId": i.source_id, "PlannedId": i.planned_id}


def _from_entity(e: Any) -> Intent:
    return Intent(mapping=e["Mapping"], source_side=Side(e["SourceSide"]), source_id=e["SourceId"],
                  planned_id=e["PlannedId"], etag=e.metadata["etag"])


class IntentStore:
    """Claim, clear and list create intents."""

    def __init__(self, table: TableClient):
        self._table = table

    def claim(self, mapping: str, source_side: Side, source_id: str, planned_id: str) -> str:
        """Record the intent to create `planned_id` from this source; answers the planned id that stands
        (the one already recorded, if an earlier attempt got this far)."""
        return self.claim_many(mapping, source_side, {source_id: planned_id})[source_id]

    def claim_many(self, mapping: str, source_side: Side, planned: MappingABC[str, str]) -> dict[str, str]:
        """`claim` for many sources (transactions of ≤ 100); answers source id → the planned id that stands."""
        intents = [Intent(mapping, source_side, s, p) for s, p in planned.items()]
        results = submit_grouped(
            self._table, "claim intents", intents, lambda i: i.mapping, lambda i: (i.source_id,), 1,
            lambda i: [("create", _to_entity(i))],
            lambda i, op, code: StaleWrite(i.source_id) if code == "EntityAlreadyExists" else None)
        standing = {i.source_id: i.planned_id for i, r in zip(intents, results) if not isinstance(r, StaleWrite)}
        taken = [i.source_id for i, r in zip(intents, results) if isinstance(r, StaleWrite)]
        if taken:
            recorded = {s: p for s in taken if (p := self._planned(mapping, source_side, s)) is not None}
            # An intent cleared between our failed create and this read has done its job: keep ours as planned.
            standing.update({s: recorded.get(s, planned[s]) for s in taken})
        return standing

    def clear(self, mapping: str, side: Side, source_id: str) -> None:
        """Forget an intent once its create is done and coupled (a missing one is fine)."""
        self.clear_many(mapping, side, [source_id])

    def clear_many(self, mapping: str, side: Side, source_ids: Iterable[str]) -> None:
        keys = list(dict.fromkeys(_row_key(side, s) for s in source_ids))
        submit_grouped(self._table, "clear intents", keys, lambda _: mapping, lambda rk: (rk,), 1,
                       lambda rk: [("delete", {"PartitionKey": key(mapping), "RowKey": rk})],
                       lambda rk, op, code: StaleWrite(rk) if code == "ResourceNotFound" else None)

    def pending(self, mapping: str) -> list[Intent]:
        """Every intent not yet cleared: creates that may or may not have happened (recovery checks each)."""
        with translated("list intents"):
            return [_from_entity(e) for e in self._table.query_entities(
                "PartitionKey eq @pk", parameters={"pk": key(mapping)})]

    def _planned(self, mapping: str, side: Side, source_id: str) -> str | None:
        with translated("read intent"):
            rows = list(self._table.query_entities("PartitionKey eq @pk and RowKey eq @rk", parameters={
                "pk": key(mapping), "rk": _row_key(side, source_id)}, select=["PlannedId"]))
        return str(rows[0]["PlannedId"]) if rows else None
