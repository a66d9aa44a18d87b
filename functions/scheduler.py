"""The scheduler (F8): every minute, queue one run message per due mapping; the worker runs them."""
from __future__ import annotations

import logging

import azure.functions as func

from core.sync.dead_jobs import fail_dead_jobs
from core.sync.passes import due_mappings
from functions.deps import deps

__all__ = ["bp", "schedule_runs", "dead_job_sweeper"]

log = logging.getLogger("koppel.scheduler")

bp = func.Blueprint()


def schedule_runs() -> list[str]:
    """Send a run message for every due mapping; answer their names.

    The message id is the mapping and the minute, so Service Bus duplicate detection drops a second
    send in the same minute (two scheduler instances, or a retried timer), and the lease does the rest.
    """
    d = deps()
    now = d.clock()
    minute = now.strftime("%Y%m%dT%H%M")
    names = due_mappings(d, now)
    for name in names:
        d.queue().send({"kind": "run", "mapping": name}, message_id=f"run-{name}-{minute}")
    if names:
        log.info("scheduled runs of %s", ", ".join(names))
    return names


@bp.timer_trigger(schedule="0 */1 * * * *", arg_name="timer", run_on_startup=False)
def scheduler(timer: func.TimerRequest) -> None:
    schedule_runs()


@bp.timer_trigger(schedule="0 */5 * * * *", arg_name="timer", run_on_startup=True)
def dead_job_sweeper(timer: func.TimerRequest) -> None:
    """Every five minutes: end the jobs whose worker died (core.sync.dead_jobs)."""
    fail_dead_jobs(deps())
