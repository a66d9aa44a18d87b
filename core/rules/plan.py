"""Pure per-record sync decisions (bc-behaviour §2.2): given a source record, its coupling and the destination
as read while planning, what to do — insert, modify, leave, refuse as a conflict, skip, fail, restore, uncouple.

Nothing here does I/O. The engine applies an `Action` (a dry run just returns it, SPEC X5) and then stores
`core.rules.coupling_state.applied_state(...)`. Change detection follows SPEC F9: a side changed if its modified-on
is later than the coupling's stored one by 10 ms or more, or its last write as destination failed; which
FIELDS changed comes from the per-side hashes in `core.rules.fields` (see its docstring for the rule).
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping as MappingABC
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from core.errors import Conflict
from core.rules.fields import (
    NOT_SYNCED, FieldChange, FieldFailure, LookupTable, TransferredField, decode_pair, encode_pair, field_changes,
    hash_value, same_value,
    side_of, synced_hashes, transfer,
)
from core.model import (
    Coupling, DeletionConflictPolicy, Direction, ErrorCategory, FieldMapping, Mapping, Record, Side,
    UpdateConflictPolicy, frozen_fields,
)

__all__ = [
    "ActionKind", "FieldConflict", "Action", "plan_record", "plan_page", "auto_direction", "changed_sides",
    "side_changed", "source_unchanged", "destination_changed", "keep_destination_changes", "DESTINATION_CHANGED", "TOLERANCE", "RESULT_SUCCESS", "RESULT_FAILURE", "EMPTY_LOOKUPS",
]

# bc-behaviour §2.3 / §5.2: differences under 10 ms count as equal (TypeHelper.CompareDateTime).
TOLERANCE = dt.timedelta(milliseconds=10)
RESULT_SUCCESS = "success"
RESULT_FAILURE = "failure"
EMPTY_LOOKUPS = LookupTable()


class ActionKind(str, Enum):
    INSERT = "insert"
    MODIFY = "modify"
    UNCHANGED = "unchanged"
    CONFLICT = "conflict"
    SKIP = "skip"
    FAIL = "fail"
    RESTORE = "restore"  # re-create the deleted counterpart from the source and re-couple
    UNCOUPLE = "uncouple"
    COUPLE = "couple"  # couple an existing uncoupled match, then force-modify it

    @property
    def counter(self) -> str:
        """The `Counters` field this outcome bumps (F11)."""
        return {"insert": "inserted", "restore": "inserted", "modify": "modified", "unchanged": "unchanged",
                "skip": "skipped", "fail": "failed", "conflict": "failed", "uncouple": "uncoupled",
                "couple": "coupled"}[self.value]


@dataclass(frozen=True, slots=True)
class FieldConflict:
    """One field both sides changed since the last sync (X13): both values and the last synced hashes."""

    key: str
    erp_field: str | None
    crm_field: str | None
    erp_value: Any
    crm_value: Any
    last_synced: str | None


@dataclass(frozen=True, slots=True)
class Action:
    """What to do with one record in one pass.

    `changes` are destination field → value; an update must carry `destination_etag` as If-Match (X8).
    `field_hashes` are what the coupling's hashes become if the action is applied. `refresh` on an
    UNCHANGED action means the coupling's timestamps and hashes still advance. `destination_pending`
    means the destination holds changes left for the reverse pass: the engine must NOT advance the
    coupling's stored modified-on for the destination side, or that pass would not see them.
    """

    kind: ActionKind
    direction: Direction
    erp_id: str | None
    crm_id: str | None
    changes: MappingABC[str, Any] = field(default_factory=lambda: frozen_fields({}))
    reason: str | None = None
    category: ErrorCategory | None = None
    field_hashes: MappingABC[str, str] = field(default_factory=lambda: frozen_fields({}))
    conflicts: tuple[FieldConflict, ...] = ()
    failures: tuple[FieldFailure, ...] = ()
    source_modified_on: dt.datetime | None = None
    destination_modified_on: dt.datetime | None = None
    destination_etag: str | None = None
    refresh: bool = False
    destination_pending: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "changes", frozen_fields(self.changes))
        object.__setattr__(self, "field_hashes", frozen_fields(self.field_hashes))

    @property
    def writes(self) -> bool:
        """Whether applying this action writes to the destination API."""
        return self.kind in (ActionKind.INSERT, ActionKind.RESTORE) or (
            self.kind in (ActionKind.MODIFY, ActionKind.COUPLE) and bool(self.changes))


def side_changed(current: dt.datetime | None, stored: dt.datetime | None) -> bool:
    """F9: later than the stored modified-on by 10 ms or more; no stored value means changed."""
    if stored is None:
        return True
    if current is None:
        return False
    return current - stored >= TOLERANCE


def changed_sides(coupling: Coupling, erp_modified_on: dt.datetime | None,
                  crm_modified_on: dt.datetime | None,
                  changes: MappingABC[str, FieldChange] | None = None) -> tuple[bool, bool]:
    """(ERP changed, CRM changed) since the last sync. A failed write TO one side makes the other side count
    as changed, so the failed direction is retried (bc-behaviour §2.3), unless the coupling is skipped.

    Beyond F9's timestamps: a field whose value differs from its known last synced value also marks its
    side changed. Dataverse's `modifiedon` has whole seconds, so a person's edit in the same second as
    Koppel's own write is invisible to timestamps alone; the hashes still see it (no lost edits)."""
    retry = not coupling.skipped
    erp = side_changed(erp_modified_on, coupling.erp_modified_on) or (retry and coupling.crm_result == RESULT_FAILURE)
    crm = side_changed(crm_modified_on, coupling.crm_modified_on) or (retry and coupling.erp_result == RESULT_FAILURE)
    for fc in (changes or {}).values():
        if fc.last_synced is not None:
            erp = erp or fc.erp_changed
            crm = crm or fc.crm_changed
    return erp, crm


