"""Synchronize now (F3) and synchronize many (F5): one record inline under its lock, several as a background job.

Both run through the page engine, so a record gets exactly the rules a scheduled run would apply.
"""
from __future__ import annotations

from core.commands import SyncCommand
from core.deps import Deps
from core.errors import Conflict, InvalidInput, NotFound
from core.model import Direction, Job, JobStatus, JobType, Side, SyncDirection
from core.sync.loading import load_mapping
from core.sync.record import SyncOutcome, sync_one
from core.sync.record_lock import one_at_a_time

__all__ = ["MAX_IDS", "sync_records", "queue_sync_many"]

MAX_IDS = 5_000  # one Service Bus message (256 KB on Standard, api-facts §D) holds them with room to spare


def sync_records(cmd: SyncCommand, deps: Deps) -> SyncOutcome | Job:
    """F3: synchronize one coupled record now, with `auto`, `toCrm` or `fromCrm`; several ids (F5) become a
    background job, answered at once.

    Raises:
        NotFound: the mapping, the record or its coupling does not exist.
        Conflict: the direction is not allowed by the mapping (directionNotAllowed), the mapping is paused,
            or both sides changed the same field (updateConflict; an error row is written too).
    """
    mapping = load_mapping(deps, cmd.mapping)
    ids = cmd.erp_ids or cmd.crm_ids
    if len(ids) > 1:
        return queue_sync_many(cmd, deps)
    if mapping.paused:
        raise Conflict(f"Mapping {mapping.name} is paused.", reason="paused")
    store = deps.storage().couplings
    field = "erpIds" if cmd.erp_ids else "crmIds"
    coupling = store.erp_to_crm(mapping.name, ids[0]) if cmd.erp_ids else store.crm_to_erp(mapping.name, ids[0])
    if coupling is None:
        raise NotFound(f"Record {ids[0]} is not coupled in mapping {mapping.name}; set up a coupling first.",
                       field=f"{field}[0]")
    if cmd.direction is not SyncDirection.AUTO and not mapping.direction.allows(Direction(cmd.direction.value)):
        raise Conflict(f"Mapping {mapping.name} synchronizes only {mapping.direction.value}; "
                       f"it cannot synchronize {cmd.direction.value}.", reason="directionNotAllowed", field="direction")
    if cmd.dry_run:
        return sync_one(deps, mapping, coupling, cmd.direction, dry_run=True)
    with one_at_a_time(deps, mapping.name, Side.ERP, coupling.erp_id):
        # Read again under the lock: the caller before us may have moved it on.
        current = store.erp_to_crm(mapping.name, coupling.erp_id)
        if current is None:
            raise NotFound(f"Record {ids[0]} is not coupled in mapping {mapping.name} any more.", field=f"{field}[0]")
        return sync_one(deps, mapping, current, cmd.direction, dry_run=False)


def queue_sync_many(cmd: SyncCommand, deps: Deps) -> Job:
    """Create a QUEUED job for `cmd` and send it to the worker; answered at once (202).

    Raises:
        InvalidInput: too many ids.
        Conflict: the mapping does not allow the direction.
    """
    mapping = load_mapping(deps, cmd.mapping)
    field = "erpIds" if cmd.erp_ids else "crmIds"
    ids = cmd.erp_ids or cmd.crm_ids
    if len(ids) > MAX_IDS:
        raise InvalidInput(field, f"At most {MAX_IDS} ids per request; split the list.")
    # auto (F3's rule, record by record): the job has no one direction.
    direction = None if cmd.direction is SyncDirection.AUTO else Direction(cmd.direction.value)
    if direction is not None and not mapping.direction.allows(direction):
        raise Conflict(f"Mapping {mapping.name} synchronizes only {mapping.direction.value}.",
                       reason="directionNotAllowed", field="direction")
    job = deps.storage().jobs.create(Job(deps.new_id(), mapping.name, JobType.SYNC, direction, JobStatus.QUEUED,
                                         deps.clock(), dry_run=cmd.dry_run))
    deps.queue().send({"kind": "sync-ids", "jobId": job.id, "mapping": mapping.name, "side": field[:3],
                       "ids": list(ids), "direction": direction.value if direction else "auto", "dryRun": cmd.dry_run},
                      message_id=f"sync-ids-{job.id}")
    return job
