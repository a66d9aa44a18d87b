"""Drift reconciliation (SPEC X9): `POST /mappings/{name}/reconcile {dryRun?}` → 202 job, and the weekly timer
that queues a reconcile of every mapping not paused. The worker runs them (message kind "reconcile")."""
from __future__ import annotations

import logging

import azure.functions as func

from core.commands import require_mapping_name
from core.sync.drift import queue_reconcile
from core.errors import Conflict
from functions.deps import deps
from functions.http import guarded, json_response, read_options
from functions.jobs import job_json
from core.sync.loading import load_mapping

__all__ = ["bp", "WEEKLY", "schedule_reconciles"]

log = logging.getLogger("koppel.reconcile")

bp = func.Blueprint()
WEEKLY = "0 0 3 * * 0"  # Sundays 03:00 UTC (NCRONTAB, seconds first)


@bp.route(route="mappings/{name}/reconcile", methods=["POST"])
def reconcile(req: func.HttpRequest) -> func.HttpResponse:
    def run() -> func.HttpResponse:
        name = require_mapping_name(req.route_params.get("name"), "name")
        data = read_options(req, set())
        dry_run = data["dryRun"]
        d = deps()
        mapping = load_mapping(d, name)
        if mapping.paused:
            raise Conflict(f"Mapping {name} is paused.", reason="paused")
        job = queue_reconcile(d, mapping, dry_run=dry_run)
        return json_response(job_json(job), 202, {"Location": f"/api/jobs/{job.id}"})

    return guarded(req, run)


def schedule_reconciles() -> list[str]:
    """Queue a reconcile of every mapping not paused; answer their names.

    The message id is the mapping and the day, so Service Bus duplicate detection drops a second send (two
    instances, a retried timer); the worker creates the job when the message arrives.
    """
    d = deps()
    day = d.clock().strftime("%Y%m%d")
    names = [m.name for m in d.storage().mappings.list() if not m.paused]
    for name in names:
        d.queue().send({"kind": "reconcile", "mapping": name}, message_id=f"reconcile-{name}-{day}")
    if names:
        log.info("scheduled reconciles of %s", ", ".join(names))
    return names


@bp.timer_trigger(schedule=WEEKLY, arg_name="timer", run_on_startup=False)
def weekly_reconcile(timer: func.TimerRequest) -> None:
    schedule_reconciles()
