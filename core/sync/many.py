"""Synchronize many records at once (F5): a background job over a list of ids in one direction.

Skipped, each counted and listed in the job: ids that are not coupled, couplings marked skipped, and
records whose destination changed since the last sync (no silent overwrite, SPEC §5.4). The rest is
written with the chosen direction through the page engine, in pages, so the cost per record stays bulk.
"""
from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Sequence

from core.deps import Deps
from core.sync.engine import sync_page
from core.sync.loading import load_mapping, read_records
from core.errors import Conflict, KoppelError
from core.rules.fields import side_of
from core.model import Counters, Coupling, Direction, Job, JobStatus, Mapping, Record, Side
from core.rules.plan import DESTINATION_CHANGED, ActionKind, auto_direction

__all__ = ["PAGE", "run_sync_many"]

PAGE = 1_000
MAX_LISTED = 200


def _skip_reason(coupling: Coupling | None, source: Record | None) -> str | None:
    """Why a given id is not synchronized before anything is planned (a changed destination is the engine's
    to see, on the destination as read for the write: `sync_page(keep_changed=True)`)."""
    if coupling is None:
        return "not coupled"
    if coupling.skipped:
        return "the coupling is marked skipped"
    if source is None:
        return "the source record no longer exists"
    return None


def run_sync_many(deps: Deps, job_id: str, mapping_name: str, side: Side, ids: Sequence[str],
                  direction: Direction | None, *, dry_run: bool = False) -> Job:
    """Run a queued F5 job (`direction` None: auto, per record); a redelivered message finds the job finished and
    does nothing again."""
    jobs = deps.storage().jobs
    job = jobs.get(job_id)
    if job.status in (JobStatus.SUCCEEDED, JobStatus.PARTIAL, JobStatus.FAILED):
        return job
    job = jobs.update(dataclasses.replace(job, status=JobStatus.RUNNING, started_on=deps.clock()))
    counters, skipped_lines = Counters(), []
    try:
        mapping = load_mapping(deps, mapping_name)
        if mapping.paused:
            raise Conflict(f"Mapping {mapping.name} is paused; resume it and synchronize again.", reason="paused")
        for start in range(0, len(ids), PAGE):
            chunk = list(ids[start:start + PAGE])
            if direction is None:
                counters, lines = _run_auto_page(deps, mapping, side, chunk, job_id, dry_run, counters)
            else:
                counters, lines = _run_page(deps, mapping, side, side_of(direction)[0], chunk, direction, job_id,
                                            dry_run, counters)
            skipped_lines += lines
            job = jobs.update(dataclasses.replace(job, counters=counters, progress=min(1.0, (start + PAGE) / len(ids))))
        status = JobStatus.PARTIAL if counters.failed else JobStatus.SUCCEEDED
        message = _listing(skipped_lines)
    except KoppelError as err:
        status, message = JobStatus.FAILED, err.message
    return jobs.update(dataclasses.replace(job, status=status, finished_on=deps.clock(), counters=counters,
                                           progress=1.0, message=message))


def _run_page(deps: Deps, mapping: Mapping, side: Side, src: Side, ids: list[str], direction: Direction,
              job_id: str, dry_run: bool, counters: Counters) -> tuple[Counters, list[str]]:
    store = deps.storage().couplings
    by_given = store.find_by_erp(mapping.name, ids) if side is Side.ERP else store.find_by_crm(mapping.name, ids)
    sources = read_records(deps, mapping, src, [(c.erp_id if src is Side.ERP else c.crm_id) for c in by_given.values()])
    lines, to_sync, given_of = [], [], {}
    for given in ids:
        coupling = by_given.get(given)
        source = sources.get((coupling.erp_id if src is Side.ERP else coupling.crm_id)) if coupling else None
        reason = _skip_reason(coupling, source)
        if reason is not None:
            counters = counters.bump("skipped")
            lines.append(f"{given}: {reason}")
        else:
            assert source is not None
            to_sync.append(source)
            given_of[source.id] = given
    if to_sync:
        # Forced in the chosen direction, but never over a destination changed since the last sync (SPEC §5.4).
        result = sync_page(deps, mapping, direction, to_sync, job_id=job_id, force=True, dry_run=dry_run,
                           keep_changed=True)
        counters = counters + result.counters
        for o in result.outcomes:
            if o.action.kind is ActionKind.SKIP and o.action.reason == DESTINATION_CHANGED:
                sid = o.action.erp_id if src is Side.ERP else o.action.crm_id
                lines.append(f"{given_of.get(sid or '', sid)}: {DESTINATION_CHANGED}")
    return counters, lines


def _run_auto_page(deps: Deps, mapping: Mapping, side: Side, ids: list[str], job_id: str, dry_run: bool,
                   counters: Counters) -> tuple[Counters, list[str]]:
    """`direction: auto` for many records: each goes the way F3 would send it (only ERP changed → toCrm, only
    CRM → fromCrm, both → both passes with the conflict rules, a deleted counterpart → the survivor's policy)."""
    store = deps.storage().couplings
    by_given = store.find_by_erp(mapping.name, ids) if side is Side.ERP else store.find_by_crm(mapping.name, ids)
    erp = read_records(deps, mapping, Side.ERP, [c.erp_id for c in by_given.values()])
    crm = read_records(deps, mapping, Side.CRM, [c.crm_id for c in by_given.values()])
    groups: dict[tuple[Direction, bool], list[Record]] = defaultdict(list)  # (direction, forced) → sources
    lines: list[str] = []
    for given in ids:
        coupling = by_given.get(given)
        e, r = (erp.get(coupling.erp_id), crm.get(coupling.crm_id)) if coupling else (None, None)
        reason = _skip_reason(coupling, e or r) or ("both records were deleted" if e is None and r is None else None)
        if reason is not None:
            counters = counters.bump("skipped")
            lines.append(f"{given}: {reason}")
            continue
        assert coupling is not None
        if e is None or r is None:  # the survivor's pass applies the deletion-conflict policy (forced to plan)
            survivor = r if e is None else e
            assert survivor is not None
            groups[(Direction.FROM_CRM if e is None else Direction.TO_CRM, True)].append(survivor)
            continue
        answer = auto_direction(mapping, e, r, coupling)
        if isinstance(answer, KoppelError):
            groups[(Direction.TO_CRM, False)].append(e)  # planned again there, it is recorded as the conflict
            continue
        if not answer:
            counters = counters.bump("unchanged")
        for d in answer:
            groups[(d, False)].append(e if d is Direction.TO_CRM else r)
    for (d, forced), sources in sorted(groups.items(), key=lambda kv: (kv[0][0] is Direction.FROM_CRM, kv[0][1])):
        if mapping.direction.allows(d):
            counters += sync_page(deps, mapping, d, sources, job_id=job_id, force=forced, dry_run=dry_run).counters
    return counters, lines


def _listing(lines: list[str]) -> str | None:
    if not lines:
        return None
    shown = lines[:MAX_LISTED]
    more = f"\n… and {len(lines) - MAX_LISTED} more" if len(lines) > MAX_LISTED else ""
    return "Skipped:\n" + "\n".join(shown) + more
