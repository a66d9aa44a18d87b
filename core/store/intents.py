"""IntentStore: the Intents table, creates recorded BEFORE they happen (DESIGN decision 3, SPEC X3).

Row `(mapping, "<side>|<sourceId>")` holds the destination id planned for the record created from that source
(for Business Central, which picks its own ids, a `pending:` token), what the create writes and the baseline
hashes it would leave, and when it was claimed. A retry after a crash claims again, gets the standing intent
back, and adopts the record an earlier attempt made instead of creating a second one (core.sync.adoption).
The create of the row is the claim: of two claimers exactly one inserts, the other reads.
"""
from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping as MappingABC, Sequence
from dataclasses import dataclass, field
from typing import Any

from core.errors import StaleWrite
from core.model import Side
from core.store._batches import submit_grouped
from core.store._tables import TableClient, UpdateMode, dumps, from_utc, key, loads, to_utc, translated

__all__ = ["Intent", "IntentStore"]


@dataclass(frozen=True, slots=True)
class Intent:
    """A create that was planned and may have happened: `planned_id` on the other side of `source_side`."""

    mapping: str
    source_side: Side
    source_id: str
    planned_id: str
    values: MappingABC[str, Any] = field(default_factory=dict)  # what the create writes (destination fields)
    hashes: MappingABC[str, str] = field(default_factory=dict)  # the baseline the create leaves behind
    claimed_on: dt.datetime | None = None
    settled: bool = False  # the claiming attempt got its answer (a lost one included): it is no longer in flight
    etag: str | None = None


def _row_key(side: Side, source_id: str) -> str:
    return f"{side.value}|{key(source_id)}"


def _to_entity(i: Intent) -> dict[str, Any]:
    entity: dict[str, Any] = {"PartitionKey": key(i.mapping), "RowKey": _row_key(i.source_side, i.source_id), "Mapping": i.mapping,
                              "SourceSide": i.source_side.value, "SourceId": i.source_id, "PlannedId": i.planned_id,
                              "Values": json.dumps(dict(i.values), default=str), "Hashes": dumps(dict(i.hashes))}
    if i.claimed_on is not None:
        entity["ClaimedOn"] = to_utc(i.claimed_on)
    return entity


def _from_entity(e: Any) -> Intent:
    return Intent(mapping=e["Mapping"], source_side=Side(e["SourceSide"]), source_id=e["SourceId"],
                  planned_id=e["PlannedId"], values=loads(e.get("Values"), {}), hashes=loads(e.get("Hashes"), {}),
                  claimed_on=from_utc(e.get("ClaimedOn")), settled=bool(e.get("Settled", False)),
                  etag=e.metadata["etag"])


class IntentStore:
    """Claim, clear and list create intents."""

    def __init__(self, table: TableClient):
        self._table = table

    def claim(self, intent: Intent) -> Intent:
        """Record the intent to create; answers the intent that stands (an earlier attempt's, if it got this far)."""
        return self.claim_many([intent])[intent.source_id]

    def claim_many(self, intents: Sequence[Intent]) -> dict[str, Intent]:
        """`claim` for many sources of one mapping and side (transactions of ≤ 100): source id → standing intent."""
        results = submit_grouped(
            self._table, "claim intents", intents, lambda i: key(i.mapping), lambda i: (i.source_id,), 1,
            lambda i: [("create", _to_entity(i))],
            lambda i, op, code: StaleWrite(i.source_id) if code == "EntityAlreadyExists" else None)
        standing = {i.source_id: i for i, r in zip(intents, results) if not isinstance(r, StaleWrite)}
        taken = [i for i, r in zip(intents, results) if isinstance(r, StaleWrite)]
        if taken:
            recorded = {i.source_id: r for i in taken if (r := self._read(i.mapping, i.source_side, i.source_id))}
            # An intent cleared between our failed create and this read has done its job: keep ours as planned
            # (the caller checks for a coupling made meanwhile before it creates anything).
            standing.update({i.source_id: recorded.get(i.source_id, i) for i in taken})
        return standing

    def clear(self, mapping: str, side: Side, source_id: str) -> None:
        """Forget an intent once its create is done and coupled, or provably did not happen (a missing one is fine)."""
        self.clear_many(mapping, side, [source_id])

    def clear_many(self, mapping: str, side: Side, source_ids: Iterable[str]) -> None:
        keys = list(dict.fromkeys(_row_key(side, s) for s in source_ids))
        submit_grouped(self._table, "clear intents", keys, lambda _: mapping, lambda rk: (rk,), 1,
                       lambda rk: [("delete", {"PartitionKey": key(mapping), "RowKey": rk})],
                       lambda rk, op, code: StaleWrite(rk) if code == "ResourceNotFound" else None)

    def settle_many(self, mapping: str, side: Side, source_ids: Iterable[str]) -> None:
        """Mark intents whose attempt ended without knowing whether its create happened (the answer was lost):
        nobody waits for it any more, so a retry that does not find the record may create it."""
        keys = list(dict.fromkeys(_row_key(side, s) for s in source_ids))
        submit_grouped(self._table, "settle intents", keys, lambda _: mapping, lambda rk: (rk,), 1,
                       lambda rk: [("update", {"PartitionKey": key(mapping), "RowKey": rk, "Settled": True},
                                    {"mode": UpdateMode.MERGE})],
                       lambda rk, op, code: StaleWrite(rk) if code == "ResourceNotFound" else None)

    def pending(self, mapping: str) -> list[Intent]:
        """Every intent not yet cleared: creates that may or may not have happened (core.sync.adoption checks each)."""
        with translated("list intents"):
            return [_from_entity(e) for e in self._table.query_entities(
                "PartitionKey eq @pk", parameters={"pk": key(mapping)})]

    def _read(self, mapping: str, side: Side, source_id: str) -> Intent | None:
        with translated("read intent"):
            rows = list(self._table.query_entities("PartitionKey eq @pk and RowKey eq @rk", parameters={
                "pk": key(mapping), "rk": _row_key(side, source_id)}))
        return _from_entity(rows[0]) if rows else None
