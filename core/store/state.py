"""StateStore: one MappingState row per mapping: watermarks, the CRM delta link, the schedule, and the run lease.

DESIGN decision 4: a run holds a lease (owner + expiry) taken and renewed with etag-conditional writes, so two
runners can never both believe they hold it; watermarks live on the same row, written with the same etag.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from typing import Any

from core.errors import StaleWrite
from core.store._tables import (
    STORAGE_ERRORS,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
    TableClient,
    UpdateMode,
    dumps,
    from_utc,
    if_match,
    key,
    loads,
    to_utc,
    translate,
    translated,
)

__all__ = ["MappingState", "PauseNote", "StateStore"]

_PK = "state"
_LOCK_PK = "lock"
# X12: why and since when a mapping is paused, on rows of their own: a pause written while a run holds the
# lease must not change the lease row's etag (the run would believe it lost its lease).
_PAUSE_PK = "pause"


@dataclass(frozen=True, slots=True)
class MappingState:
    """Where a mapping's passes stand. `*_boundary_ids` are the ids already applied AT the watermark time,
    so a pass that re-reads `modifiedOn ge watermark` (tie-safe) can skip exactly those."""

    mapping: str
    erp_watermark: dt.datetime | None = None
    crm_watermark: dt.datetime | None = None
    erp_boundary_ids: tuple[str, ...] = ()
    crm_boundary_ids: tuple[str, ...] = ()
    crm_delta_link: str | None = None
    last_run_on: dt.datetime | None = None
    next_run_on: dt.datetime | None = None
    idle: bool = False
    lease_owner: str | None = None
    lease_until: dt.datetime | None = None
    etag: str | None = None  # None: never saved

    def is_leased(self, now: dt.datetime, owner: str | None = None) -> bool:
        """Whether a lease is held at `now` (by `owner`, when given)."""
        held = self.lease_owner is not None and self.lease_until is not None and self.lease_until > now
        return held and (owner is None or self.lease_owner == owner)


@dataclass(frozen=True, slots=True)
class PauseNote:
    """Why a mapping is paused (X12): the reason, since when, and by whom ("breaker" or "api")."""

    mapping: str
    reason: str
    since: dt.datetime
    by: str


def _dt(value: dt.datetime | None) -> dt.datetime | None:
    return None if value is None else to_utc(value)


def _to_entity(s: MappingState) -> dict[str, Any]:
    return {
        "PartitionKey": _PK, "RowKey": key(s.mapping), "Mapping": s.mapping,
        "ErpWatermark": _dt(s.erp_watermark), "CrmWatermark": _dt(s.crm_watermark),
        "ErpBoundaryIds": dumps(list(s.erp_boundary_ids)), "CrmBoundaryIds": dumps(list(s.crm_boundary_ids)),
        "CrmDeltaLink": s.crm_delta_link, "LastRunOn": _dt(s.last_run_on), "NextRunOn": _dt(s.next_run_on),
        "Idle": s.idle, "LeaseOwner": s.lease_owner, "LeaseUntil": _dt(s.lease_until),
    }


def _from_entity(e: Any) -> MappingState:
    return MappingState(
        mapping=e["Mapping"], erp_watermark=from_utc(e.get("ErpWatermark")),
        crm_watermark=from_utc(e.get("CrmWatermark")),
        erp_boundary_ids=tuple(loads(e.get("ErpBoundaryIds"), [])),
        crm_boundary_ids=tuple(loads(e.get("CrmBoundaryIds"), [])),
        crm_delta_link=e.get("CrmDeltaLink"), last_run_on=from_utc(e.get("LastRunOn")),
        next_run_on=from_utc(e.get("NextRunOn")), idle=bool(e.get("Idle", False)),
        lease_owner=e.get("LeaseOwner"), lease_until=from_utc(e.get("LeaseUntil")), etag=e.metadata["etag"],
    )


class StateStore:
    """Read and write MappingState rows; every write is conditional on the etag read."""

    def __init__(self, table: TableClient):
        self._table = table

    def get(self, mapping: str) -> MappingState:
        """The mapping's state; a fresh one (etag None) when it has never been saved."""
        with translated("read mapping state"):
            rows = list(self._table.query_entities("PartitionKey eq @pk and RowKey eq @rk",
                                                   parameters={"pk": _PK, "rk": key(mapping)}))
        return _from_entity(rows[0]) if rows else MappingState(mapping)

    def list(self) -> list[MappingState]:
        """Every saved state (the scheduler reads them all to find the due mappings)."""
        with translated("list mapping state"):
            return [_from_entity(e) for e in self._table.query_entities("PartitionKey eq @pk",
                                                                        parameters={"pk": _PK})]

    def save(self, state: MappingState) -> MappingState:
        """Create (etag None) or replace (etag-conditional) the row; answers it with its new etag.

        Raises:
            StaleWrite: someone saved the row since `state` was read (or created it first).
        """
        try:
            if state.etag is None:
                reply = self._table.create_entity(_to_entity(state))
            else:
                reply = self._table.update_entity(_to_entity(state), mode=UpdateMode.REPLACE, **if_match(state.etag))
        except (ResourceExistsError, ResourceModifiedError, ResourceNotFoundError) as err:
            # Created first by someone else, changed, or deleted: all mean our read is out of date.
            raise StaleWrite(f"The state of mapping {state.mapping} changed since it was read.") from err
        except STORAGE_ERRORS as err:
            raise translate("save mapping state", err) from err
        return replace(state, etag=reply["etag"])

    def note_pause(self, note: PauseNote) -> PauseNote:
        """Write (upsert) the mapping's pause note."""
        with translated("save pause note"):
            self._table.upsert_entity({"PartitionKey": _PAUSE_PK, "RowKey": key(note.mapping), "Mapping": note.mapping,
                                       "Reason": note.reason, "Since": to_utc(note.since), "By": note.by},
                                      mode=UpdateMode.REPLACE)
        return note

    def clear_pause(self, mapping: str) -> None:
        """Remove the mapping's pause note (absent is fine)."""
        try:
            self._table.delete_entity(_PAUSE_PK, key(mapping))
        except ResourceNotFoundError:
            pass
        except STORAGE_ERRORS as err:
            raise translate("clear pause note", err) from err

    def pause_notes(self) -> dict[str, PauseNote]:
        """Every pause note, by mapping name."""
        with translated("list pause notes"):
            rows = list(self._table.query_entities("PartitionKey eq @pk", parameters={"pk": _PAUSE_PK}))
        notes = [PauseNote(e["Mapping"], e.get("Reason", ""), from_utc(e["Since"]) or dt.datetime.min, e.get("By", ""))
                 for e in rows]
        return {n.mapping: n for n in notes}

    def acquire_lease(self, mapping: str, owner: str, now: dt.datetime, duration_s: float) -> MappingState | None:
        """Take the run lease if it is free, expired, or already `owner`'s; None if another runner holds it.

        The write is etag-conditional: of two runners that both saw it free, exactly one wins.
        """
        state = self.get(mapping)
        if state.is_leased(now) and state.lease_owner != owner:
            return None
        try:
            return self.save(replace(state, lease_owner=owner, lease_until=now + dt.timedelta(seconds=duration_s)))
        except StaleWrite:
            return None

    def renew_lease(self, state: MappingState, now: dt.datetime, duration_s: float) -> MappingState:
        """Extend a held lease. Raises: StaleWrite: the row changed (the lease may be lost: stop the run)."""
        return self.save(replace(state, lease_until=now + dt.timedelta(seconds=duration_s)))

    def release_lease(self, state: MappingState) -> MappingState:
        """Give the lease up (keeping every other field of `state`). Raises: StaleWrite as for `renew_lease`."""
        return self.save(replace(state, lease_owner=None, lease_until=None))

    # -- record locks: one single-record operation (sync now, ribbon, create new) per record at a time ---------
    def lock_record(self, mapping: str, record: str, owner: str, now: dt.datetime, ttl_s: float) -> str | None:
        """Take the lock on one record of a mapping if it is free or expired; its etag, or None if it is held."""
        entity = {"PartitionKey": _LOCK_PK, "RowKey": f"{key(mapping)}|{key(record)}", "Owner": owner,
                  "Until": to_utc(now + dt.timedelta(seconds=ttl_s))}
        try:
            try:
                return str(self._table.create_entity(entity)["etag"])
            except ResourceExistsError:
                rows = list(self._table.query_entities("PartitionKey eq @pk and RowKey eq @rk", parameters={
                    "pk": _LOCK_PK, "rk": entity["RowKey"]}))
                if not rows:
                    return None  # released meanwhile: the caller tries again
                held = from_utc(rows[0].get("Until"))
                if held is not None and held > now:
                    return None
                reply = self._table.update_entity(entity, mode=UpdateMode.REPLACE, **if_match(rows[0].metadata["etag"]))
                return str(reply["etag"])
        except (ResourceModifiedError, ResourceNotFoundError, ResourceExistsError):
            return None  # another caller took it first
        except STORAGE_ERRORS as err:
            raise translate("lock record", err) from err

    def unlock_record(self, mapping: str, record: str, etag: str) -> None:
        """Release a lock taken by `lock_record` (one taken over after it expired is left to its new owner)."""
        try:
            self._table.delete_entity(_LOCK_PK, f"{key(mapping)}|{key(record)}", **if_match(etag))
        except (ResourceModifiedError, ResourceNotFoundError):
            pass
        except STORAGE_ERRORS as err:
            raise translate("unlock record", err) from err