DESTINATION_CHANGED = "the destination changed since the last synchronization"


def destination_changed(mapping: Mapping, direction: Direction, coupling: Coupling, source: Record,
                        destination: Record) -> bool:
    """Whether the destination side changed since the last sync (timestamps or any field's last synced value)."""
    erp, crm = (source, destination) if direction is Direction.TO_CRM else (destination, source)
    changes = field_changes(mapping, coupling.field_hashes, erp.fields, crm.fields)
    erp_changed, crm_changed = changed_sides(coupling, erp.modified_on, crm.modified_on, changes)
    return crm_changed if direction is Direction.TO_CRM else erp_changed


def keep_destination_changes(mapping: Mapping, action: Action, coupling: Coupling | None, source: Record,
                             destination: Record | None) -> Action:
    """F5 (SPEC §5.4): a forced write that would replace changes made on the destination since the last sync is
    skipped instead — judged on the destination as read for this very write, so an edit landing after an earlier
    read is kept too (the write's ETag makes a later one a 412, and the re-plan judges again)."""
    if not action.writes or coupling is None or destination is None:
        return action
    if not destination_changed(mapping, action.direction, coupling, source, destination):
        return action
    return Action(ActionKind.SKIP, action.direction, action.erp_id, action.crm_id, reason=DESTINATION_CHANGED,
                  source_modified_on=action.source_modified_on)


def source_unchanged(mapping: Mapping, side: Side, source: Record, coupling: Coupling | None) -> bool:
    """True when a coupled source record provably has nothing new: its modified-on is within 10 ms of the
    stored one, no write to the other side failed, and every mapped field still has its last synced value.

    The engine then needs neither the destination nor a plan for it (re-reading the watermark boundary, or
    a run right after a run, costs no destination requests). Anything less certain goes through the planner.
    """
    if coupling is None or coupling.skipped:
        return False
    stored_on = coupling.erp_modified_on if side is Side.ERP else coupling.crm_modified_on
    other_result = coupling.crm_result if side is Side.ERP else coupling.erp_result
    if other_result == RESULT_FAILURE or side_changed(source.modified_on, stored_on):
        return False
    for fm in mapping.field_mappings:
        name = fm.erp_field if side is Side.ERP else fm.crm_field
        if not fm.enabled or name is None:
            continue
        pair = decode_pair(coupling.field_hashes.get(fm.key))
        if pair is None or (pair[0] if side is Side.ERP else pair[1]) != hash_value(source.fields.get(name)):
            return False
    return True


def _fields_by_side(source: Record, destination: Record | None, src: Side) -> tuple[MappingABC[str, Any], ...]:
    dest_fields: MappingABC[str, Any] = destination.fields if destination is not None else {}
    return (source.fields, dest_fields) if src is Side.ERP else (dest_fields, source.fields)


