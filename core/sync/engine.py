"""The synchronizer: runs one pass over a page of source records (DESIGN decision 1).

Read the page's couplings in one query, the coupled destination rows in one request, the lookup
translations in bulk; plan every record (pure, `core.rules.plan`); then apply the plan with the
destination's batch API and Table Storage transactions, and record results, errors and counters.
A destination changed between our read and our write (stale ETag, X8) is re-read and re-planned
once, so a person's edit becomes a merge or a conflict, never a blind overwrite.
"""
from __future__ import annotations


import datetime as dt
import random
import time
from collections.abc import Mapping as MappingABC, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from typing import Any

from core.rules.coupling_state import applied_state, next_error_state
from core.deps import Deps
from core.errors import (
    AlreadyCoupled, AuthError, KoppelError, Rejected, RemoteError, Retriable, StaleWrite,
)
from core.sync.adoption import Held, adopt_earlier_creates, claim_creates
from core.rules.fields import side_of, synced_hashes
from core.sync.loading import read_records
from core.sync.lookup_fill import fill_lookups
from core.model import Counters, Coupling, Direction, ErrorCategory, Mapping, Record, Side, SyncError
from core.odata import WriteOp, WriteResult
from core.rules.plan import TOLERANCE, Action, ActionKind, keep_destination_changes, plan_page, source_unchanged
from core.store.coupling_snapshot import CouplingSnapshot

__all__ = ["PageResult", "Outcome", "sync_page", "category_of", "create_dependencies", "STALE_ROUNDS"]

