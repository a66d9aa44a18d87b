"""Jobs whose worker died (issue 8: no job unfinished forever): a RUNNING job nobody has written for longer than a
function may run cannot be running any more (the host stops a function at functionTimeout), so it is ended FAILED
with the reason. Nothing is lost: a pass moves its watermarks only after its pages landed, so the next run reads
what the dead one did not finish, and adoption couples what it created (core.sync.adoption)."""
from __future__ import annotations

import dataclasses
import datetime as dt
import logging

from core.deps import Deps
from core.errors import StaleWrite
from core.model import Job, JobStatus

__all__ = ["FUNCTION_TIMEOUT", "fail_dead_jobs"]

log = logging.getLogger("koppel.dead_jobs")

FUNCTION_TIMEOUT = dt.timedelta(minutes=30)  # host.json functionTimeout (a unit test keeps the two equal)


def fail_dead_jobs(deps: Deps) -> list[Job]:
    """End every RUNNING job unchanged for longer than FUNCTION_TIMEOUT as FAILED, saying why; answer them."""
    now = deps.clock()
    jobs = deps.storage().jobs
    ended = []
    for job in jobs.running_before(now - FUNCTION_TIMEOUT):
        message = (f"Stopped: the worker running this job stopped without finishing it (no progress for over "
                   f"{int(FUNCTION_TIMEOUT.total_seconds() // 60)} minutes). Nothing it wrote is lost; the next run "
                   "continues where it stopped.")
        try:
            ended.append(jobs.update(dataclasses.replace(job, status=JobStatus.FAILED, finished_on=now,
                                                         message=message)))
        except StaleWrite:  # it wrote meanwhile: alive after all
            continue
        log.warning("job %s of mapping %s: its worker died; ended failed", job.id, job.mapping)
    return ended