def _hashes_after(mapping: Mapping, src: Side, base: MappingABC[str, str], source: Record,
                  dest_after: MappingABC[str, Any], keys: Iterable[str], unsynced: Iterable[str]) -> dict[str, str]:
    erp_fields, crm_fields = (source.fields, dest_after) if src is Side.ERP else (dest_after, source.fields)
    out = synced_hashes(mapping, erp_fields, crm_fields, keys=keys, base=base)
    for key in unsynced:  # a value cleared on a failed lookup: retry it the next time the source is read
        pair = decode_pair(out.get(key)) or ("", "")
        out[key] = encode_pair(NOT_SYNCED, pair[1]) if src is Side.ERP else encode_pair(pair[0], NOT_SYNCED)
    return out


def _failed(kind_args: dict[str, Any], failures: tuple[FieldFailure, ...]) -> Action:
    category = ErrorCategory.CONFIG if any(f.category is ErrorCategory.CONFIG for f in failures) \
        else ErrorCategory.DEPENDENCY
    return Action(ActionKind.FAIL, **kind_args, category=category, failures=failures,
                  reason="; ".join(f.message for f in failures))


def _create(kind: ActionKind, args: dict[str, Any], mapping: Mapping, direction: Direction, source: Record,
            lookups: LookupTable, base: MappingABC[str, str]) -> Action:
    """INSERT or RESTORE: every field flowing in `direction`."""
    src, _ = side_of(direction)
    tr = transfer(source, mapping, direction, lookups)
    if tr.failures:
        return _failed(args, tr.failures)
    values = tr.values
    hashes = _hashes_after(mapping, src, base, source, values, (f.mapping.key for f in tr.fields),
                           (f.mapping.key for f in tr.fields if f.cleared))
    return Action(kind, **args, changes=values, field_hashes=hashes)


def plan_record(*, mapping: Mapping, direction: Direction, source: Record, coupling: Coupling | None,
                destination: Record | None, destination_missing: bool = False,
                lookups: LookupTable = EMPTY_LOOKUPS, force: bool = False, match: Record | None = None) -> Action:
    """Decide what one pass does with one source record.

    Args:
        mapping: the table mapping.
        direction: toCrm (source = ERP record) or fromCrm (source = CRM row).
        source: the record read from the source side.
        coupling: its coupling under `mapping`, or None.
        destination: the coupled counterpart as read while planning (its ETag goes into the action).
        destination_missing: the coupled counterpart no longer exists (also assumed when it is None).
        lookups: translations for lookup fields, filled in bulk by the engine.
        force: a person chose this direction (F3) or a full sync runs: overwrite destination changes.
        match: an uncoupled destination record found by match-based coupling (F12): COUPLE it.

    Returns:
        The action; nothing is written here.
    """
    src, dst = side_of(direction)
    erp_id: str | None
    crm_id: str | None
    if coupling is not None:
        erp_id, crm_id = coupling.erp_id, coupling.crm_id
    else:
        own = match.id if match is not None else None
        erp_id, crm_id = (source.id, own) if src is Side.ERP else (own, source.id)
    args: dict[str, Any] = {"direction": direction, "erp_id": erp_id, "crm_id": crm_id,
                            "source_modified_on": source.modified_on}
    if not mapping.direction.allows(direction):
        return Action(ActionKind.SKIP, **args, reason=f"mapping {mapping.name} does not synchronize {direction.value}")
    if coupling is not None and coupling.skipped and not force:
        return Action(ActionKind.SKIP, **args, reason="the coupling is marked skipped")
    if coupling is None:
        if match is not None:
            return _modify(ActionKind.COUPLE, args, mapping, direction, source, None, match, lookups, True)
        if mapping.sync_only_coupled and not force:
            return Action(ActionKind.SKIP, **args, reason="not coupled")
        return _create(ActionKind.INSERT, args, mapping, direction, source, lookups, {})
    if destination_missing or destination is None:
        policy = mapping.deletion_conflict
        if policy is DeletionConflictPolicy.RESTORE:
            return _create(ActionKind.RESTORE, args, mapping, direction, source, lookups, {})
        if policy is DeletionConflictPolicy.UNCOUPLE:
            return Action(ActionKind.UNCOUPLE, **args, reason=f"the coupled {dst.value.upper()} record was deleted")
        return Action(ActionKind.FAIL, **args, category=ErrorCategory.DELETED_COUNTERPART,
                      reason=f"the {src.value.upper()} record cannot be updated because it is coupled to a deleted record")
    return _modify(ActionKind.MODIFY, args, mapping, direction, source, coupling, destination, lookups, force)