STALE_ROUNDS = 4  # re-plans of records someone changed between our read and our write, before it is an error


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one record: the action as applied (or planned, in a dry run) and any error."""

    action: Action
    error: str | None = None
    category: ErrorCategory | None = None
    coupling: Coupling | None = None
    written: bool = False  # the destination write happened; only the coupling write met a newer row


@dataclass(frozen=True, slots=True)
class PageResult:
    outcomes: tuple[Outcome, ...]
    counters: Counters
    errors: tuple[SyncError, ...] = field(default_factory=tuple)


def category_of(err: KoppelError) -> ErrorCategory:
    """X11: the error category that decides retry versus skip."""
    if isinstance(err, StaleWrite):
        return ErrorCategory.CONCURRENCY
    if isinstance(err, Retriable):
        return ErrorCategory.THROTTLED if err.status == 429 else ErrorCategory.TRANSIENT
    if isinstance(err, AuthError):
        return ErrorCategory.AUTH
    if isinstance(err, Rejected):
        return ErrorCategory.VALIDATION
    if isinstance(err, RemoteError):
        return ErrorCategory.TRANSIENT
    return ErrorCategory.VALIDATION


def _plan(deps: Deps, mapping: Mapping, direction: Direction, sources: Sequence[Record], force: bool,
          couplings: MappingABC[str, Coupling], keep_changed: bool) -> tuple[list[Action], dict[str, Record]]:
    _, dst = side_of(direction)
    # Only the counterparts of the records being planned: a page's quiet records need none.
    page = [c for r in sources if (c := couplings.get(r.id)) is not None]
    destinations = read_records(deps, mapping, dst, [c.crm_id if dst is Side.CRM else c.erp_id for c in page])
    actions = plan_page(mapping, direction, sources, couplings, destinations,
                        fill_lookups(deps, mapping, direction, sources, create=create_dependencies), force=force)
    if keep_changed:
        actions = [keep_destination_changes(mapping, a, couplings.get(r.id), r, destinations.get(_dest_id(a, dst)))
                   for a, r in zip(actions, sources)]
    return actions, destinations


def _dest_id(action: Action, dst: Side) -> str:
    return (action.crm_id if dst is Side.CRM else action.erp_id) or ""


def _find_couplings(deps: Deps, mapping: Mapping, side: Side, ids: Sequence[str],
                    snapshot: CouplingSnapshot | None) -> dict[str, Coupling]:
    if snapshot is not None:
        return snapshot.find(side, ids)
    store = deps.storage().couplings
    return store.find_by_erp(mapping.name, ids) if side is Side.ERP else store.find_by_crm(mapping.name, ids)


def sync_page(deps: Deps, mapping: Mapping, direction: Direction, sources: Sequence[Record], *,
              job_id: str | None = None, force: bool = False, dry_run: bool = False,
              couplings: CouplingSnapshot | None = None, keep_changed: bool = False) -> PageResult:
    """Synchronize one page of source records in one direction.

    Args:
        deps: clients and stores.
        mapping: the table mapping.
        direction: toCrm (sources are ERP records) or fromCrm (sources are CRM rows).
        sources: the page, as read from the source side with the mapping's fields.
        job_id: the job these results belong to.
        force: overwrite destination changes (a person chose the direction, or a winner policy).
        dry_run: plan only (X5): nothing is written anywhere.
        couplings: the pass's coupling snapshot, read instead of the store and kept current with every coupling
            written; None reads the page's couplings from the store (small passes, single records).
        keep_changed: with `force`, skip (not overwrite) a destination changed since the last sync (F5).

    Returns:
        Per-record outcomes, counters and the error rows written.
    """
    src, dst = side_of(direction)
    snapshot = couplings
    found = _find_couplings(deps, mapping, src, [r.id for r in sources], snapshot)
    uncoupled = [r for r in sources if r.id not in found]
    if uncoupled and not dry_run:
        # Adoption first: what an earlier, interrupted attempt created for these records is coupled, not made again.
        for c in adopt_earlier_creates(deps, mapping, src, uncoupled, snapshot):
            found[c.erp_id if src is Side.ERP else c.crm_id] = c
    sources = _not_older_than_synced(deps, mapping, src, sources, found)
    # A provably unchanged source needs neither its destination nor a plan (no requests for a quiet page).
    quiet = set() if force else {r.id for r in sources if source_unchanged(mapping, src, r, found.get(r.id))}
    active = [r for r in sources if r.id not in quiet]
    actions, destinations = _plan(deps, mapping, direction, active, force, found, keep_changed) if active else ([], {})
    unchanged = [_unchanged(direction, found[rid], src) for rid in quiet]
    if dry_run:
        outcomes = tuple(Outcome(a) for a in actions + unchanged)
        return PageResult(outcomes, _count(outcomes))
    by_id = {r.id: r for r in sources}
    outcomes = _apply(deps, mapping, actions, found, destinations, by_id, job_id, snapshot)
    outcomes = outcomes + tuple(Outcome(a, coupling=found[_source_id(a, src)]) for a in unchanged)
    for attempt in range(STALE_ROUNDS):
        stale = [o for o in outcomes if o.category is ErrorCategory.CONCURRENCY and o.coupling is not None]
        if not stale:
            break
        # X8/X11: someone changed the destination or the coupling meanwhile. That is transient: re-read, re-plan
        # and apply again (a person's edit becomes a merge or a conflict, never an overwrite), a few times, with
        # jitter so callers racing for one record do not collide in step.
        time.sleep(random.uniform(0, 0.05 * (attempt + 1)))
        # The source is read again too: planned from the coupling as it is now, a source read before another
        # caller's write would look changed and undo that write.
        reread = read_records(deps, mapping, src, [_source_id(o.action, src) for o in stale])
        by_id.update(reread)
        retry_sources = list(reread.values())
        fresh = {_source_id(o.action, src): o.coupling for o in stale if o.coupling is not None}
        again, destinations2 = _plan(deps, mapping, direction, retry_sources, force, fresh, keep_changed)
        redo = _apply(deps, mapping, again, fresh, destinations2, by_id, job_id, snapshot)
        replaced = {_source_id(o.action, src): o for o in redo}
        outcomes = tuple(_merged(o, replaced.get(_source_id(o.action, src))) for o in outcomes)
    errors = _record_errors(deps, mapping, outcomes, job_id)
    return PageResult(outcomes, _count(outcomes), errors)


def _merged(first: Outcome, again: Outcome | None) -> Outcome:
    """A re-planned record's outcome; one whose write landed and that now plans as unchanged was still modified."""
    if again is None:
        return first
    if first.written and again.error is None and again.action.kind is ActionKind.UNCHANGED:
        return Outcome(first.action, coupling=again.coupling)
    return again


