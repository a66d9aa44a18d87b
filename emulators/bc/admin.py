"""The BC emulator's `/_admin/` extras (DESIGN "The local stack's contract"; no auth, loopback only).

reset · seed {entity, count, seed} · edit {entity, id, fields, by, at?} · GET records/{entity} ·
DELETE records/{entity}/{id} · POST webhooks/flush · GET webhooks · POST webhooks/expire {subscriptionId, at?}.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from emulators.bc.entities import ENTITIES
from emulators.bc.errors import BadRequest
from emulators.bc.seed import seed_records
from emulators.bc.state import format_ms, parse_time
from emulators.server import Request, Response, WireError, json_response

if TYPE_CHECKING:
    from emulators.bc.app import BusinessCentral

__all__ = ["serve_admin"]


def serve_admin(bc: BusinessCentral, req: Request, action: str) -> Response | None:
    try:
        return _route(bc, req, action)
    except WireError as err:
        return err.to_response()


def _json(req: Request) -> dict[str, Any]:
    try:
        body = req.json()
    except ValueError as err:
        raise BadRequest("Invalid Request Body") from err
    if not isinstance(body, dict):
        raise BadRequest("Invalid Request Body")
    return body


def _entity(name: Any) -> str:
    if name not in ENTITIES:
        raise BadRequest(f"Unknown entity '{name}'; known: {sorted(ENTITIES)}.")
    return str(name)


def _route(bc: BusinessCentral, req: Request, action: str) -> Response | None:
    method = req.method
    if action == "reset" and method == "POST":
        bc.reset()
        return Response(204)
    if action == "seed" and method == "POST":
        body = _json(req)
        ids = seed_records(bc.state, _entity(body.get("entity")), body.get("count", 0), body.get("seed", 0))
        return json_response(200, {"ids": ids})
    if action == "edit" and method == "POST":
        body = _json(req)
        at = body.get("at")
        if at is not None:
            try:
                at = format_ms(parse_time(str(at)))
            except ValueError as err:
                raise BadRequest(f"'at' is not an ISO-8601 time: {at}") from err
        rec = bc.state.update(_entity(body.get("entity")), str(body.get("id", "")).lower(), body.get("fields", {}),
                              None, str(body.get("by") or "person"), person=True, at=at)
        return json_response(200, rec)
    if action.startswith("records/"):
        parts = action.split("/")
        entity = _entity(parts[1])
        if len(parts) == 2 and method == "GET":
            with bc.state.lock:
                table = bc.state.tables[entity]
                rows = [table.records[i] for i in table.order]
                by = dict(bc.state.modified_by)
            return json_response(200, {"value": [{**r, "@emulator.modifiedBy": by.get(r["id"], "")} for r in rows]})
        if len(parts) == 3 and method == "DELETE":
            bc.state.delete(entity, parts[2].lower(), None, person=True)
            return Response(204)
    if action == "webhooks" and method == "GET":
        hub = bc.webhooks
        return json_response(200, {"subscriptions": hub.list_all(), "deliveries": list(hub.deliveries)})
    if action == "webhooks/flush" and method == "POST":
        return json_response(200, {"posts": bc.webhooks.flush()})
    if action == "webhooks/expire" and method == "POST":
        body = _json(req)
        return json_response(200, bc.webhooks.expire(str(body.get("subscriptionId")), body.get("at")))
    return None