def _modify(kind: ActionKind, args: dict[str, Any], mapping: Mapping, direction: Direction, source: Record,
            coupling: Coupling | None, destination: Record, lookups: LookupTable, force: bool) -> Action:
    """MODIFY (or COUPLE) a destination that exists: F9's change detection and update-conflict policies."""
    src, dst = side_of(direction)
    args = {**args, "destination_etag": destination.etag, "destination_modified_on": destination.modified_on}
    stored: MappingABC[str, str] = coupling.field_hashes if coupling is not None else {}
    erp_rec, crm_rec = (source, destination) if src is Side.ERP else (destination, source)
    changes_by_key = field_changes(mapping, stored, erp_rec.fields, crm_rec.fields)
    if coupling is not None:
        erp_changed, crm_changed = changed_sides(coupling, erp_rec.modified_on, crm_rec.modified_on, changes_by_key)
    else:
        erp_changed = crm_changed = True
    src_changed, dst_changed = (erp_changed, crm_changed) if src is Side.ERP else (crm_changed, erp_changed)
    if not src_changed and not force:
        return Action(ActionKind.UNCHANGED, **args, field_hashes=stored, reason="source not changed")

    tr = transfer(source, mapping, direction, lookups)
    by_key = tr.by_key()
    failed = {f.key: f for f in tr.failures}
    flowing = mapping.fields_for(direction)

    def differs(tf: TransferredField) -> bool:
        return not same_value(tf.value, destination.fields.get(tf.field))

    # An update conflict needs both sides changed on a bidirectional mapping and no override (F9).
    contested = mapping.direction is Direction.BIDIRECTIONAL and dst_changed and not force
    policy = mapping.update_conflict
    if contested and policy is not UpdateConflictPolicy.MERGE:
        clashing = [fm for fm in flowing if fm.direction is Direction.BIDIRECTIONAL
                    and fm.key in by_key and differs(by_key[fm.key])]
        if clashing:
            if policy is UpdateConflictPolicy.FAIL:
                return _conflict(args, stored, clashing, erp_rec, crm_rec)
            winner = Side.ERP if policy is UpdateConflictPolicy.ERP_WINS else Side.CRM
            if winner is dst:
                return Action(ActionKind.SKIP, **args, field_hashes=stored, reason="the other side wins")
        contested = False  # the winner's pass (or no clash): write every field that differs

    changes: dict[str, Any] = {}
    synced: list[str] = []
    unsynced: list[str] = []
    conflicts: list[FieldMapping] = []
    hard_failures: list[FieldFailure] = []
    for fm in flowing:
        fc = changes_by_key[fm.key]
        merge_field = contested and fm.direction is Direction.BIDIRECTIONAL
        if merge_field and fc.changed(dst) and not fc.changed(src):
            continue  # changed only on the destination: left for the reverse pass, hash kept
        if fm.key in failed:
            hard_failures.append(failed[fm.key])
            continue
        tf = by_key.get(fm.key)
        if tf is None:
            continue  # not-null dropped a None: the destination keeps its value
        if merge_field and fc.changed(dst) and fc.changed(src) and differs(tf):
            conflicts.append(fm)
            continue
        if differs(tf):
            changes[tf.field] = tf.value
        synced.append(fm.key)
        if tf.cleared:
            unsynced.append(fm.key)

    if conflicts and not changes:
        return _conflict(args, stored, conflicts, erp_rec, crm_rec)
    if hard_failures:
        return _failed({**args, "field_hashes": stored}, tuple(hard_failures))
    dest_after = {**destination.fields, **changes}
    hashes = _hashes_after(mapping, src, stored, source, dest_after, synced, unsynced)
    reverse = Direction.FROM_CRM if direction is Direction.TO_CRM else Direction.TO_CRM
    # Only a known baseline proves a destination edit; a missing one (a field never synced) must not hold
    # the destination's timestamp back, or every later pass would see that side as changed.
    pending = mapping.direction.allows(reverse) and any(
        changes_by_key[fm.key].last_synced is not None and changes_by_key[fm.key].changed(dst)
        and fm.key not in synced for fm in mapping.fields_for(reverse))
    if kind is ActionKind.MODIFY and not changes:
        return Action(ActionKind.UNCHANGED, **args, field_hashes=hashes, refresh=True,
                      destination_pending=pending, reason="no field differs")
    if conflicts:
        # F9 merge: the fields changed on one side flow; only those changed on both sides are a conflict. Their
        # hashes stay as they were, so the conflict stands (and is reported) until a person resolves it.
        partial = _conflict(args, stored, conflicts, erp_rec, crm_rec)
        return Action(kind, **args, changes=changes, field_hashes=hashes, destination_pending=True,
                      category=ErrorCategory.CONFLICT, conflicts=partial.conflicts,
                      reason=f"{partial.reason}; the other changed fields were synchronized")
    return Action(kind, **args, changes=changes, field_hashes=hashes, destination_pending=pending)


