"""Bulk actions (api-facts §A.6): CreateMultiple, UpdateMultiple, UpsertMultiple, each one transaction.

`@odata.type` is mandatory on every target; any failing target rolls the whole call back.
A key repeated in the Targets of UpsertMultiple fails the whole call; UpdateMultiple applies the
first target with an id and ignores its repeats (api-facts §F.3, `bulk-operations.md`).
"""
from __future__ import annotations

from typing import Any

from emulators.dataverse.body import fields_from_body, parse_entity_ref
from emulators.dataverse.errors import BadRequest
from emulators.dataverse.schema import Table
from emulators.dataverse.state import KeySpec, Store, now_iso

__all__ = ["ACTIONS", "run_bulk"]

ACTIONS = ("CreateMultiple", "UpdateMultiple", "UpsertMultiple")


def _targets(table: Table, body: Any) -> list[dict[str, Any]]:
    targets = body.get("Targets") if isinstance(body, dict) else None
    if not isinstance(targets, list) or not targets:
        raise BadRequest("The parameter 'Targets' is required and must be a non-empty collection of records.")
    for i, target in enumerate(targets):
        if not isinstance(target, dict):
            raise BadRequest(f"Targets[{i}] is not a record.")
        kind = target.get("@odata.type")
        if kind is None:  # §A.6: mandatory on every target
            raise BadRequest(f"Targets[{i}]: the '@odata.type' annotation is required for an entity in a "
                             "collection of type 'Microsoft.Dynamics.CRM.crmbaseentity'.")
        if kind.lstrip("#") != table.type_name:
            raise BadRequest(f"Targets[{i}]: '{kind}' is not the type of entity set '{table.entity_set}'.")
    return targets


def _upsert_key(table: Table, target: dict[str, Any], fields: dict[str, Any]) -> KeySpec | None:
    if "@odata.id" in target:
        ref_table, key = parse_entity_ref(str(target["@odata.id"]))
        if ref_table is not table:
            raise BadRequest(f"The '@odata.id' '{target['@odata.id']}' is not an entity of '{table.entity_set}'.")
        return key
    ident = fields.get(table.primary_id)
    return ident if isinstance(ident, str) else None


def _key_text(key: KeySpec) -> str:
    return key.lower() if isinstance(key, str) else repr(sorted((k, str(v).lower()) for k, v in key.items()))


def run_bulk(store: Store, table: Table, action: str, body: Any, user_id: str) -> list[str]:
    """Apply the action to every target in one transaction; the ids written, in target order."""
    targets = _targets(table, body)
    at = now_iso()
    ids: list[str] = []
    seen: set[str] = set()
    pid = table.primary_id
    with store.transaction() as txn:
        for target in targets:
            fields = fields_from_body(store, table, target)
            if action == "CreateMultiple":
                row = store.create(txn, table, fields, user_id, at)
            elif action == "UpdateMultiple":
                ident = fields.get(pid)
                if not isinstance(ident, str):
                    raise BadRequest(f"Every target of UpdateMultiple needs its primary key '{pid}'.")
                if ident.lower() in seen:
                    continue  # the first target with this id wins; the repeats are ignored
                seen.add(ident.lower())
                row = store.update(txn, table, ident, fields, user_id, at)
            else:
                key = _upsert_key(table, target, fields)
                if key is not None and _key_text(key) in seen:
                    raise BadRequest(f"Targets[{len(ids)}]: the key {key!r} occurs more than once in "
                                     "Targets; UpsertMultiple needs each record at most once.")
                if key is not None:
                    seen.add(_key_text(key))
                if key is None:
                    row = store.create(txn, table, fields, user_id, at)
                else:
                    row, _ = store.upsert(txn, table, key, fields, user_id, at=at)
            ids.append(row[pid])
    return ids
