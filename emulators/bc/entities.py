"""The BC API v2.0 entity shapes the emulator serves: fields, types, lengths, read-only flags, number series.

Field lists follow api-facts §B.2 (BC `api-reference/v2.0/resources/dynamics_*.md`); string lengths are
the BC table field lengths behind each API field, as `Application_StringExceededLength` enforces them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Field", "EntitySpec", "ENTITIES", "FIELD_MAPS", "BLANK_GUID", "BLANK_DATE", "blank_record"]

BLANK_GUID = "00000000-0000-0000-0000-000000000000"
BLANK_DATE = "0001-01-01"


@dataclass(frozen=True, slots=True)
class Field:
    """One property; `kind` is str | guid | enum | bool | decimal | date | datetime."""

    name: str
    kind: str = "str"
    max_len: int = 0
    choices: tuple[str, ...] = ()
    read_only: bool = False

    @property
    def edm_type(self) -> str:
        return {"str": "Edm.String", "guid": "Edm.Guid", "bool": "Edm.Boolean", "decimal": "Edm.Decimal",
                "date": "Edm.Date", "datetime": "Edm.DateTimeOffset", "enum": "Edm.String"}[self.kind]

    def blank(self) -> Any:
        if self.kind == "guid":
            return BLANK_GUID
        if self.kind == "bool":
            return False
        if self.kind == "decimal":
            return 0
        if self.kind == "date":
            return BLANK_DATE
        if self.kind == "enum":
            return self.choices[0]
        return ""


@dataclass(frozen=True, slots=True)
class EntitySpec:
    """An entity set: its fields in wire order, its key field and number series, webhook support."""

    set_name: str  # customers
    type_name: str  # customer (the OData type is Microsoft.NAV.customer)
    caption: str  # Customer (BC's table caption, used in messages)
    key_field: str  # number, or code for currencies
    key_caption: str  # No. / Code
    series_prefix: str  # "" when the key must be given (currencies)
    series_digits: int
    fields: tuple[Field, ...]
    webhooks: bool  # api-facts §B.6: contacts is not a supported webhook resource

    def field_map(self) -> dict[str, Field]:
        return {f.name: f for f in self.fields}


def _s(name: str, max_len: int) -> Field:
    return Field(name, "str", max_len)


_ID = Field("id", "guid", read_only=True)
_MODIFIED = Field("lastModifiedDateTime", "datetime", read_only=True)
_ADDRESS = (_s("addressLine1", 100), _s("addressLine2", 50), _s("city", 30), _s("state", 30),
            _s("country", 10), _s("postalCode", 20))

CUSTOMER = EntitySpec(
    "customers", "customer", "Customer", "number", "No.", "C", 6,
    (
        _ID, _s("number", 20), _s("displayName", 100), Field("type", "enum", choices=("Company", "Person")),
        *_ADDRESS, _s("phoneNumber", 30), _s("email", 80), _s("website", 80), _s("salespersonCode", 20),
        Field("balanceDue", "decimal", read_only=True), Field("creditLimit", "decimal"), Field("taxLiable", "bool"),
        Field("taxAreaId", "guid"), Field("taxAreaDisplayName", "str", 100, read_only=True),
        _s("taxRegistrationNumber", 20), Field("currencyId", "guid"), _s("currencyCode", 10),
        Field("paymentTermsId", "guid"), Field("shipmentMethodId", "guid"), Field("paymentMethodId", "guid"),
        Field("blocked", "enum", choices=(" ", "Ship", "Invoice", "All")), _MODIFIED,
    ),
    webhooks=True,
)

VENDOR = EntitySpec(
    "vendors", "vendor", "Vendor", "number", "No.", "V", 6,
    (
        _ID, _s("number", 20), _s("displayName", 100), *_ADDRESS, _s("phoneNumber", 30), _s("email", 80),
        _s("website", 80), _s("taxRegistrationNumber", 20), Field("currencyId", "guid"), _s("currencyCode", 10),
        _s("irs1099Code", 10), Field("paymentTermsId", "guid"), Field("paymentMethodId", "guid"),
        Field("taxLiable", "bool"), Field("blocked", "enum", choices=(" ", "Payment", "All")),
        Field("balance", "decimal", read_only=True), _MODIFIED,
    ),
    webhooks=True,
)

CONTACT = EntitySpec(
    "contacts", "contact", "Contact", "number", "No.", "CT", 6,
    (
        _ID, _s("number", 20), Field("type", "enum", choices=("Company", "Person")), _s("displayName", 100),
        _s("jobTitle", 30), _s("companyNumber", 20), Field("companyName", "str", 100, read_only=True),
        Field("contactBusinessRelation", "enum", read_only=True,
              choices=("None", "Customer", "Vendor", "Bank Account", "Employee", "Multiple", "Other")),
        *_ADDRESS, _s("phoneNumber", 30), _s("mobilePhoneNumber", 30), _s("email", 80), _s("website", 80),
        _s("searchName", 100), Field("privacyBlocked", "bool"), _s("taxRegistrationNumber", 20),
        Field("lastInteractionDate", "date", read_only=True), _MODIFIED,
    ),
    webhooks=False,
)

ITEM = EntitySpec(
    "items", "item", "Item", "number", "No.", "I", 6,
    (
        _ID, _s("number", 20), _s("displayName", 100), _s("displayName2", 50),
        Field("type", "enum", choices=("Inventory", "Service", "Non-Inventory")),
        Field("itemCategoryId", "guid"), _s("itemCategoryCode", 20), Field("blocked", "bool"), _s("gtin", 14),
        Field("inventory", "decimal", read_only=True), Field("unitPrice", "decimal"),
        Field("priceIncludesTax", "bool"), Field("unitCost", "decimal"), Field("taxGroupId", "guid"),
        _s("taxGroupCode", 20), Field("baseUnitOfMeasureId", "guid"), _s("baseUnitOfMeasureCode", 10),
        Field("generalProductPostingGroupId", "guid"), _s("generalProductPostingGroupCode", 20),
        Field("inventoryPostingGroupId", "guid"), _s("inventoryPostingGroupCode", 20), _MODIFIED,
    ),
    webhooks=True,
)

CURRENCY = EntitySpec(
    "currencies", "currency", "Currency", "code", "Code", "", 0,
    (
        _ID, _s("code", 10), _s("displayName", 30), _s("symbol", 10), _s("amountDecimalPlaces", 5),
        Field("amountRoundingPrecision", "decimal"), _MODIFIED,
    ),
    webhooks=True,
)

ENTITIES: dict[str, EntitySpec] = {e.set_name: e for e in (CUSTOMER, VENDOR, CONTACT, ITEM, CURRENCY)}


_BLANKS = {name: {f.name: f.blank() for f in spec.fields} for name, spec in ENTITIES.items()}
FIELD_MAPS: dict[str, dict[str, Field]] = {name: spec.field_map() for name, spec in ENTITIES.items()}


def blank_record(spec: EntitySpec) -> dict[str, Any]:
    """Every field at BC's blank value (BC has no nulls: '', 0, false, the zero GUID, 0001-01-01)."""
    return dict(_BLANKS[spec.set_name])