def _not_older_than_synced(deps: Deps, mapping: Mapping, src: Side, sources: Sequence[Record],
                           couplings: MappingABC[str, Coupling]) -> Sequence[Record]:
    """Sources read before another caller synchronized them are read again: the coupling says a later version was
    synchronized already, and planning from the older one would write it back over the newer (a lost edit)."""
    def stored(r: Record) -> dt.datetime | None:
        c = couplings.get(r.id)
        return None if c is None else (c.erp_modified_on if src is Side.ERP else c.crm_modified_on)

    older = [r.id for r in sources if (at := stored(r)) is not None and at - r.modified_on >= TOLERANCE]
    if not older:
        return sources
    fresh = read_records(deps, mapping, src, older)
    return [fresh.get(r.id, r) for r in sources]


def _unchanged(direction: Direction, coupling: Coupling, src: Side) -> Action:
    record_on = coupling.erp_modified_on if src is Side.ERP else coupling.crm_modified_on
    return Action(ActionKind.UNCHANGED, direction, coupling.erp_id, coupling.crm_id, reason="source not changed",
                  field_hashes=coupling.field_hashes, source_modified_on=record_on)


def _source_id(action: Action, src: Side) -> str:
    value = action.erp_id if src is Side.ERP else action.crm_id
    assert value is not None
    return value


def _count(outcomes: Sequence[Outcome]) -> Counters:
    counters = Counters()
    for o in outcomes:
        counters = counters.bump("failed" if o.error else o.action.kind.counter)
    return counters


def _write_ops(mapping: Mapping, actions: Sequence[Action], dst: Side, planned: dict[str, str]) -> list[WriteOp]:
    entity = mapping.crm_entity if dst is Side.CRM else mapping.erp_entity
    ops = []
    for i, a in enumerate(actions):
        dest_id = a.crm_id if dst is Side.CRM else a.erp_id
        if a.kind in (ActionKind.INSERT, ActionKind.RESTORE):
            ops.append(WriteOp("create", entity, id=planned.get(str(i)), values=a.changes, ref=str(i)))
        else:
            ops.append(WriteOp("update", entity, id=dest_id, etag=a.destination_etag, values=a.changes, ref=str(i)))
    return ops


