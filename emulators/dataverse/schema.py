"""The emulated tables: columns and their types, lookups, alternate keys, option sets, change tracking.

One `Table` per entity set; `TABLES` is keyed by logical name and `BY_SET` by entity set name.
The EntityDefinitions answers the official SDK needs (api-facts §C.1) are built from these.
"""
from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any

__all__ = ["GUID_RE", "Lookup", "Table", "TABLES", "BY_SET", "SYSTEM_COLUMNS", "metadata_id", "table_for"]

GUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_NS = uuid.UUID("4f1c6a9e-7d3b-4b8e-9a51-0c2d3e4f5a6b")

# Written by the service on every write; never accepted in a body.
SYSTEM_COLUMNS = ("createdon", "modifiedon", "_createdby_value", "_modifiedby_value", "versionnumber")


def metadata_id(*names: str) -> str:
    """A stable MetadataId for a table, attribute or key."""
    return str(uuid.uuid5(_NS, "/".join(names)))


@dataclass(frozen=True, slots=True)
class Lookup:
    """A single-valued navigation property: written as `<bind>@odata.bind`, read as `_<attribute>_value`."""

    attribute: str
    targets: tuple[str, ...]  # logical names; more than one = polymorphic (customer lookup)

    def bind_names(self) -> dict[str, str]:
        """Bind property name → target logical name (api-facts §A.2: `parentcustomerid_account@odata.bind`)."""
        if len(self.targets) == 1:
            return {self.attribute: self.targets[0]}
        return {f"{self.attribute}_{t}": t for t in self.targets}


@dataclass(frozen=True, slots=True)
class Table:
    logical_name: str
    entity_set: str
    primary_id: str
    primary_name: str
    columns: dict[str, str]  # writable column → type (string, int, money, bool, option, guid)
    lookups: tuple[Lookup, ...] = ()
    alternate_keys: tuple[str, ...] = ()  # single-column keys
    change_tracking: bool = False
    options: dict[str, dict[int, str]] = field(default_factory=dict)
    computed: tuple[str, ...] = ()  # read-only columns the service derives (fullname)
    default_currency: bool = False
    # Derived once: every readable column in answer order, and the bind names.
    readable: tuple[str, ...] = ()
    binds: dict[str, tuple[Lookup, str]] = field(default_factory=dict)
    defaults: dict[str, Any] = field(default_factory=dict)
    plain_types: dict[str, tuple[type, ...]] = field(default_factory=dict)  # columns checked by type alone

    @property
    def type_name(self) -> str:
        return f"Microsoft.Dynamics.CRM.{self.logical_name}"


def _table(**kwargs: Any) -> Table:
    t = Table(**kwargs)
    lookups = tuple(f"_{lk.attribute}_value" for lk in t.lookups)
    readable = (t.primary_id, *t.columns, *t.computed, *lookups, *SYSTEM_COLUMNS)
    binds = {name: (lk, target) for lk in t.lookups for name, target in lk.bind_names().items()}
    defaults: dict[str, Any] = {c: None for c in readable}
    if "statecode" in t.columns:
        defaults["statecode"] = 0
        defaults["statuscode"] = 1
    for name in ("isdisabled",):
        if name in t.columns:
            defaults[name] = False
    object.__setattr__(t, "readable", readable)
    object.__setattr__(t, "binds", binds)
    object.__setattr__(t, "defaults", defaults)
    plain = {"string": (str,), "int": (int,), "money": (int, float), "bool": (bool,)}
    object.__setattr__(t, "plain_types", {c: plain[k] for c, k in t.columns.items() if k in plain})
    return t


_ADDRESS = {f"address1_{p}": "string" for p in (
    "line1", "line2", "city", "postalcode", "country", "stateorprovince")}
_STATE = {"statecode": "option", "statuscode": "option"}
_STATE_OPTIONS = {"statecode": {0: "Active", 1: "Inactive"}, "statuscode": {1: "Active", 2: "Inactive"}}
_CURRENCY = Lookup("transactioncurrencyid", ("transactioncurrency",))

