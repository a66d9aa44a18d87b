"""The Coupled Data Synchronization Errors view over HTTP (F10, X11), and its actions answering per id."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import azure.functions as func

from core.actions import errors_view
from core.commands import require_mapping_name
from core.deps import Deps
from functions.deps import deps
from functions.http import guarded, json_response, read_json
from functions.jobs import parse_top
from functions.views import coupling_json

__all__ = ["bp"]

bp = func.Blueprint()


def _entry_json(e: errors_view.ErrorEntry) -> dict[str, Any]:
    c = e.coupling
    return {**coupling_json(c), "erpExists": e.erp_exists, "crmExists": e.crm_exists,
            "category": c.last_error_category.value if c.last_error_category else None,
            "message": c.last_error, "suggestedAction": e.suggestion}


@bp.route(route="errors", methods=["GET"])
def list_sync_errors(req: func.HttpRequest) -> func.HttpResponse:
    def run() -> func.HttpResponse:
        mapping = req.params.get("mapping")
        entries = errors_view.list_errors(deps(), require_mapping_name(mapping) if mapping else None,
                                          parse_top(req.params, 100))
        return json_response({"value": [_entry_json(e) for e in entries]})

    return guarded(req, run)


def _act(req: func.HttpRequest, kind: str,
         action: Callable[[Deps, errors_view.ActionCommand], list[errors_view.ActionResult]]) -> func.HttpResponse:
    def run() -> func.HttpResponse:
        results = action(deps(), errors_view.parse_action(read_json(req), kind))
        return json_response({"value": [{"id": r.id, "ok": r.ok, "message": r.message} for r in results]})

    return guarded(req, run)


@bp.route(route="errors/retry", methods=["POST"])
def retry_sync_errors(req: func.HttpRequest) -> func.HttpResponse:
    return _act(req, "retry", errors_view.retry_couplings)


@bp.route(route="errors/synchronize", methods=["POST"])
def synchronize_sync_errors(req: func.HttpRequest) -> func.HttpResponse:
    return _act(req, "synchronize", errors_view.synchronize_couplings)


@bp.route(route="errors/restore", methods=["POST"])
def restore_sync_errors(req: func.HttpRequest) -> func.HttpResponse:
    return _act(req, "restore", errors_view.restore_couplings)


@bp.route(route="errors/delete-couplings", methods=["POST"])
def delete_error_couplings(req: func.HttpRequest) -> func.HttpResponse:
    return _act(req, "delete", errors_view.delete_couplings)