def _apply(deps: Deps, mapping: Mapping, actions: Sequence[Action], couplings: MappingABC[str, Coupling],
           destinations: MappingABC[str, Record], sources: MappingABC[str, Record], job_id: str | None,
           snapshot: CouplingSnapshot | None) -> tuple[Outcome, ...]:
    if not actions:
        return ()
    src, dst = side_of(actions[0].direction)
    store = deps.storage()
    writing = [a for a in actions if a.writes]
    # DESIGN decision 3: every create is claimed in the Intents table before it is sent, so a retry after a crash
    # or a redelivery adopts what an earlier attempt made instead of creating it twice (core.sync.adoption).
    creates = {_source_id(a, src): a for a in writing if a.kind in (ActionKind.INSERT, ActionKind.RESTORE)}
    held: dict[str, Held] = {}
    planned: dict[str, str] = {}
    if creates:
        standing, held = claim_creates(deps, mapping, src, creates, couplings)
        writing = [a for a in writing if _source_id(a, src) not in held]
        if dst is Side.CRM:  # Dataverse takes our id: a repeated create finds its row (core.crm.batch)
            planned = {str(i): standing[_source_id(a, src)].planned_id for i, a in enumerate(writing)
                       if _source_id(a, src) in standing}
    ops = _write_ops(mapping, writing, dst, planned)
    client: Any = deps.crm() if dst is Side.CRM else deps.erp()
    results: dict[int, WriteResult] = {int(r.op.ref): r for r in _send(client, ops)} if ops else {}
    written = {id(a): results[i] for i, a in enumerate(writing)}
    _forget_refused_creates(deps, mapping, src, [(a, written[id(a)]) for a in writing if _source_id(a, src) in creates])

    outcomes: list[Outcome] = []
    updates: list[tuple[int, Coupling]] = []  # (index of its outcome, the coupling to write)
    new_couplings: list[Coupling] = []
    uncouple: list[str] = []
    now = deps.clock()
    for a in actions:
        sid = _source_id(a, src)
        coupling = couplings.get(sid)
        result = written.get(id(a))
        if sid in held:  # not sent: the coupling's state is not this record's failure
            outcomes.append(Outcome(a, held[sid].message, held[sid].category, coupling))
            continue
        if result is not None and result.error is not None:
            err = result.error
            cat = category_of(err)
            if coupling is not None:
                updates.append((len(outcomes), next_error_state(coupling, cat, err.message, destination=dst, code=_err_code(err),
                                                                job_id=job_id)))
            outcomes.append(Outcome(a, err.message, cat, coupling))
            continue
        if a.kind in (ActionKind.FAIL, ActionKind.CONFLICT):
            cat = a.category or ErrorCategory.VALIDATION
            if coupling is not None:
                updates.append((len(outcomes), next_error_state(coupling, cat, a.reason or a.kind.value,
                                                                destination=dst, job_id=job_id)))
            outcomes.append(Outcome(a, a.reason, cat, coupling))
            continue
        if a.kind is ActionKind.UNCOUPLE:
            if coupling is not None:
                uncouple.append(coupling.erp_id)
            outcomes.append(Outcome(a))
            continue
        record = result.record if result is not None else None
        if a.kind in (ActionKind.INSERT, ActionKind.RESTORE) and record is not None:
            erp_id, crm_id = (sid, record.id) if src is Side.ERP else (record.id, sid)
            erp_fields, crm_fields = (sources[sid].fields, record.fields) if src is Side.ERP \
                else (record.fields, sources[sid].fields)
            base = coupling if (coupling is not None and a.kind is ActionKind.RESTORE) else Coupling(
                mapping.name, erp_id, crm_id, coupled_on=now)
            fresh = applied_state(base.with_changes(crm_id=crm_id, erp_id=erp_id), a,
                                  destination_modified_on=record.modified_on,
                                  field_hashes=synced_hashes(mapping, erp_fields, crm_fields), job_id=job_id)
            if a.kind is ActionKind.RESTORE and coupling is not None:
                old = coupling
                restored = store.couplings.replace_crm(old, crm_id) if dst is Side.CRM else None
                if restored is not None:
                    updates.append((len(outcomes), applied_state(
                        restored, a, destination_modified_on=record.modified_on,
                        field_hashes=dict(fresh.field_hashes), job_id=job_id)))
                outcomes.append(Outcome(a, coupling=restored))
            else:
                new_couplings.append(fresh)
                outcomes.append(Outcome(a, coupling=fresh))
            continue
        if coupling is not None:
            updated = applied_state(coupling, a, destination_modified_on=record.modified_on if record else None,
                                    job_id=job_id)
            if a.conflicts:  # F9 merge: written, but the fields changed on both sides stay a conflict
                updated = next_error_state(updated, ErrorCategory.CONFLICT, a.reason or "conflict", destination=dst,
                                           job_id=job_id)
            if updated is not coupling:
                updates.append((len(outcomes), updated))
            outcomes.append(Outcome(a, a.reason if a.conflicts else None,
                                    ErrorCategory.CONFLICT if a.conflicts else None, coupling=updated,
                                    written=bool(a.conflicts)))
            continue
        outcomes.append(Outcome(a))

    _store_couplings(deps, mapping, src, new_couplings, updates, uncouple, outcomes, snapshot)
    return tuple(outcomes)


