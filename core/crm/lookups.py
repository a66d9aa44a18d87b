"""Dataverse lookup columns in one place: how a mapping field named after a navigation property is
read (`_<name>_value`) and written (`<bind>@odata.bind: "/<set>(<id>)"`), api-facts §A.1–A.2.

Mapping fields use the navigation name (`transactioncurrencyid`, `parentcustomerid`,
`primarycontactid`); Koppel's records hold the referenced row's id under that name.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from core.odata import field_name, guid

__all__ = ["Lookup", "LOOKUPS", "PRIMARY_IDS", "MODIFIED_ON", "MODIFIED_BY", "lookup_for", "select_columns", "read_fields",
           "write_values"]

MODIFIED_ON = "modifiedon"  # seconds precision, UTC (api-facts §A.2)
MODIFIED_BY = "_modifiedby_value"

# entity set → primary key column
PRIMARY_IDS = {"accounts": "accountid", "contacts": "contactid", "transactioncurrencies": "transactioncurrencyid",
               "products": "productid", "systemusers": "systemuserid"}


@dataclass(frozen=True, slots=True)
class Lookup:
    """A single-valued lookup: `field` is the mapping name, `bind` the navigation property to bind
    (`parentcustomerid_account` for the polymorphic customer lookup), `target_set` the entity set."""

    field: str
    bind: str
    target_set: str

    @property
    def value_column(self) -> str:
        return f"_{self.field}_value"

    def bind_value(self, value: Any) -> Any:
        """`/transactioncurrencies(<id>)`, or None to clear the lookup."""
        return None if value is None else f"/{self.target_set}({guid(str(value))})"


_CURRENCY = Lookup("transactioncurrencyid", "transactioncurrencyid", "transactioncurrencies")

# entity set → mapping field → Lookup. parentcustomerid can point at an account or a contact; Koppel
# couples contacts to accounts (SPEC F14), so it binds through the account navigation property.
LOOKUPS: dict[str, dict[str, Lookup]] = {
    "accounts": {
        "transactioncurrencyid": _CURRENCY,
        "primarycontactid": Lookup("primarycontactid", "primarycontactid", "contacts"),
    },
    "contacts": {
        "transactioncurrencyid": _CURRENCY,
        "parentcustomerid": Lookup("parentcustomerid", "parentcustomerid_account", "accounts"),
    },
    "products": {"transactioncurrencyid": _CURRENCY},
    "transactioncurrencies": {},
    "systemusers": {},
}


def lookup_for(entity: str, name: str) -> Lookup | None:
    return LOOKUPS.get(entity, {}).get(name)


def select_columns(entity: str, id_field: str, fields: Iterable[str]) -> str:
    """`$select`: the id, modifiedon, modified-by and each field (lookups as `_x_value`)."""
    columns = [id_field, MODIFIED_ON, MODIFIED_BY]
    for name in fields:
        lookup = lookup_for(entity, name)
        columns.append(lookup.value_column if lookup else name)
    return ",".join(dict.fromkeys(field_name(c) for c in columns))


def read_fields(entity: str, row: Mapping[str, Any], fields: Iterable[str] | None) -> dict[str, Any]:
    """Mapping field → value from a row; every non-annotation column when `fields` is None."""
    if fields is None:
        by_column = {lk.value_column: lk.field for lk in LOOKUPS.get(entity, {}).values()}
        return {by_column.get(k, k): v for k, v in row.items() if "@" not in k}
    values: dict[str, Any] = {}
    for name in fields:
        lookup = lookup_for(entity, name)
        values[name] = row.get(lookup.value_column if lookup else name)
    return values


def write_values(entity: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """A request body: lookups become `<bind>@odata.bind` (None clears), other values pass as they are."""
    body: dict[str, Any] = {}
    for name, value in values.items():
        lookup = lookup_for(entity, name)
        if lookup is None:
            body[name] = value
        else:
            body[f"{lookup.bind}@odata.bind"] = lookup.bind_value(value)
    return body