TABLES: dict[str, Table] = {t.logical_name: t for t in (
    _table(
        logical_name="account", entity_set="accounts", primary_id="accountid", primary_name="name",
        columns={
            "name": "string", "accountnumber": "string", **_ADDRESS,
            "address1_primarycontactname": "string", "telephone1": "string", "telephone2": "string",
            "fax": "string", "emailaddress1": "string", "websiteurl": "string", "customertypecode": "option",
            "creditlimit": "money", "description": "string", **_STATE,
        },
        lookups=(_CURRENCY, Lookup("primarycontactid", ("contact",))),
        alternate_keys=("accountnumber",), change_tracking=True, default_currency=True,
        options={"customertypecode": {1: "Competitor", 2: "Consultant", 3: "Customer", 4: "Investor",
                                      5: "Partner", 10: "Supplier", 11: "Vendor", 12: "Other"},
                 **_STATE_OPTIONS},
    ),
    _table(
        logical_name="contact", entity_set="contacts", primary_id="contactid", primary_name="fullname",
        columns={
            "firstname": "string", "middlename": "string", "lastname": "string", "jobtitle": "string",
            "emailaddress1": "string", "telephone1": "string", "mobilephone": "string", "fax": "string",
            "pager": "string", "websiteurl": "string", **_ADDRESS, "description": "string", **_STATE,
        },
        lookups=(_CURRENCY, Lookup("parentcustomerid", ("account", "contact"))),
        change_tracking=True, computed=("fullname",), default_currency=True, options=dict(_STATE_OPTIONS),
    ),
    _table(
        logical_name="transactioncurrency", entity_set="transactioncurrencies",
        primary_id="transactioncurrencyid", primary_name="currencyname",
        columns={"isocurrencycode": "string", "currencyname": "string", "currencysymbol": "string",
                 "exchangerate": "money", "currencyprecision": "int", **_STATE},
        alternate_keys=("isocurrencycode",), options=dict(_STATE_OPTIONS),
    ),
    _table(
        logical_name="product", entity_set="products", primary_id="productid", primary_name="name",
        columns={"productnumber": "string", "name": "string", "description": "string", "price": "money",
                 "standardcost": "money", "currentcost": "money", "quantityonhand": "money",
                 "producttypecode": "option", **_STATE},
        lookups=(_CURRENCY,), alternate_keys=("productnumber",), change_tracking=True, default_currency=True,
        options={"producttypecode": {1: "Sales Inventory", 2: "Miscellaneous Charges", 3: "Services",
                                     4: "Flat Fees"},
                 "statecode": {0: "Active", 1: "Retired", 2: "Draft", 3: "Under Revision"},
                 "statuscode": {1: "Active", 2: "Retired", 0: "Draft", 3: "Under Revision"}},
    ),
    _table(
        # Read-only here: Koppel asks for the base currency (Dataverse's LCY, BC's blank currency code).
        logical_name="organization", entity_set="organizations", primary_id="organizationid", primary_name="name",
        columns={"name": "string"}, lookups=(Lookup("basecurrencyid", ("transactioncurrency",)),),
    ),
    _table(
        logical_name="systemuser", entity_set="systemusers", primary_id="systemuserid", primary_name="fullname",
        columns={"fullname": "string", "firstname": "string", "lastname": "string",
                 "internalemailaddress": "string", "domainname": "string", "isdisabled": "bool",
                 "islicensed": "bool", "applicationid": "guid", "accessmode": "option"},
        options={"accessmode": {0: "Read-Write", 4: "Non-interactive"}},
    ),
)}

BY_SET: dict[str, Table] = {t.entity_set: t for t in TABLES.values()}


def table_for(name: str) -> Table | None:
    """A table by entity set or logical name (the admin surface accepts both)."""
    return BY_SET.get(name) or TABLES.get(name)
