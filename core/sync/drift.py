"""Drift reconciliation (SPEC X9): a bulk pass that compares every coupled pair's mapped fields and repairs
the pairs that differ although no watermark will ever bring them up (a missed change, a write that never landed).

The comparison (`check_pair`) is pure; `reconcile_mapping` reads both sides whole, the couplings in one scan, and
repairs through `core.sync.engine.sync_page`, so the normal conflict rules decide every write.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Iterator, Mapping as MappingABC, Sequence
from dataclasses import dataclass
from core.deps import Deps
from core.sync.engine import create_dependencies, sync_page
from core.errors import KoppelError, StaleWrite
from core.rules.fields import LookupTable, decode_pair, hash_value, normalize, same_value, transfer
from core.sync.lookup_fill import fill_lookups
from core.model import (
    Counters, Coupling, Direction, ErrorCategory, Job, JobStatus, JobType, Mapping, Record, Side, SyncError,
    UpdateConflictPolicy,
)
from core.rules.plan import EMPTY_LOOKUPS, RESULT_FAILURE, TOLERANCE, side_changed
from core.store.state import MappingState
from core.sync.loading import load_mapping, read_records

__all__ = ["PairCheck", "main_direction", "changed_keys", "differing_fields", "check_pair", "queue_reconcile",
           "reconcile_mapping", "RECONCILE_LEASE_S"]

log = logging.getLogger("koppel.drift")
RECONCILE_LEASE_S = 300.0  # renewed after every repaired page
REPAIR_PAGE = 1000  # drifted pairs handed to one sync_page call
_FINISHED = (JobStatus.SUCCEEDED, JobStatus.PARTIAL, JobStatus.FAILED)


@dataclass(frozen=True, slots=True)
class PairCheck:
    """What the comparison found for one coupled pair and, for a drifted one, how to repair it.

    `directions` are the sync_page passes to run, in order; `force` overwrites the destination (used when the
    stored baseline itself is wrong, so the normal change detection would see nothing to do).
    """

    drifted: bool
    differing: tuple[str, ...] = ()
    erp_changed: bool = False  # some field's current ERP hash differs from the stored one
    crm_changed: bool = False
    directions: tuple[Direction, ...] = ()
    force: bool = False
    reason: str = ""


def main_direction(mapping: Mapping) -> Direction:
    """Which way a wrong baseline is repaired: the mapping's direction; toCrm for bidirectional unless crmWins."""
    if mapping.direction is not Direction.BIDIRECTIONAL:
        return mapping.direction
    return Direction.FROM_CRM if mapping.update_conflict is UpdateConflictPolicy.CRM_WINS else Direction.TO_CRM


def _from(side: Side) -> Direction:
    return Direction.TO_CRM if side is Side.ERP else Direction.FROM_CRM


def changed_keys(mapping: Mapping, coupling: Coupling, side: Side, record: Record) -> tuple[str, ...]:
    """The field pairs whose current value on `side` differs from the coupling's stored hash of that side."""
    out = []
    for fm in mapping.field_mappings:
        name = fm.erp_field if side is Side.ERP else fm.crm_field
        if not fm.enabled or name is None or fm.constant is not None:
            continue
        pair = decode_pair(coupling.field_hashes.get(fm.key))
        stored = None if pair is None else (pair[0] if side is Side.ERP else pair[1])
        if stored != hash_value(record.fields.get(name)):
            out.append(fm.key)
    return tuple(out)


def differing_fields(mapping: Mapping, erp: Record, crm: Record,
                     lookups: MappingABC[Direction, LookupTable]) -> tuple[str, ...]:
    """The field pairs whose transferred value differs from the destination's current value, in every direction
    the mapping synchronizes (the destination's terms, as the planner compares). Failed lookups are left out:
    they are errors of their own, not drift."""
    return tuple(_differences(mapping, erp, crm, lookups))


