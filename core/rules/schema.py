"""The fields Koppel knows each entity has (API v2.0 entity sets, Dataverse tables), so a mapping that names
another field is refused on write (F7) instead of writing nothing at run time.

The lists follow the real APIs' standard fields as far as Koppel's emulators serve them; a field not listed
here is not one Koppel can read or write.
"""
from __future__ import annotations

from core.crm.lookups import LOOKUPS, PRIMARY_IDS

__all__ = ["BC_FIELDS", "DATAVERSE_COLUMNS", "crm_filter_columns"]

_ADDRESS = ("addressLine1", "addressLine2", "city", "state", "country", "postalCode")
_SYSTEM = ("id", "lastModifiedDateTime")

BC_FIELDS: dict[str, frozenset[str]] = {name: frozenset(fields + _SYSTEM) for name, fields in {
    "customers": ("number", "displayName", "type", *_ADDRESS, "phoneNumber", "email", "website", "salespersonCode",
                  "balanceDue", "creditLimit", "taxLiable", "taxAreaId", "taxAreaDisplayName",
                  "taxRegistrationNumber", "currencyId", "currencyCode", "paymentTermsId", "shipmentMethodId",
                  "paymentMethodId", "blocked"),
    "vendors": ("number", "displayName", *_ADDRESS, "phoneNumber", "email", "website", "taxRegistrationNumber",
                "currencyId", "currencyCode", "irs1099Code", "paymentTermsId", "paymentMethodId", "taxLiable",
                "blocked", "balance"),
    "contacts": ("number", "type", "displayName", "jobTitle", "companyNumber", "companyName",
                 "contactBusinessRelation", *_ADDRESS, "phoneNumber", "mobilePhoneNumber", "email", "website",
                 "searchName", "privacyBlocked", "taxRegistrationNumber", "lastInteractionDate"),
    "items": ("number", "displayName", "displayName2", "type", "itemCategoryId", "itemCategoryCode", "blocked",
              "gtin", "inventory", "unitPrice", "priceIncludesTax", "unitCost", "taxGroupId", "taxGroupCode",
              "baseUnitOfMeasureId", "baseUnitOfMeasureCode", "generalProductPostingGroupId",
              "generalProductPostingGroupCode", "inventoryPostingGroupId", "inventoryPostingGroupCode"),
    "currencies": ("code", "displayName", "symbol", "amountDecimalPlaces", "amountRoundingPrecision"),
}.items()}

_DV_ADDRESS = tuple(f"address1_{p}" for p in ("line1", "line2", "city", "postalcode", "country", "stateorprovince"))
_DV_SYSTEM = ("statecode", "statuscode", "createdon", "modifiedon", "versionnumber")

# Mapping fields name a lookup by its navigation name (core.crm.lookups); filters read it as `_<name>_value`.
DATAVERSE_COLUMNS: dict[str, frozenset[str]] = {name: frozenset(
    (*columns, *_DV_SYSTEM, PRIMARY_IDS[name], *LOOKUPS.get(name, {}))) for name, columns in {
    "accounts": ("name", "accountnumber", *_DV_ADDRESS, "address1_primarycontactname", "telephone1", "telephone2",
                 "fax", "emailaddress1", "websiteurl", "customertypecode", "creditlimit", "description"),
    "contacts": ("fullname", "firstname", "middlename", "lastname", "jobtitle", "emailaddress1", "telephone1",
                 "mobilephone", "fax", "pager", "websiteurl", *_DV_ADDRESS, "description"),
    "transactioncurrencies": ("isocurrencycode", "currencyname", "currencysymbol", "exchangerate",
                              "currencyprecision"),
    "products": ("productnumber", "name", "description", "price", "standardcost", "currentcost", "quantityonhand",
                 "producttypecode"),
    "systemusers": ("fullname", "firstname", "lastname", "internalemailaddress", "domainname", "isdisabled",
                    "islicensed", "applicationid", "accessmode"),
}.items()}


def crm_filter_columns(entity: str) -> frozenset[str]:
    """What a Dataverse $filter may name: the columns, lookups as `_<name>_value` (and the system lookups)."""
    lookups = {f"_{n}_value" for n in (*LOOKUPS.get(entity, {}), "createdby", "modifiedby", "ownerid")}
    return DATAVERSE_COLUMNS.get(entity, frozenset()) - set(LOOKUPS.get(entity, {})) | lookups
