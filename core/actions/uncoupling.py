"""Uncouple many records, or every coupling of a mapping (F6). Uncoupling never deletes a record.

A short list is removed inline (entity-group transactions of ≤ 50 couplings); a long list, or a whole
mapping, runs as a background job of type uncoupling whose `uncoupled` counter says how many went.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from core.deps import Deps
from core.errors import KoppelError
from core.model import Counters, Job, JobStatus, JobType
from core.sync.loading import load_mapping

__all__ = ["INLINE_LIMIT", "uncouple_many", "queue_uncouple_all", "run_uncoupling"]

INLINE_LIMIT = 1_000


def _queue(deps: Deps, mapping: str, erp_ids: Sequence[str] | None) -> Job:
    job = deps.storage().jobs.create(Job(deps.new_id(), mapping, JobType.UNCOUPLING, None, JobStatus.QUEUED,
                                         deps.clock()))
    body: dict[str, object] = {"kind": "uncouple", "jobId": job.id, "mapping": mapping}
    if erp_ids is not None:
        body["erpIds"] = list(erp_ids)
    deps.queue().send(body, message_id=f"uncouple-{job.id}")
    return job


def uncouple_many(mapping_name: str, erp_ids: Sequence[str], deps: Deps) -> int | Job:
    """Uncouple the given ERP ids: inline (answers how many) up to INLINE_LIMIT, else as a queued job."""
    mapping = load_mapping(deps, mapping_name)
    if len(erp_ids) > INLINE_LIMIT:
        return _queue(deps, mapping.name, erp_ids)
    removed = deps.storage().couplings.uncouple_many(mapping.name, erp_ids)
    for erp_id in erp_ids:
        deps.storage().errors.delete_for_coupling(mapping.name, erp_id)
    return removed


def queue_uncouple_all(mapping_name: str, deps: Deps) -> Job:
    """Queue the removal of every coupling of a mapping (answered at once, 202)."""
    return _queue(deps, load_mapping(deps, mapping_name).name, None)


def run_uncoupling(deps: Deps, job_id: str, mapping: str, erp_ids: Sequence[str] | None) -> Job:
    """Run a queued uncoupling job; a redelivered message finds it finished and does nothing again."""
    jobs = deps.storage().jobs
    job = jobs.get(job_id)
    if job.status in (JobStatus.SUCCEEDED, JobStatus.PARTIAL, JobStatus.FAILED):
        return job
    job = jobs.update(dataclasses.replace(job, status=JobStatus.RUNNING, started_on=deps.clock()))
    couplings = deps.storage().couplings
    try:
        removed = couplings.uncouple_all(mapping) if erp_ids is None else couplings.uncouple_many(mapping, erp_ids)
        status, message = JobStatus.SUCCEEDED, None
    except KoppelError as err:
        removed, status, message = 0, JobStatus.FAILED, err.message
    return jobs.update(dataclasses.replace(job, status=status, finished_on=deps.clock(), progress=1.0,
                                           counters=Counters(uncoupled=removed), message=message))