def _differences(mapping: Mapping, erp: Record, crm: Record,
                 lookups: MappingABC[Direction, LookupTable]) -> dict[str, bool]:
    """`differing_fields` with, per key, whether every differing transfer was a blank (None) value."""
    out: dict[str, bool] = {}
    for d in (Direction.TO_CRM, Direction.FROM_CRM):
        if not mapping.direction.allows(d):
            continue
        source, dest = (erp, crm) if d is Direction.TO_CRM else (crm, erp)
        for tf in transfer(source, mapping, d, lookups.get(d, EMPTY_LOOKUPS)).fields:
            if not same_value(tf.value, dest.fields.get(tf.field)):
                out[tf.mapping.key] = out.get(tf.mapping.key, True) and normalize(tf.value) is None
    return out


def _shows_change(mapping: Mapping, side: Side, current: dt.datetime, stored: dt.datetime | None,
                  watermark: dt.datetime | None) -> bool:
    """A change the next incremental pass will read: later than the stored time (F9's 10 ms) and not behind the
    side's watermark. A side no pass reads (the mapping's direction) never shows a change."""
    if not mapping.direction.allows(_from(side)) or not side_changed(current, stored):
        return False
    return watermark is None or current >= watermark - TOLERANCE


def check_pair(mapping: Mapping, coupling: Coupling, erp: Record, crm: Record,
               lookups: MappingABC[Direction, LookupTable], *, erp_watermark: dt.datetime | None = None,
               crm_watermark: dt.datetime | None = None) -> PairCheck:
    """Compare one coupled pair with its coupling and across sides (SPEC X9).

    Drift: the mapped fields differ across sides, yet neither side shows a change the next incremental pass will
    read. Repair: a side whose values differ from its stored hashes changed unseen, so its direction runs through
    the normal rules (both changed: both passes, the same field on both sides a conflict); with both hashes as
    stored the baseline is wrong: forced in `main_direction`.
    """
    if coupling.skipped or RESULT_FAILURE in (coupling.erp_result, coupling.crm_result):
        return PairCheck(False, reason="left to the retries of the incremental passes")
    if _shows_change(mapping, Side.ERP, erp.modified_on, coupling.erp_modified_on, erp_watermark) or \
            _shows_change(mapping, Side.CRM, crm.modified_on, coupling.crm_modified_on, crm_watermark):
        return PairCheck(False, reason="a change the next incremental pass reads")
    erp_keys = changed_keys(mapping, coupling, Side.ERP, erp)
    crm_keys = changed_keys(mapping, coupling, Side.CRM, crm)
    # A blank written where the service keeps a default (Dataverse's base currency for a blank currency) left both
    # sides exactly as the last sync stored them: Koppel accepted that difference then, so it is not drift now.
    differing = tuple(k for k, blank in _differences(mapping, erp, crm, lookups).items()
                      if not blank or k in erp_keys or k in crm_keys)
    if not differing:
        return PairCheck(False, reason="in sync")
    base = PairCheck(True, differing, bool(erp_keys), bool(crm_keys))
    # The side whose values differ from its baseline changed, whatever its modified-on says: an edit can carry an
    # older time (an import, a restore, a clock), and writing the other side over it would revert a person's edit.
    directions = []
    for side, keys in ((Side.ERP, erp_keys), (Side.CRM, crm_keys)):
        d = _from(side)
        flowing = {fm.key for fm in mapping.fields_for(d)} if mapping.direction.allows(d) else set()
        if flowing.intersection(keys):
            directions.append(d)
    if directions:
        return dataclasses.replace(base, directions=tuple(directions), reason="a change the watermarks missed")
    return dataclasses.replace(base, directions=(main_direction(mapping),), force=True,
                               reason="the stored baseline does not match either side")


# --- the job ---------------------------------------------------------------------------------------------------


