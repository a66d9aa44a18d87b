"""The synchronization log over HTTP (F11): jobs newest first, and one job with its counters and error rows."""
from __future__ import annotations

import datetime as dt
from typing import Any

import azure.functions as func

from core.commands import require_guid, require_mapping_name
from core.errors import InvalidInput, NotFound
from core.model import Job, SyncError
from functions.deps import deps
from functions.http import guarded, json_response

__all__ = ["bp", "job_json", "error_row_json"]

bp = func.Blueprint()


def _time(value: dt.datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def job_json(j: Job) -> dict[str, Any]:
    return {"id": j.id, "mapping": j.mapping, "type": j.type.value,
            "direction": j.direction.value if j.direction else None, "status": j.status.value,
            "startedOn": _time(j.started_on), "finishedOn": _time(j.finished_on), "counters": j.counters.to_json(),
            "progress": j.progress, "dryRun": j.dry_run, "message": j.message}


def error_row_json(e: SyncError) -> dict[str, Any]:
    return {"id": e.id, "jobId": e.job_id, "mapping": e.mapping, "erpId": e.erp_id, "crmId": e.crm_id,
            "direction": e.direction.value if e.direction else None, "category": e.category.value,
            "message": e.message, "detail": e.detail, "occurredOn": _time(e.occurred_on)}


def parse_top(params: Any, default: int = 50) -> int:
    text = params.get("top", str(default))
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 1000:
        raise InvalidInput("top", "top must be a whole number from 1 to 1000.")
    return int(text)


@bp.route(route="jobs", methods=["GET"])
def list_jobs(req: func.HttpRequest) -> func.HttpResponse:
    def run() -> func.HttpResponse:
        mapping = req.params.get("mapping")
        name = require_mapping_name(mapping) if mapping else None
        jobs = deps().storage().jobs.list(name, top=parse_top(req.params))
        return json_response({"value": [job_json(j) for j in jobs]})

    return guarded(req, run)


@bp.route(route="jobs/{id}", methods=["GET"])
def get_job(req: func.HttpRequest) -> func.HttpResponse:
    def run() -> func.HttpResponse:
        job_id = require_guid(req.route_params.get("id"), "id")
        storage = deps().storage()
        try:
            job = storage.jobs.get(job_id)
        except NotFound:
            raise NotFound(f"There is no job {job_id}.", field="id") from None
        return json_response({**job_json(job), "errors": [error_row_json(e) for e in storage.errors.for_job(job.id)]})

    return guarded(req, run)
