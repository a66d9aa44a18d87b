"""The Dataverse emulator's `/_admin/` extras: reset, seed, edit and delete as a person, raw rows, webhooks.

`by` names a person by systemuserid, e-mail, full or first name (an unknown name becomes a new user);
without it, edits are Anna de Vries's.
"""
from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from emulators.dataverse.body import fields_from_body
from emulators.dataverse.errors import BadRequest, DataverseError, ObjectDoesNotExist
from emulators.dataverse.query import MAX_PAGE
from emulators.dataverse.schema import TABLES, Table, table_for
from emulators.dataverse.seed import PEOPLE, create_reference_data, seed_rows
from emulators.server import Request, Response, json_response

if TYPE_CHECKING:
    from emulators.dataverse.app import Dataverse

__all__ = ["serve_admin", "person_id"]


def person_id(dv: Dataverse, by: Any) -> str:
    """The systemuser a person's edit is attributed to."""
    if by is None:
        return PEOPLE[0][0]
    text = str(by).strip()
    users = TABLES["systemuser"]
    with dv.store.lock:
        for row in dv.store.rows["systemuser"].values():
            if text.lower() in (row["systemuserid"], str(row["internalemailaddress"]).lower(),
                                str(row["fullname"]).lower(), str(row["firstname"]).lower()):
                return str(row["systemuserid"])
        with dv.store.transaction() as txn:
            ident = str(uuid.uuid4())
            dv.store.create(txn, users, {"fullname": text, "islicensed": True, "accessmode": 0}, PEOPLE[0][0],
                            ident=ident)
    return ident


def _table(name: Any) -> Table:
    table = table_for(str(name))
    if table is None:
        raise ObjectDoesNotExist(f"No table '{name}'.")
    return table


def serve_admin(dv: Dataverse, req: Request, action: str) -> Response | None:
    try:
        return _serve(dv, req, action)
    except DataverseError as err:
        return err.to_response()
    except (ValueError, KeyError, TypeError) as err:
        return BadRequest(f"Bad admin request: {type(err).__name__}: {err}").to_response()


def _serve(dv: Dataverse, req: Request, action: str) -> Response | None:
    method = req.method
    parts = action.split("/")
    if action == "reset" and method == "POST":
        dv.reset()
        return Response(204)
    if action == "paging" and method == "POST":  # {"repeat": n, "maxPage": m}: the paging fault mode
        data = req.json() or {}
        dv.lister.repeat = int(data.get("repeat", 0))
        dv.lister.max_page = int(data.get("maxPage", MAX_PAGE))
        return json_response(200, {"repeat": dv.lister.repeat, "maxPage": dv.lister.max_page})
    if action == "clock" and method == "POST":  # {"advanceS": n}: move the emulator's clock on
        dv.clock_offset_s += float((req.json() or {}).get("advanceS", 0))
        return json_response(200, {"offsetS": dv.clock_offset_s})
    if action == "seed" and method == "POST":
        data = req.json()
        table = _table(data["entity"])
        ids = seed_rows(dv.store, table, data.get("count", 1), int(data.get("seed", 0)), person_id(dv, data.get("by")))
        return json_response(200, {"ids": ids})
    if action == "edit" and method == "POST":
        data = req.json()
        table = _table(data["entity"])
        fields = fields_from_body(dv.store, table, data.get("fields") or {})
        fields.pop(table.primary_id, None)
        with dv.store.transaction() as txn:
            row = dv.store.update(txn, table, str(data["id"]), fields, person_id(dv, data.get("by")), data.get("at"))
        return json_response(200, row)
    if parts[0] == "records" and len(parts) == 2 and method == "GET":
        table = _table(parts[1])
        with dv.store.lock:
            rows = list(dv.store.rows[table.logical_name].values())
        return json_response(200, {"value": rows})
    if parts[0] == "records" and len(parts) == 3 and method == "DELETE":
        table = _table(parts[1])
        with dv.store.transaction() as txn:
            dv.store.delete(txn, table, parts[2], person_id(dv, req.query.get("by")))
        return Response(204)
    if parts[0] == "webhooks":
        return _webhooks(dv, req, parts[1:])
    return None


def _webhooks(dv: Dataverse, req: Request, rest: list[str]) -> Response | None:
    if not rest and req.method == "POST":
        data = req.json()
        entities = [_table(e).logical_name for e in data["entities"]]
        hook = dv.webhooks.register(str(data["url"]), entities, dict(data.get("headers") or {}))
        dv.store.watched = dv.webhooks.watched()
        return json_response(201, hook.to_json())
    if not rest and req.method == "GET":
        return json_response(200, {"value": [h.to_json() for h in dv.webhooks.hooks.values()]})
    if rest == ["flush"] and req.method == "POST":
        dv.webhooks.flush()
        return Response(204)
    if len(rest) == 1 and req.method == "DELETE":
        if dv.webhooks.hooks.pop(rest[0], None) is None:
            raise ObjectDoesNotExist(f"No webhook {rest[0]}.")
        dv.store.watched = dv.webhooks.watched()
        return Response(204)
    return None


def reset_data(dv: Dataverse) -> None:
    """Clear rows, webhooks and caches; re-create the reference data."""
    dv.webhooks.clear()
    dv.store.watched = frozenset()
    dv.store.clear()
    dv.lister.clear()
    create_reference_data(dv.store, dv.client_id)