def queue_reconcile(deps: Deps, mapping: Mapping, *, dry_run: bool) -> Job:
    """Create the QUEUED reconcile job and send its message (worker kind "reconcile"); answered at once (202)."""
    job = deps.storage().jobs.create(_new_job(deps, mapping.name, dry_run))
    deps.queue().send({"kind": "reconcile", "mapping": mapping.name, "jobId": job.id, "dryRun": dry_run},
                      message_id=f"reconcile-{job.id}")
    return job


def _new_job(deps: Deps, mapping: str, dry_run: bool) -> Job:
    # A reconcile job is a sync job without a direction (it may write both ways); its message names it.
    return Job(deps.new_id(), mapping, JobType.SYNC, None, JobStatus.QUEUED, deps.clock(), dry_run=dry_run,
               message="Drift reconciliation (X9)")


def _read_all(deps: Deps, mapping: Mapping, side: Side) -> Iterator[list[Record]]:
    """Every record of one side in pages at the API maximum (since=None), only the mapped fields."""
    fields = mapping.source_fields(side)
    if side is Side.ERP:
        return deps.erp().read_changed_since(mapping.erp_entity, None, fields, mapping.erp_filter)
    return deps.crm().read_changed_since(mapping.crm_entity, mapping.crm_id_field, None, fields, mapping.crm_filter)


def _everything(deps: Deps, mapping: Mapping, side: Side, couplings: Sequence[Coupling]) -> dict[str, Record]:
    """Every record of `side`, plus the coupled ones the mapping's filter hides (read back by id, in bulk):
    a record filtered out is not deleted."""
    records = {r.id: r for page in _read_all(deps, mapping, side) for r in page}
    missing = [i for i in ((c.erp_id if side is Side.ERP else c.crm_id) for c in couplings) if i not in records]
    records.update(read_records(deps, mapping, side, missing))
    return records


def reconcile_mapping(deps: Deps, mapping_name: str, *, job_id: str | None, dry_run: bool, owner: str) -> Job:
    """Run one reconcile job: compare every coupled pair, repair the drifted ones (not in a dry run).

    Args:
        job_id: the QUEUED job of `queue_reconcile`; None (the weekly timer) creates one.
        owner: who runs it (unique per delivery): the mapping's lease is held under this name, so a reconcile
            never overlaps a run of the mapping.

    Returns:
        The finished job; a redelivered message finds it finished and does nothing again.
    """
    jobs = deps.storage().jobs
    if job_id is None:
        job = jobs.create(_new_job(deps, mapping_name, dry_run))
    else:
        job = jobs.get(job_id)
    if job.status in _FINISHED:
        return job
    mapping = load_mapping(deps, mapping_name)
    lease = _Lease(deps, mapping.name)
    if not lease.acquire(owner):
        return _finish(deps, job, JobStatus.FAILED, f"Another run of mapping {mapping.name} was in progress.")
    job = jobs.update(dataclasses.replace(job, status=JobStatus.RUNNING, started_on=deps.clock()))
    try:
        counters, message = _reconcile(deps, mapping, job, dry_run, lease)
    except KoppelError as err:
        log.warning("reconcile of %s failed: %s", mapping.name, err.message)
        return _finish(deps, job, JobStatus.FAILED, err.message)
    finally:
        lease.release()
    status = JobStatus.PARTIAL if counters.failed else JobStatus.SUCCEEDED
    return _finish(deps, dataclasses.replace(job, counters=counters), status, message)


