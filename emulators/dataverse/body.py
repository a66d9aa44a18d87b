"""Reading the wire: entity references (`accounts(<id>)`, `accounts(accountnumber='X')`) and record bodies.

A body becomes column → value after checking every name and type and resolving each
`<nav>@odata.bind` to the `_<nav>_value` of an existing row (api-facts §A.1, §A.2).
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from emulators.dataverse.errors import BadRequest, ObjectDoesNotExist, UnknownProperty
from emulators.dataverse.schema import BY_SET, GUID_RE, SYSTEM_COLUMNS, TABLES, Table
from emulators.dataverse.state import KeySpec, Store, check_value

__all__ = ["API_PREFIX", "parse_key", "parse_entity_ref", "fields_from_body", "unknown_property"]

API_PREFIX = "/api/data/v9.2/"
_REF_RE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\((.*)\)$", re.S)
_PAIR_RE = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*('(?:[^']|'')*'|[^,]+)\s*(?:,|$)")


def unknown_property(table: Table, name: str) -> UnknownProperty:
    return UnknownProperty(f"Could not find a property named '{name}' on type '{table.type_name}'.")


def parse_key(text: str) -> KeySpec:
    """The inside of `set(...)`: a GUID, or `name='value'` pairs ('' escapes a quote) or `name=123`."""
    text = text.strip()
    if GUID_RE.fullmatch(text):
        return text.lower()
    key: dict[str, Any] = {}
    pos = 0
    while pos < len(text):
        m = _PAIR_RE.match(text, pos)
        if not m or m.end() == pos:
            raise BadRequest(f"Bad Request - Error in query syntax: invalid key '{text}'.")
        name, raw = m.group(1), m.group(2).strip()
        if raw.startswith("'"):
            key[name] = raw[1:-1].replace("''", "'")
        else:
            try:
                key[name] = int(raw)
            except ValueError:
                raise BadRequest(f"Bad Request - Error in query syntax: invalid key value '{raw}'.") from None
        pos = m.end()
    if not key:
        raise BadRequest(f"Bad Request - Error in query syntax: invalid key '{text}'.")
    return key


@lru_cache(maxsize=8192)
def parse_entity_ref(ref: str) -> tuple[Table, KeySpec]:
    """`/accounts(<id>)`, `accounts(accountnumber='X')` or an absolute URL of one → (table, key).

    Cached: a bulk call binds the same currency a thousand times. Callers must not mutate the key.
    """
    text = ref.strip()
    if API_PREFIX in text:
        text = text.split(API_PREFIX, 1)[1]
    text = text.lstrip("/")
    m = _REF_RE.match(text)
    table = BY_SET.get(m.group(1)) if m else None
    if m is None or table is None:
        raise BadRequest(f"Resource not found for the segment '{text.split('(')[0]}'.")
    return table, parse_key(m.group(2))


def fields_from_body(store: Store, table: Table, body: Any) -> dict[str, Any]:
    """Checked column values of a create/update body; annotations other than binds are skipped."""
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object describing one record.")
    fields: dict[str, Any] = {}
    columns = table.columns
    plain = table.plain_types
    for name, value in body.items():
        kind = columns.get(name)
        if kind is not None:
            # Fast path for the common case; options, GUIDs and misfits get the full check.
            if value is not None and type(value) not in plain.get(name, ()):
                check_value(table, name, kind, value)
            fields[name] = value
        elif "@" in name:
            if name.endswith("@odata.bind"):
                _bind(store, table, name[: -len("@odata.bind")], value, fields)
        elif name == table.primary_id:
            check_value(table, name, "guid", value)
            fields[name] = value.lower() if isinstance(value, str) else value
        elif name.startswith("_") and name.endswith("_value"):
            raise BadRequest("CRM do not support direct update of Entity Reference properties, "
                             "Use Navigation properties instead.")
        elif name in SYSTEM_COLUMNS or name in table.computed:
            continue  # read-only: Dataverse ignores them on write
        else:
            raise UnknownProperty(
                f"The property '{name}' does not exist on type '{table.type_name}'. Make sure to only use "
                "property names that are defined by the type or mark the type as open type.")
    return fields


def _bind(store: Store, table: Table, nav: str, value: Any, fields: dict[str, Any]) -> None:
    bound = table.binds.get(nav)
    if bound is None:
        raise BadRequest(f"An undeclared property '{nav}' which only has property annotations in the payload "
                         "but no property value was found in the payload.")
    lookup, target = bound
    attr = f"_{lookup.attribute}_value"
    if value is None:  # §A.2: null clears the lookup
        fields[attr] = None
        return
    if not isinstance(value, str):
        raise BadRequest(f"The value of '{nav}@odata.bind' must be an entity reference URL.")
    ref_table, key = parse_entity_ref(value)
    if ref_table is not TABLES[target]:
        raise BadRequest(f"The entity reference '{value}' is not a '{target}' as '{nav}' needs.")
    ident = store.resolve(ref_table, key)
    if ident is None:
        raise ObjectDoesNotExist(f"{target} With Ids = {store.describe(key)} Do Not Exist")
    fields[attr] = ident