def _conflict(args: dict[str, Any], stored: MappingABC[str, str], fms: list[FieldMapping],
              erp_rec: Record, crm_rec: Record) -> Action:
    conflicts = tuple(
        FieldConflict(fm.key, fm.erp_field, fm.crm_field,
                      erp_rec.fields.get(fm.erp_field) if fm.erp_field else fm.constant,
                      crm_rec.fields.get(fm.crm_field) if fm.crm_field else fm.constant, stored.get(fm.key))
        for fm in fms)
    names = ", ".join(fm.key for fm in fms)
    return Action(ActionKind.CONFLICT, **args, category=ErrorCategory.CONFLICT, field_hashes=stored,
                  conflicts=conflicts, reason=f"both sides changed since the last synchronization: {names}")


def plan_page(mapping: Mapping, direction: Direction, sources: Iterable[Record],
              couplings_by_source_id: MappingABC[str, Coupling], destinations_by_id: MappingABC[str, Record],
              lookups: LookupTable = EMPTY_LOOKUPS, *, force: bool = False,
              matches_by_source_id: MappingABC[str, Record] | None = None) -> list[Action]:
    """`plan_record` over one page: a coupled source whose destination id is not in `destinations_by_id`
    is taken as deleted on the destination side."""
    actions = []
    for record in sources:
        coupling = couplings_by_source_id.get(record.id)
        dest_id = None if coupling is None else (coupling.crm_id if direction is Direction.TO_CRM else coupling.erp_id)
        destination = destinations_by_id.get(dest_id) if dest_id is not None else None
        match = (matches_by_source_id or {}).get(record.id) if coupling is None else None
        actions.append(plan_record(mapping=mapping, direction=direction, source=record, coupling=coupling,
                                   destination=destination, destination_missing=coupling is not None and destination is None,
                                   lookups=lookups, force=force, match=match))
    return actions


def auto_direction(mapping: Mapping, erp_record: Record, crm_record: Record, coupling: Coupling,
                   lookups: LookupTable = EMPTY_LOOKUPS) -> tuple[Direction, ...] | Conflict:
    """F3 `direction: auto`: the passes to run, in order, or the update conflict that stops them.

    `()` means neither side changed; `(TO_CRM, FROM_CRM)` means both changed with nothing clashing (merge:
    each side's changes flow, toCrm first as in a scheduled run, bc-behaviour §2.1).
    """
    erp_changed, crm_changed = changed_sides(coupling, erp_record.modified_on, crm_record.modified_on, field_changes(
        mapping, coupling.field_hashes, erp_record.fields, crm_record.fields))
    if mapping.direction is not Direction.BIDIRECTIONAL:
        source_changed = erp_changed if mapping.direction is Direction.TO_CRM else crm_changed
        return (mapping.direction,) if source_changed else ()
    if not (erp_changed and crm_changed):
        return (Direction.TO_CRM,) if erp_changed else (Direction.FROM_CRM,) if crm_changed else ()
    if mapping.update_conflict is UpdateConflictPolicy.ERP_WINS:
        return (Direction.TO_CRM,)
    if mapping.update_conflict is UpdateConflictPolicy.CRM_WINS:
        return (Direction.FROM_CRM,)
    trial = plan_record(mapping=mapping, direction=Direction.TO_CRM, source=erp_record, coupling=coupling,
                        destination=crm_record, lookups=lookups)
    if trial.kind is ActionKind.CONFLICT and not trial.changes:
        return Conflict(f"Both sides changed {mapping.name} record {coupling.erp_id}: {trial.reason}",
                        reason="updateConflict")
    return (Direction.TO_CRM, Direction.FROM_CRM)