def _forget_refused_creates(deps: Deps, mapping: Mapping, src: Side, sent: Sequence[tuple[Action, WriteResult]]) -> None:
    """A create the destination refused did not happen: its intent goes. A create without a definite answer (lost,
    not answered in the batch) keeps its intent for adoption, marked settled: this attempt waits no longer."""
    failed = [(_source_id(a, src), r.error) for a, r in sent if r.error is not None]
    refused = [sid for sid, err in failed if _definite(err)]
    if refused:
        deps.storage().intents.clear_many(mapping.name, src, refused)
    if len(refused) < len(failed):
        deps.storage().intents.settle_many(mapping.name, src, [sid for sid, err in failed if not _definite(err)])


def _send(client: Any, ops: Sequence[WriteOp]) -> list[WriteResult]:
    """The batch's per-op results; a batch still refused after the client's own retries (503s, throttling, a lost
    answer) fails each of its records, so each gets its error row and its coupling's lastError (F10), not just
    the pass or the caller."""
    try:
        results: list[WriteResult] = client.apply_batch(ops)
    except Retriable as err:
        return [WriteResult(op, error=err) for op in ops]
    return results


def _err_code(err: KoppelError) -> str | None:
    code = getattr(err, "code", None)
    return str(code) if code else None


def _definite(err: KoppelError) -> bool:
    return not isinstance(err, Retriable) or err.status in (429, 503)  # throttled requests are not processed


def _store_couplings(deps: Deps, mapping: Mapping, src: Side, new: list[Coupling],
                     updates: list[tuple[int, Coupling]], uncouple: list[str], outcomes: list[Outcome],
                     snapshot: CouplingSnapshot | None) -> None:
    store = deps.storage()
    if new:
        results = store.couplings.couple_many(new)
        clashed = [c.erp_id for c, res in zip(new, results) if isinstance(res, AlreadyCoupled)]
        existing = store.couplings.find_by_erp(mapping.name, clashed) if clashed else {}  # one read for all
        for c, res in zip(new, results):
            idx = next(i for i, o in enumerate(outcomes) if o.coupling is c)
            same = existing.get(c.erp_id) if isinstance(res, AlreadyCoupled) else None
            if same is not None and same.crm_id == c.crm_id:
                # A concurrent attempt (or adoption) coupled the very row this create found or made: not ours to count.
                done = replace(outcomes[idx].action, kind=ActionKind.UNCHANGED, reason="coupled by a concurrent attempt")
                outcomes[idx] = Outcome(done, coupling=same)
                if snapshot is not None:
                    snapshot.remember([same])
            elif isinstance(res, AlreadyCoupled):
                # Someone coupled this source meanwhile: the create used the same claimed id, so the
                # row we wrote is the one already coupled (or an orphan we report), never a second coupling.
                outcomes[idx] = Outcome(outcomes[idx].action, res.message, ErrorCategory.CONFLICT, None)
            else:
                outcomes[idx] = replace(outcomes[idx], coupling=res)
        if snapshot is not None:
            snapshot.remember(r for r in results if isinstance(r, Coupling))
        store.intents.clear_many(mapping.name, src, [c.erp_id if src is Side.ERP else c.crm_id for c in new])
    if updates:
        _update_couplings(deps, updates, outcomes, snapshot)
    if uncouple:
        store.couplings.uncouple_many(mapping.name, uncouple)
        if snapshot is not None:
            snapshot.forget(uncouple)


