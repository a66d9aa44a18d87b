"""Scheduled synchronization runs (SPEC F8, F11, X4, X5): one run of a mapping is one pass per direction.

A run holds the mapping's lease (DESIGN decision 4), so two runs of one mapping never overlap. Each pass
first retries the couplings whose last write failed, then reads the source records changed since the side's
watermark page by page through `core.sync.engine.sync_page`, and finally moves the watermark (core/rules/watermark.py).
"""
from __future__ import annotations

import datetime as dt
import logging
import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from core.sync.circuit import pause_state, trip_after_pass
from core.deps import Deps
from core.sync.engine import PageResult, category_of, sync_page
from core.errors import Conflict, KoppelError, NotFound, Retriable, StaleWrite
from core.rules.fields import side_of
from core.model import (
    Counters, Direction, Job, JobStatus, JobType, Mapping, Record, Schedule, Side, SyncError,
)
from core.rules.plan import ActionKind
from core.store.coupling_snapshot import CouplingSnapshot
from core.store.couplings import SCAN_ABOVE
from core.store.state import MappingState
from core.rules.watermark import Watermark
from core.sync.loading import load_mapping, read_records

__all__ = ["LEASE_S", "RETRY_PAGE", "Mode", "run_mapping", "due_mappings", "is_due", "next_run", "directions_of",
           "queue_sync_jobs", "LeaseLost"]

log = logging.getLogger("koppel.passes")

Mode = Literal["incremental", "full"]
LEASE_S = 120.0  # renewed after every page; a crashed run blocks the mapping for at most this long
DEFER_MIN_S = 2.0  # a refused run tries again after the other lease ends, at least this late
DEFER_FOR = dt.timedelta(hours=1)  # ... and fails when the other run has outlasted this
RETRY_PAGE = 1000  # failed couplings retried per sync_page call
MAX_BOUNDARY_IDS = 500
_FINISHED = (JobStatus.SUCCEEDED, JobStatus.PARTIAL, JobStatus.FAILED)


class LeaseLost(KoppelError):
    """The run's lease was taken over (it expired while a page ran): the run stops at once."""


def next_run(schedule: Schedule, now: dt.datetime, changed: bool) -> tuple[dt.datetime, bool]:
    """When the mapping runs next and whether it is idle: a run that changed nothing backs off to the
    inactivity timeout (F8), any change brings it back to the interval. Returns (next_run_on, idle)."""
    if changed:
        return now + dt.timedelta(minutes=schedule.interval_min), False
    return now + dt.timedelta(minutes=schedule.inactivity_timeout_min), True


def is_due(mapping: Mapping, state: MappingState | None, now: dt.datetime) -> bool:
    """Not paused, and never run or its next run time has come."""
    if mapping.paused:
        return False
    return state is None or state.next_run_on is None or state.next_run_on <= now


def due_mappings(deps: Deps, now: dt.datetime) -> list[str]:
    """The mappings whose scheduled run is due at `now`, in the stored (dependency) order."""
    storage = deps.storage()
    states = {s.mapping: s for s in storage.state.list()}
    return [m.name for m in storage.mappings.list() if is_due(m, states.get(m.name), now)]


def directions_of(mapping: Mapping) -> tuple[Direction, ...]:
    """The passes of one run: toCrm then fromCrm, as the mapping's direction allows."""
    return tuple(d for d in (Direction.TO_CRM, Direction.FROM_CRM) if mapping.direction.allows(d))


def queue_sync_jobs(deps: Deps, mapping: Mapping, *, dry_run: bool) -> list[Job]:
    """Create one QUEUED job per pass of a run a person asked for (its ids are answered at once)."""
    now = deps.clock()
    return [deps.storage().jobs.create(Job(deps.new_id(), mapping.name, JobType.SYNC, d, JobStatus.QUEUED, now,
                                           dry_run=dry_run)) for d in directions_of(mapping)]


@dataclass
class _Run:
    """What one run carries from pass to pass: the lease-holding state row and its options."""

    deps: Deps
    mapping: Mapping
    state: MappingState
    dry_run: bool
    mode: Mode
    changed: bool = False
    jobs: list[Job] = field(default_factory=list)
    failure: KoppelError | None = None  # what failed the last pass as a whole (X12 breaker)
    unreachable: bool = False  # the last pass's first page already failed after the clients' retries

    def renew(self) -> None:
        try:
            self.state = self.deps.storage().state.renew_lease(self.state, self.deps.clock(), LEASE_S)
        except StaleWrite as err:
            raise LeaseLost(f"Mapping {self.mapping.name}: the run lost its lease; another run took over.") from err