def _reconcile(deps: Deps, mapping: Mapping, job: Job, dry_run: bool, lease: _Lease) -> tuple[Counters, str]:
    couplings = list(deps.storage().couplings.iter_all(mapping.name))  # one partition scan
    erp = _everything(deps, mapping, Side.ERP, couplings)
    crm = _everything(deps, mapping, Side.CRM, couplings)
    counters = Counters()
    pairs = [c for c in couplings if c.erp_id in erp and c.crm_id in crm]
    gone = [c for c in couplings if c.erp_id not in erp or c.crm_id not in crm]
    lookups = {d: fill_lookups(deps, mapping, d, list(erp.values() if d is Direction.TO_CRM else crm.values()),
                                create=create_dependencies)
               for d in (Direction.TO_CRM, Direction.FROM_CRM) if mapping.direction.allows(d)}
    drifted: list[tuple[Coupling, PairCheck]] = []
    for c in pairs:
        check = check_pair(mapping, c, erp[c.erp_id], crm[c.crm_id], lookups, erp_watermark=lease.state.erp_watermark,
                           crm_watermark=lease.state.crm_watermark)
        if check.drifted:
            drifted.append((c, check))
        else:
            counters = counters.bump("unchanged")
    counters = counters.bump("drifted", len(drifted)).bump("failed", len(gone))
    if not dry_run:
        _report_gone(deps, mapping, job, gone, erp)
        counters += _repair(deps, mapping, job, drifted, erp, lease)
    return counters, (f"Compared {len(pairs)} coupled pairs: {len(drifted)} drifted, "
                      f"{len(gone)} coupled to a deleted record.")


def _report_gone(deps: Deps, mapping: Mapping, job: Job, gone: Sequence[Coupling], erp: MappingABC[str, Record]) -> None:
    now = deps.clock()
    rows = [SyncError(id=deps.new_id(), job_id=job.id, mapping=mapping.name, erp_id=c.erp_id, crm_id=c.crm_id,
                      direction=None, category=ErrorCategory.DELETED_COUNTERPART, detail=None, occurred_on=now,
                      message=f"The coupled {'CRM' if c.erp_id in erp else 'ERP'} record no longer exists.")
            for c in gone]
    if rows:
        deps.storage().errors.add_many(rows)


def _repair(deps: Deps, mapping: Mapping, job: Job, drifted: Sequence[tuple[Coupling, PairCheck]],
            erp: MappingABC[str, Record], lease: _Lease) -> Counters:
    """Re-plan the drifted pairs through sync_page (couplings read fresh from the store), toCrm first."""
    counters = Counters()
    failed: set[str] = set()
    for direction in (Direction.TO_CRM, Direction.FROM_CRM):
        for force in (False, True):
            group = [c for c, chk in drifted if direction in chk.directions and chk.force is force]
            for start in range(0, len(group), REPAIR_PAGE):
                chunk = group[start:start + REPAIR_PAGE]
                if direction is Direction.TO_CRM:
                    sources = [erp[c.erp_id] for c in chunk]  # nothing here writes the ERP before this
                else:  # re-read in bulk: the toCrm repairs may have written these rows
                    sources = list(read_records(deps, mapping, Side.CRM, [c.crm_id for c in chunk]).values())
                result = sync_page(deps, mapping, direction, sources, job_id=job.id, force=force)
                counters += result.counters
                failed.update(o.action.erp_id or "" for o in result.outcomes if o.error)
                lease.renew()
    return counters.bump("repaired", sum(1 for c, _ in drifted if c.erp_id not in failed))


class _Lease:
    """The mapping's lease (DESIGN decision 4), held for the whole reconcile so no run overlaps it."""

    def __init__(self, deps: Deps, mapping: str):
        self.deps, self.mapping = deps, mapping
        self.state = MappingState(mapping)

    def acquire(self, owner: str) -> bool:
        state = self.deps.storage().state.acquire_lease(self.mapping, owner, self.deps.clock(), RECONCILE_LEASE_S)
        if state is not None:
            self.state = state
        return state is not None

    def renew(self) -> None:
        self.state = self.deps.storage().state.renew_lease(self.state, self.deps.clock(), RECONCILE_LEASE_S)

    def release(self) -> None:
        try:
            self.state = self.deps.storage().state.release_lease(self.state)
        except StaleWrite:
            log.warning("mapping %s: the lease was taken over before reconcile released it", self.mapping)


def _finish(deps: Deps, job: Job, status: JobStatus, message: str | None) -> Job:
    return deps.storage().jobs.update(dataclasses.replace(job, status=status, finished_on=deps.clock(),
                                                          progress=1.0, message=message))
