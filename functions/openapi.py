"""`GET /api/openapi.json`: the OpenAPI 3.1 document of every route (SPEC §4), behind the function key."""
from __future__ import annotations

import azure.functions as func

from functions.http import guarded, json_response
from functions.openapi_spec import build_document

__all__ = ["bp"]

bp = func.Blueprint()


@bp.route(route="openapi.json", methods=["GET"])
def openapi_document(req: func.HttpRequest) -> func.HttpResponse:
    return guarded(req, lambda: json_response(build_document()))
