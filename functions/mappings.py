"""Mappings as data over HTTP (F7, X15): list, read, create/replace, merge-patch, delete, versions, reset-defaults.

`mappings/reset-defaults` is a literal route: the host matches literal segments before `{name}` parameters.
"""
from __future__ import annotations

from typing import Any

import azure.functions as func

from core.actions import mappings
from core.commands import require_mapping_name
from core.errors import InvalidInput
from core.model import Mapping
from core.store.mapping_codec import mapping_to_json
from functions.deps import deps
from functions.http import empty, guarded, json_response, read_json

__all__ = ["bp"]

bp = func.Blueprint()


def _one(m: Mapping, status: int = 200) -> func.HttpResponse:
    return json_response(mapping_to_json(m), status, headers={"ETag": m.etag} if m.etag else None)


def _name(req: func.HttpRequest) -> str:
    return require_mapping_name(req.route_params.get("name"), "name")


def _flag(req: func.HttpRequest, name: str) -> bool:
    value = req.params.get(name, "false")
    if value not in ("true", "false"):
        raise InvalidInput(name, f"{name} must be true or false.")
    return bool(value == "true")


@bp.route(route="mappings", methods=["GET"])
def list_mappings(req: func.HttpRequest) -> func.HttpResponse:
    return guarded(req, lambda: json_response({"value": [mapping_to_json(m) for m in mappings.list_mappings(deps())]}))


@bp.route(route="mappings/reset-defaults", methods=["POST"])
def reset_default_mappings(req: func.HttpRequest) -> func.HttpResponse:
    def run() -> func.HttpResponse:
        body = read_json(req) if req.get_body() else {}
        confirm, names = _reset_body(body)
        diffs = mappings.reset_defaults(deps(), confirm=confirm, names=names)
        return json_response({"confirmed": confirm, "value": [
            {"name": d.name, "change": d.change, "changedKeys": list(d.changed_keys), "applied": d.applied}
            for d in diffs]})

    return guarded(req, run)


def _reset_body(body: Any) -> tuple[bool, list[str] | None]:
    if not isinstance(body, dict) or set(body) - {"confirm", "names"}:
        raise InvalidInput("body", "The body may hold only confirm (true or false) and names (a list of mappings).")
    confirm = body.get("confirm", False)
    if not isinstance(confirm, bool):
        raise InvalidInput("confirm", "confirm must be true or false.")
    names = body.get("names")
    if names is not None and (not isinstance(names, list) or not names):
        raise InvalidInput("names", "names must be a non-empty list of default mapping names.")
    return confirm, [require_mapping_name(n, f"names[{i}]") for i, n in enumerate(names)] if names else None


@bp.route(route="mappings/{name}", methods=["GET"])
def get_mapping(req: func.HttpRequest) -> func.HttpResponse:
    return guarded(req, lambda: _one(mappings.get_mapping(deps(), _name(req))))


@bp.route(route="mappings/{name}", methods=["PUT"])
def put_mapping(req: func.HttpRequest) -> func.HttpResponse:
    def run() -> func.HttpResponse:
        result = mappings.put_mapping(deps(), _name(req), read_json(req), req.headers.get("If-Match"))
        return _one(result.mapping, 201 if result.created else 200)

    return guarded(req, run)


@bp.route(route="mappings/{name}", methods=["PATCH"])
def patch_mapping(req: func.HttpRequest) -> func.HttpResponse:
    return guarded(req, lambda: _one(mappings.patch_mapping(deps(), _name(req), read_json(req),
                                                            req.headers.get("If-Match"))))


@bp.route(route="mappings/{name}", methods=["DELETE"])
def delete_mapping(req: func.HttpRequest) -> func.HttpResponse:
    def run() -> func.HttpResponse:
        mappings.delete_mapping(deps(), _name(req), force=_flag(req, "force"))
        return empty(204)

    return guarded(req, run)


@bp.route(route="mappings/{name}/versions", methods=["GET"])
def mapping_versions(req: func.HttpRequest) -> func.HttpResponse:
    return guarded(req, lambda: json_response(
        {"value": [mapping_to_json(m) for m in mappings.mapping_versions(deps(), _name(req))]}))
