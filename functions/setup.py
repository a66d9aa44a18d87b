"""Match-based coupling (F12) and full synchronization (F13) over HTTP: `POST /mappings/{name}/match-couple`,
`GET /setup/full-sync-plan` and `POST /setup/full-sync`; the work runs in the queue worker."""
from __future__ import annotations

from collections.abc import Mapping as MappingABC
from typing import Any

import azure.functions as func

from core.commands import parse_object, require_mapping_name
from core.errors import InvalidInput
from core.sync.full_sync import PlanLine, Step, plan_full_sync, queue_full_sync
from core.sync.matching import queue_match_coupling
from functions.deps import deps
from functions.http import guarded, json_response, read_json
from functions.jobs import job_json

__all__ = ["bp", "plan_line_json"]

bp = func.Blueprint()


def _flag(data: MappingABC[str, Any], name: str) -> bool:
    value = data.get(name, False)
    if not isinstance(value, bool):
        raise InvalidInput(name, f"{name} must be true or false.")
    return value


def _body(req: func.HttpRequest, allowed: set[str]) -> MappingABC[str, Any]:
    return parse_object(read_json(req) if req.get_body() else {}, allowed, set())


def plan_line_json(line: PlanLine) -> dict[str, Any]:
    return {"mapping": line.mapping, "dependsOn": list(line.depends_on), "erpCount": line.erp_count,
            "crmCount": line.crm_count, "recommendation": line.recommendation.value, "error": line.error}


def _step_json(step: Step) -> dict[str, Any]:
    assert step.line is not None
    return {**plan_line_json(step.line), "jobIds": list(step.job_ids)}


@bp.route(route="mappings/{name}/match-couple", methods=["POST"])
def match_couple(req: func.HttpRequest) -> func.HttpResponse:
    def run() -> func.HttpResponse:
        name = require_mapping_name(req.route_params.get("name"), "name")
        data = _body(req, {"createNew", "syncAfter", "dryRun"})
        job = queue_match_coupling(deps(), name, create_new=_flag(data, "createNew"),
                                   sync_after=_flag(data, "syncAfter"), dry_run=_flag(data, "dryRun"))
        return json_response(job_json(job), 202, {"Location": f"/api/jobs/{job.id}"})

    return guarded(req, run)


@bp.route(route="setup/full-sync-plan", methods=["GET"])
def full_sync_plan(req: func.HttpRequest) -> func.HttpResponse:
    return guarded(req, lambda: json_response({"value": [plan_line_json(x) for x in plan_full_sync(deps())]}))


@bp.route(route="setup/full-sync", methods=["POST"])
def full_sync(req: func.HttpRequest) -> func.HttpResponse:
    def run() -> func.HttpResponse:
        data = _body(req, {"mappings", "dryRun"})
        names = data.get("mappings")
        if names is not None and not isinstance(names, list):
            raise InvalidInput("mappings", "mappings must be a list of mapping names.")
        chosen = None if names is None else [require_mapping_name(n, f"mappings[{i}]") for i, n in enumerate(names)]
        steps = queue_full_sync(deps(), chosen, dry_run=_flag(data, "dryRun"))
        return json_response({"value": [_step_json(s) for s in steps]}, 202)

    return guarded(req, run)
