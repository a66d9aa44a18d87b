"""Synchronize now (F3) from the ERP extension, and from the CRM ribbon (F4)."""
from __future__ import annotations

import azure.functions as func

from core.actions import ribbon, sync
from core.commands import parse_crm_sync, parse_sync
from functions.deps import deps
from functions.http import guarded, json_response, read_json
from core.model import Job
from functions.jobs import job_json
from functions.views import ribbon_json, sync_outcome_json

bp = func.Blueprint()


@bp.route(route="sync", methods=["POST"])
def sync_records(req: func.HttpRequest) -> func.HttpResponse:
    def run() -> func.HttpResponse:
        answer = sync.sync_records(parse_sync(read_json(req)), deps())
        if isinstance(answer, Job):  # several ids: a background job (F5)
            return json_response(job_json(answer), 202, {"Location": f"/api/jobs/{answer.id}"})
        return json_response(sync_outcome_json(answer))

    return guarded(req, run)


@bp.route(route="crm/sync", methods=["POST"])
def crm_sync(req: func.HttpRequest) -> func.HttpResponse:
    def run() -> func.HttpResponse:
        answer = ribbon.sync_from_crm(parse_crm_sync(read_json(req)), deps(), req.headers.get("Accept-Language"))
        return json_response(ribbon_json(answer))

    return guarded(req, run)
