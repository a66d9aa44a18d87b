"""Checks a request body against an entity's shape, as BC's OData layer does before any AL code runs.

Unknown properties, read-only properties, values of the wrong JSON type, malformed GUIDs or dates and
strings longer than the table field all answer BC-shaped 400s (api-facts §B.3, BC error-code table).
"""
from __future__ import annotations

import re
from typing import Any

from emulators.bc.entities import FIELD_MAPS, EntitySpec, Field
from emulators.bc.errors import BadRequest, ReadOnlyProperty, StringExceededLength

__all__ = ["check_body", "check_value", "GUID_RE", "normalize_guid"]

GUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# Code fields BC upper-cases on validate (Code[n] in AL).
_CODE_FIELDS = frozenset({"number", "code", "currencyCode", "companyNumber", "salespersonCode", "country",
                          "irs1099Code", "itemCategoryCode", "taxGroupCode", "baseUnitOfMeasureCode",
                          "generalProductPostingGroupCode", "inventoryPostingGroupCode"})
# Never writable, not even by a person editing in the client.
_SYSTEM_FIELDS = frozenset({"id", "lastModifiedDateTime"})


def normalize_guid(text: str) -> str:
    return text.lower()


def check_body(spec: EntitySpec, body: Any, *, person: bool = False) -> dict[str, Any]:
    """The body's properties, type-checked and normalized; raises the 400 BC would answer."""
    if not isinstance(body, dict):
        raise BadRequest("Invalid Request Body")
    fields = FIELD_MAPS[spec.set_name]
    out: dict[str, Any] = {}
    for name, value in body.items():
        if name.startswith("@odata."):
            continue  # clients echo annotations such as @odata.etag; OData ignores them
        f = fields.get(name)
        if f is None:
            raise BadRequest(f"The property '{name}' does not exist on type 'Microsoft.NAV.{spec.type_name}'. "
                             "Make sure to only use property names that are defined by the type.")
        if name in _SYSTEM_FIELDS or (f.read_only and not person):
            raise ReadOnlyProperty(f"The property '{name}' is read-only and cannot be modified.")
        out[name] = check_value(f, value)
    return out


def check_value(f: Field, value: Any) -> Any:
    """One value of field `f`, converted to what BC stores (upper-cased codes, lower-case GUIDs)."""
    kind = f.kind
    if kind in ("str", "enum", "guid", "date"):
        if not isinstance(value, str):
            raise _cannot_convert(f, value)
        if kind == "guid":
            if not GUID_RE.match(value):
                raise BadRequest(f"Cannot convert the literal '{value}' to the expected type 'Edm.Guid'.")
            return normalize_guid(value)
        if kind == "date":
            if not _DATE_RE.match(value):
                raise BadRequest("Unable to convert value to Date")
            return value
        if kind == "enum":
            if value not in f.choices:
                raise BadRequest(f"Cannot convert the literal '{value}' to the expected type "
                                 f"'Microsoft.NAV.{f.name}'.")
            return value
        if len(value) > f.max_len:
            raise StringExceededLength(f"The length of the string is {len(value)}, but it must be less than or "
                                       f"equal to {f.max_len} characters. Value: {value}")
        return value.upper() if f.name in _CODE_FIELDS else value
    if kind == "bool":
        if not isinstance(value, bool):
            raise _cannot_convert(f, value)
        return value
    if kind == "decimal":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _cannot_convert(f, value)
        return value
    raise _cannot_convert(f, value)


def _cannot_convert(f: Field, value: Any) -> BadRequest:
    shown = "null" if value is None else str(value)[:100]
    return BadRequest(f"Cannot convert the literal '{shown}' to the expected type '{f.edm_type}'.")
