"""Pause and resume a mapping (X12): `POST /mappings/{name}/pause {reason?}` and `POST /mappings/{name}/resume`."""
from __future__ import annotations

import azure.functions as func

from core.sync import circuit
from core.commands import parse_object, require_mapping_name
from core.errors import InvalidInput
from functions.deps import deps
from functions.http import guarded, json_response, read_json

__all__ = ["bp"]

bp = func.Blueprint()
_REASON_MAX = 500


def _reason(req: func.HttpRequest) -> str | None:
    data = parse_object(read_json(req) if req.get_body() else {}, {"reason"}, set())
    reason = data.get("reason")
    if reason is not None and (not isinstance(reason, str) or not reason.strip() or len(reason) > _REASON_MAX):
        raise InvalidInput("reason", f"reason must be text of 1 to {_REASON_MAX} characters.")
    return reason.strip() if reason else None


@bp.route(route="mappings/{name}/pause", methods=["POST"])
def pause_mapping(req: func.HttpRequest) -> func.HttpResponse:
    def run() -> func.HttpResponse:
        name = require_mapping_name(req.route_params.get("name"), "name")
        return json_response(circuit.pause_mapping(deps(), name, _reason(req)).to_json())

    return guarded(req, run)


@bp.route(route="mappings/{name}/resume", methods=["POST"])
def resume_mapping(req: func.HttpRequest) -> func.HttpResponse:
    def run() -> func.HttpResponse:
        name = require_mapping_name(req.route_params.get("name"), "name")
        return json_response(circuit.resume_mapping(deps(), name).to_json())

    return guarded(req, run)