def run_mapping(deps: Deps, mapping_name: str, *, owner: str, dry_run: bool = False, mode: Mode = "incremental",
                job_ids: Sequence[str] = (), defer: bool = False, deferred_since: dt.datetime | None = None) -> list[Job]:
    """Run one synchronization of a mapping: a pass per allowed direction, toCrm first.

    Args:
        deps: clients and stores.
        mapping_name: the mapping.
        owner: who runs it (unique per run attempt): the lease is held under this name.
        dry_run: plan only (X5): nothing is written to either side or to couplings and watermarks.
        mode: "incremental" reads changes since the watermarks; "full" reads everything and overwrites (F13).
        job_ids: QUEUED jobs made by `queue_sync_jobs`, used for the passes in order. While another run holds
            the lease they stay QUEUED and, with `defer`, the run is sent again for when that lease ends.
        defer: a run refused by another run's lease is sent again for later (`_defer`); else its jobs fail
            (a full sync, whose later steps depend on this one finishing now).
        deferred_since: when this run was first refused the lease (a deferred message carries it).

    Returns:
        The finished jobs, one per pass; [] when another run holds the lease or the queued jobs already ran
        (a redelivered message).
    """
    storage = deps.storage()
    queued = [_existing(deps, i) for i in job_ids]
    if queued and all(j is None or j.status in _FINISHED for j in queued):
        return []
    mapping = load_mapping(deps, mapping_name)
    if mapping.paused:
        _skip_paused(deps, mapping, queued)
        return []
    state = storage.state.acquire_lease(mapping.name, owner, deps.clock(), LEASE_S)
    if state is None:
        log.info("mapping %s: another run holds the lease; %s %s", mapping.name, owner,
                 "waits for it" if defer else "does nothing")
        if defer:
            _defer(deps, mapping, queued, mode=mode, dry_run=dry_run, since=deferred_since)
            return []
        for job in queued:
            if job is not None and job.status is JobStatus.QUEUED:
                _finish(deps, job, JobStatus.FAILED, f"Another run of mapping {mapping.name} was in progress.")
        return []
    run = _Run(deps, mapping, state, dry_run, mode)
    try:
        for i, direction in enumerate(directions_of(mapping)):
            job = queued[i] if i < len(queued) else None
            if job is not None and job.status in _FINISHED:  # a redelivery: this pass already ran to its end
                run.jobs.append(job)
                continue
            run.failure, run.unreachable = None, False
            run.jobs.append(_run_pass(run, direction, job))
            if not dry_run and _trip_breaker(run):
                break
            if run.jobs[-1].status is JobStatus.FAILED:
                break
    finally:
        _release(run)
    return run.jobs


def _defer(deps: Deps, mapping: Mapping, queued: Sequence[Job | None], *, mode: Mode, dry_run: bool,
           since: dt.datetime | None) -> None:
    """Another run holds the lease: a run a person is waiting for (queued jobs) is sent again for when that lease
    ends, its jobs left QUEUED and saying so, and fails only when the other run outlasts DEFER_FOR. A run nobody
    waits for (the timer, a notification) does nothing: the run in progress or the next one picks its changes up."""
    waiting = [j for j in queued if j is not None and j.status is JobStatus.QUEUED]
    if not waiting:
        return
    now = deps.clock()
    since = since or now
    if now - since > DEFER_FOR:
        for job in waiting:
            _finish(deps, job, JobStatus.FAILED, f"Another run of mapping {mapping.name} was in progress for longer "
                                                 f"than {int(DEFER_FOR.total_seconds() // 60)} minutes; run it again.")
        return
    held = deps.storage().state.get(mapping.name).lease_until
    remaining = (held - now).total_seconds() if held else 0.0
    wait = min(LEASE_S, max(DEFER_MIN_S, remaining)) + random.uniform(0, DEFER_MIN_S)  # jitter: waiters spread out
    body = {"kind": "run", "mapping": mapping.name, "mode": mode, "dryRun": dry_run,
            "jobIds": [j.id for j in queued if j is not None], "deferredSince": since.isoformat()}
    deps.queue().send(body, message_id=f"run-{waiting[0].id}-deferred-{deps.new_id()}", delay_s=wait)
    jobs = deps.storage().jobs
    for job in waiting:
        jobs.update(replace(job, message=f"Waiting for the run of mapping {mapping.name} in progress; "
                                         f"tries again in {round(wait)} s."))