def _update_couplings(deps: Deps, updates: list[tuple[int, Coupling]], outcomes: list[Outcome],
                      snapshot: CouplingSnapshot | None) -> None:
    """Write the updated couplings, each over the etag it was read with. A row changed meanwhile (StaleWrite:
    another caller synchronized the record) is never overwritten blindly — its baseline may be newer than ours —
    but re-read, and the record re-planned from it (sync_page's stale rounds). Outcomes and the snapshot get the
    stored rows' new etags."""
    store = deps.storage().couplings
    stored: dict[int, Coupling] = {}
    results = list(zip(updates, store.update_many(c for _, c in updates)))
    stale = [c for (_, c), res in results if isinstance(res, StaleWrite)]
    current = store.find_by_erp(stale[0].mapping, [c.erp_id for c in stale]) if stale else {}  # one read for all
    for (idx, c), res in results:
        if isinstance(res, StaleWrite):
            _fail_coupling_write(outcomes, idx, c, snapshot, current.get(c.erp_id))
        else:
            stored[idx] = res
    for idx, res in stored.items():
        o = outcomes[idx]
        # An error outcome keeps its pre-error coupling (the X8 re-plan starts from it) with the row's new etag.
        outcomes[idx] = replace(o, coupling=res if o.error is None or o.coupling is None
                                else replace(o.coupling, etag=res.etag))
    if snapshot is not None:
        snapshot.remember(stored.values())


def _fail_coupling_write(outcomes: list[Outcome], idx: int, c: Coupling, snapshot: CouplingSnapshot | None,
                         current: Coupling | None) -> None:
    o = outcomes[idx]
    message = f"The coupling of ERP record {c.erp_id} changed while it was synchronized; it is synchronized again " \
              "next run."
    # Still the same pair: the record is re-planned from the coupling as it is now (sync_page's stale rounds).
    again = current if current is not None and current.crm_id == c.crm_id and o.error is None else None
    outcomes[idx] = Outcome(o.action, o.error or message, o.category or ErrorCategory.CONCURRENCY, again,
                            written=o.error is None)
    if snapshot is not None:
        snapshot.remember([current]) if current is not None else snapshot.forget([c.erp_id])


def _record_errors(deps: Deps, mapping: Mapping, outcomes: Sequence[Outcome], job_id: str | None) -> tuple[SyncError, ...]:
    now = deps.clock()
    rows = tuple(
        SyncError(id=deps.new_id(), job_id=job_id, mapping=mapping.name, erp_id=o.action.erp_id,
                  crm_id=o.action.crm_id, direction=o.action.direction, category=o.category or ErrorCategory.VALIDATION,
                  message=o.error or "", detail=_detail(o.action), occurred_on=now)
        for o in outcomes if o.error)
    if rows:
        deps.storage().errors.add_many(rows)
    return rows


def _detail(action: Action) -> str | None:
    if action.conflicts:
        return "; ".join(f"{c.key}: ERP={c.erp_value!r} CRM={c.crm_value!r}" for c in action.conflicts)
    return None


# The target mappings whose records are being created for a lookup right now (a cycle of dependsOn stops here).
_creating: ContextVar[frozenset[str]] = ContextVar("koppel_creating_dependencies", default=frozenset())


def create_dependencies(deps: Deps, target: Mapping, side: Side, ids: Sequence[str]) -> dict[str, Coupling]:
    """X14, dependencies first: a referenced record with no counterpart is created through the target mapping's
    own rules (its page engine, with intents and adoption) when that mapping creates records in this direction
    (create-new on no match, or syncOnlyCoupled off). Answers source id → the new coupling."""
    from core.sync.engine import sync_page  # the engine fills lookups through this module

    direction = Direction.TO_CRM if side is Side.ERP else Direction.FROM_CRM
    creates = target.create_new_on_no_match or not target.sync_only_coupled
    if not creates or target.paused or not target.direction.allows(direction) or target.name in _creating.get():
        return {}
    token = _creating.set(_creating.get() | {target.name})
    try:
        records = list(read_records(deps, target, side, list(ids)).values())
        result = sync_page(deps, target, direction, records, force=True) if records else None
    finally:
        _creating.reset(token)
    if result is None:
        return {}
    return {(o.coupling.erp_id if side is Side.ERP else o.coupling.crm_id): o.coupling
            for o in result.outcomes if o.coupling is not None and o.error is None}
