"""Health and connection: is Koppel up, and can it reach both sides (F1)."""
from __future__ import annotations

import azure.functions as func

from core.actions import connection
from functions.deps import deps
from functions.http import guarded, json_response

bp = func.Blueprint()


@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def health(req: func.HttpRequest) -> func.HttpResponse:
    return json_response({"status": "ok"})


@bp.route(route="connection", methods=["GET"])
def connection_check(req: func.HttpRequest) -> func.HttpResponse:
    return guarded(req, lambda: json_response(connection.check_connection(deps())))
