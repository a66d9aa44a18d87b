"""Synchronize many records at once (F5): a background job over a list of ids in one direction.

Skipped, each counted and listed in the job: ids that are not coupled, couplings marked skipped, and
records whose destination changed since the last sync (no silent overwrite, SPEC §5.4). The rest is
written with the chosen direction through the page engine, in pages, so the cost per record stays bulk.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from core.commands import SyncCommand
from core.deps import Deps
from core.engine import read_records, sync_page
from core.errors import Conflict, InvalidInput, KoppelError
from core.fields import field_changes, side_of
from core.model import Counters, Coupling, Direction, Job, JobStatus, JobType, Mapping, Record, Side, SyncDirection
from core.plan import changed_sides

__all__ = ["MAX_IDS", "PAGE", "queue_sync_many", "run_sync_many"]

MAX_IDS = 5_000  # one Service Bus message (256 KB on Standard, api-facts §D) holds them with room to spare
PAGE = 1_000
MAX_LISTED = 200


def queue_sync_many(cmd: SyncCommand, deps: Deps) -> Job:
    """Create a QUEUED job for `cmd` and send it to the worker; answered at once (202).

    Raises:
        InvalidInput: `direction` is `auto` (many records need one direction) or too many ids.
        Conflict: the mapping does not allow the direction.
    """
    from core.coupling import load_mapping

    mapping = load_mapping(deps, cmd.mapping)
    field = "erpIds" if cmd.erp_ids else "crmIds"
    ids = cmd.erp_ids or cmd.crm_ids
    if cmd.direction is SyncDirection.AUTO:
        raise InvalidInput("direction", "Synchronizing several records needs one direction: toCrm or fromCrm.")
    if len(ids) > MAX_IDS:
        raise InvalidInput(field, f"At most {MAX_IDS} ids per request; split the list.")
    direction = Direction(cmd.direction.value)
    if not mapping.direction.allows(direction):
        raise Conflict(f"Mapping {mapping.name} synchronizes only {mapping.direction.value}.",
                       reason="directionNotAllowed", field="direction")
    job = deps.storage().jobs.create(Job(deps.new_id(), mapping.name, JobType.SYNC, direction, JobStatus.QUEUED,
                                         deps.clock(), dry_run=cmd.dry_run))
    deps.queue().send({"kind": "sync-ids", "jobId": job.id, "mapping": mapping.name, "side": field[:3],
                       "ids": list(ids), "direction": direction.value, "dryRun": cmd.dry_run},
                      message_id=f"sync-ids-{job.id}")
    return job


def _skip_reason(mapping: Mapping, coupling: Coupling | None, direction: Direction, source: Record | None,
                 dest: Record | None) -> str | None:
    if coupling is None:
        return "not coupled"
    if coupling.skipped:
        return "the coupling is marked skipped"
    if source is None:
        return "the source record no longer exists"
    if dest is None:
        return None  # a deleted destination is the deletion-conflict policy's to handle
    erp, crm = (source, dest) if direction is Direction.TO_CRM else (dest, source)
    changes = field_changes(mapping, coupling.field_hashes, erp.fields, crm.fields)
    erp_changed, crm_changed = changed_sides(coupling, erp.modified_on, crm.modified_on, changes)
    if crm_changed if direction is Direction.TO_CRM else erp_changed:
        return "the destination changed since the last synchronization"
    return None


def run_sync_many(deps: Deps, job_id: str, mapping_name: str, side: Side, ids: Sequence[str], direction: Direction,
                  *, dry_run: bool = False) -> Job:
    """Run a queued F5 job; a redelivered message finds the job finished and does nothing again."""
    from core.coupling import load_mapping

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
        src, dst = side_of(direction)
        for start in range(0, len(ids), PAGE):
            chunk = list(ids[start:start + PAGE])
            counters, lines = _run_page(deps, mapping, side, src, dst, chunk, direction, job_id, dry_run, counters)
            skipped_lines += lines
            job = jobs.update(dataclasses.replace(job, counters=counters, progress=min(1.0, (start + PAGE) / len(ids))))
        status = JobStatus.PARTIAL if counters.failed else JobStatus.SUCCEEDED
        message = _listing(skipped_lines)
    except KoppelError as err:
        status, message = JobStatus.FAILED, err.message
    return jobs.update(dataclasses.replace(job, status=status, finished_on=deps.clock(), counters=counters,
                                           progress=1.0, message=message))


def _run_page(deps: Deps, mapping: Mapping, side: Side, src: Side, dst: Side, ids: list[str], direction: Direction,
              job_id: str, dry_run: bool, counters: Counters) -> tuple[Counters, list[str]]:
    store = deps.storage().couplings
    by_given = store.find_by_erp(mapping.name, ids) if side is Side.ERP else store.find_by_crm(mapping.name, ids)
    source_ids = [(c.erp_id if src is Side.ERP else c.crm_id) for c in by_given.values()]
    sources = read_records(deps, mapping, src, source_ids)
    dests = read_records(deps, mapping, dst, [(c.crm_id if dst is Side.CRM else c.erp_id) for c in by_given.values()])
    lines, to_sync = [], []
    for given in ids:
        coupling = by_given.get(given)
        source = sources.get((coupling.erp_id if src is Side.ERP else coupling.crm_id)) if coupling else None
        dest = dests.get((coupling.crm_id if dst is Side.CRM else coupling.erp_id)) if coupling else None
        reason = _skip_reason(mapping, coupling, direction, source, dest)
        if reason is not None:
            counters = counters.bump("skipped")
            lines.append(f"{given}: {reason}")
        else:
            assert source is not None
            to_sync.append(source)
    if to_sync:
        result = sync_page(deps, mapping, direction, to_sync, job_id=job_id, force=True, dry_run=dry_run)
        counters = counters + result.counters
    return counters, lines


def _listing(lines: list[str]) -> str | None:
    if not lines:
        return None
    shown = lines[:MAX_LISTED]
    more = f"\n… and {len(lines) - MAX_LISTED} more" if len(lines) > MAX_LISTED else ""
    return "Skipped:\n" + "\n".join(shown) + more