def _skip_paused(deps: Deps, mapping: Mapping, queued: Sequence[Job | None]) -> None:
    """X12: a paused mapping's queued run does no work; its jobs say why."""
    reason = pause_state(deps, mapping.name).reason
    message = f"Mapping {mapping.name} is paused" + (f": {reason}" if reason else ".")
    log.info("mapping %s is paused; the run does nothing", mapping.name)
    for job in queued:
        if job is not None and job.status is JobStatus.QUEUED:
            _finish(deps, job, JobStatus.FAILED, message)


def _trip_breaker(run: _Run) -> bool:
    """X12: after a pass, let the circuit breaker pause the mapping; True when it did (the run stops)."""
    try:
        return trip_after_pass(run.deps, run.mapping.name, run.failure, side_unreachable=run.unreachable,
                               job=run.jobs[-1]) is not None
    except KoppelError as err:  # the breaker's own storage trouble must not fail the run
        log.warning("mapping %s: the circuit breaker could not decide: %s", run.mapping.name, err.message)
        return False


def _existing(deps: Deps, job_id: str) -> Job | None:
    try:
        return deps.storage().jobs.get(job_id)
    except NotFound:
        return None


def _release(run: _Run) -> None:
    now = run.deps.clock()
    state = run.state
    if not run.dry_run and run.jobs:
        upcoming, idle = next_run(run.mapping.schedule, now, run.changed)
        state = replace(state, last_run_on=now, next_run_on=upcoming, idle=idle)
    try:
        run.state = run.deps.storage().state.release_lease(state)
    except StaleWrite:
        log.warning("mapping %s: the lease was taken over before the run released it", run.mapping.name)


def _finish(deps: Deps, job: Job, status: JobStatus, message: str | None = None) -> Job:
    done = replace(job, status=status, finished_on=deps.clock(), message=message,
                   progress=1.0 if status is not JobStatus.FAILED else job.progress)
    return deps.storage().jobs.update(done)


def _start_job(run: _Run, direction: Direction, queued: Job | None) -> Job:
    jobs = run.deps.storage().jobs
    if queued is not None:
        # F11: a pass starts when it starts, not when its run was queued (the second pass starts after the first).
        return jobs.update(replace(queued, status=JobStatus.RUNNING, direction=direction,
                                   started_on=run.deps.clock(), message=None))
    job = Job(run.deps.new_id(), run.mapping.name, JobType.SYNC, direction, JobStatus.RUNNING, run.deps.clock(),
              dry_run=run.dry_run)
    try:
        return jobs.create(job)
    except Conflict:  # pragma: no cover - ids are fresh guids
        return jobs.get(job.id)


def _watermark(state: MappingState, side: Side) -> Watermark:
    if side is Side.ERP:
        return Watermark(state.erp_watermark, frozenset(state.erp_boundary_ids))
    return Watermark(state.crm_watermark, frozenset(state.crm_boundary_ids))


def _with_watermark(state: MappingState, side: Side, wm: Watermark) -> MappingState:
    # Boundary ids only keep re-planned, already-applied records out of the counters (records at the watermark
    # are always re-planned), so past a bound they are dropped: a table property holds at most 64 KiB.
    ids = tuple(sorted(wm.boundary_ids)) if len(wm.boundary_ids) <= MAX_BOUNDARY_IDS else ()
    if side is Side.ERP:
        return replace(state, erp_watermark=wm.value, erp_boundary_ids=ids)
    return replace(state, crm_watermark=wm.value, crm_boundary_ids=ids)


def _changed_pages(deps: Deps, mapping: Mapping, side: Side, since: dt.datetime | None) -> Iterator[list[Record]]:
    fields = mapping.source_fields(side)
    if side is Side.ERP:
        return deps.erp().read_changed_since(mapping.erp_entity, since, fields, mapping.erp_filter)
    return deps.crm().read_changed_since(mapping.crm_entity, mapping.crm_id_field, since, fields, mapping.crm_filter)


def _chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _work_counters(result: PageResult, at_boundary: set[str], src: Side) -> Counters:
    """The page's counters, without the boundary records a previous pass already applied and that are
    still unchanged: re-planning them is the tie-safe read's cost, not work."""
    counters = result.counters
    for o in result.outcomes:
        sid = o.action.erp_id if src is Side.ERP else o.action.crm_id
        if sid in at_boundary and o.error is None and o.action.kind is ActionKind.UNCHANGED:
            counters = counters.bump("unchanged", -1)
    return counters


def _throttled_rows(run: _Run, direction: Direction, records: Iterable[Record], src: Side, job: Job,
                    err: KoppelError) -> None:
    """X4: a page that still failed after the clients' own retries gets error rows (throttled/transient);
    its records are read again next run because the watermark stays before them."""
    if run.dry_run:
        return
    now = run.deps.clock()
    rows = [SyncError(id=run.deps.new_id(), job_id=job.id, mapping=run.mapping.name,
                      erp_id=r.id if src is Side.ERP else None, crm_id=r.id if src is Side.CRM else None,
                      direction=direction, category=category_of(err), message=err.message, detail=None,
                      occurred_on=now) for r in records]
    if rows:
        run.deps.storage().errors.add_many(rows)


def _snapshot_for(deps: Deps, mapping: Mapping, page_size: int,
                  snapshot: CouplingSnapshot | None) -> CouplingSnapshot | None:
    """The pass's coupling snapshot, read once when a page first needs more than the targeted queries serve
    cheaply (SCAN_ABOVE ids): then one partition scan per pass replaces one per page. Small passes never read it."""
    if snapshot is None and page_size > SCAN_ABOVE:
        return deps.storage().couplings.snapshot(mapping.name)
    return snapshot


def _run_pass(run: _Run, direction: Direction, queued: Job | None) -> Job:
    deps, mapping = run.deps, run.mapping
    src, dst = side_of(direction)
    job = _start_job(run, direction, queued)
    pass_start = deps.clock()  # frozen before the first read: the watermark never passes it
    force = run.mode == "full"
    if force:
        mapping = replace(mapping, sync_only_coupled=False)
    counters = Counters()
    done: set[str] = set()
    seen: list[tuple[str, dt.datetime]] = []
    old = _watermark(run.state, src)
    since = None if force else old.value
    message: str | None = None
    snapshot: CouplingSnapshot | None = None
    try:
        # F8: couplings whose last write failed (and are not skipped) are retried first.
        failed = [c.erp_id if src is Side.ERP else c.crm_id
                  for c in deps.storage().couplings.iter_failed(mapping.name, dst)]
        for ids in _chunks(failed, RETRY_PAGE):
            sources = list(read_records(deps, mapping, src, ids).values())
            snapshot = _snapshot_for(deps, mapping, len(sources), snapshot)
            result = sync_page(deps, mapping, direction, sources, job_id=job.id, force=force, dry_run=run.dry_run,
                               couplings=snapshot)
            counters += result.counters
            done.update(r.id for r in sources)
            run.renew()
        for page in _changed_pages(deps, mapping, src, since):
            todo = [r for r in page if r.id not in done]
            # Tie rule: records at the old watermark are re-planned, never skipped blindly (an edit in the same
            # second as our last write must not be lost); the hashes make the applied ones UNCHANGED.
            boundary = {r.id for r in todo if old.is_applied(r.id, r.modified_on)}
            try:
                snapshot = _snapshot_for(deps, mapping, len(todo), snapshot)
                result = sync_page(deps, mapping, direction, todo, job_id=job.id, force=force, dry_run=run.dry_run,
                                   couplings=snapshot)
            except Retriable as err:
                _throttled_rows(run, direction, todo, src, job, err)
                run.unreachable = not seen
                counters = counters.bump("failed", len(todo))
                message = f"Stopped early: {err.message} The remaining records are read again next run."
                break
            counters += _work_counters(result, boundary, src)
            seen.extend((r.id, r.modified_on) for r in page)
            job = deps.storage().jobs.update(replace(job, counters=counters,
                                                     progress=_progress(since, seen, pass_start)))
            run.renew()
        if not run.dry_run:
            run.state = deps.storage().state.save(
                _with_watermark(run.state, src, old.advance(seen, pass_start=pass_start)))
    except LeaseLost as err:
        return _finish(deps, replace(job, counters=counters), JobStatus.FAILED, err.message)
    except KoppelError as err:
        log.warning("mapping %s %s pass failed: %s", mapping.name, direction.value, err.message)
        run.failure = err
        return _finish(deps, replace(job, counters=counters), JobStatus.FAILED, err.message)
    except Exception:
        _finish(deps, replace(job, counters=counters), JobStatus.FAILED, "Koppel failed inside; the error is logged.")
        raise
    run.changed = run.changed or any(
        getattr(counters, n) for n in ("inserted", "modified", "deleted", "coupled", "uncoupled", "failed"))
    status = JobStatus.PARTIAL if counters.failed or message else JobStatus.SUCCEEDED
    return _finish(deps, replace(job, counters=counters), status, message)


def _progress(since: dt.datetime | None, seen: Sequence[tuple[str, dt.datetime]], pass_start: dt.datetime) -> float:
    """How far the pass is through its time range: pages come oldest first, so this only grows."""
    if not seen or since is None or pass_start <= since:
        return 0.0
    latest = seen[-1][1]
    return max(0.0, min(0.99, (latest - since) / (pass_start - since)))
