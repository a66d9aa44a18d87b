"""The five default mappings of SPEC §3: bc-behaviour §3's field lists in API v2.0 and Dataverse Web API names.

Choices beyond Business Central's own defaults, and why:
 - CUSTOMER/VENDOR `number → accountnumber` ships ENABLED (BC ships it disabled) with match priority 0:
   `number` is BC's unique key and `accountnumber` is an alternate key on accounts, so it is the one
   unambiguous match field (name comes second, priority 1). Where customer and vendor number series
   overlap (both start at 10000 in many tenants), give VENDOR a `prefix:` transform, or the alternate
   key refuses the second account.
 - CONTACT names: API v2.0 contacts have only `displayName`; Dataverse splits first/last name and derives
   `fullname`. toCrm writes displayName to `lastname` and clears `firstname`; fromCrm reads `fullname`.
   A name typed in either system survives a round trip as one full name, with no ping-pong.
 - CONTACT company: a person contact names its company by `companyNumber` (a number, not an id), so the
   lookup is `"CUSTOMER|VENDOR:number"` (`core.sync.lookup_fill`): toCrm reads the CUSTOMER (then VENDOR) records whose
   `number` is that value in one `number eq … or …` request per ≤ 100 values and follows their couplings;
   fromCrm follows the account's coupling and reads the coupled record's `number`. In real BC `companyNumber`
   is the number of the company CONTACT, linked to the customer by a contact business relation (API v2.0
   `contactsInformation`); the BC emulator exposes no such link, so Koppel's rule is: a company contact belongs
   to the customer or vendor with the SAME number (create the company contact under the customer's number).
   An uncoupled or unknown company fails the person as dependency (or clears the company, clear-on-failure).
Only fields both emulators serve are mapped (emulators/bc/entities.py, emulators/dataverse/schema.py).
"""
from __future__ import annotations

from core.model import Direction, FieldMapping, Mapping, Schedule

__all__ = ["default_mappings", "CUSTOMER_TYPE", "VENDOR_TYPE", "SALES_INVENTORY"]

TO_CRM, FROM_CRM, BOTH = Direction.TO_CRM, Direction.FROM_CRM, Direction.BIDIRECTIONAL
CUSTOMER_TYPE = 3  # account.customertypecode "Customer"
VENDOR_TYPE = 11  # account.customertypecode "Vendor"
SALES_INVENTORY = 1  # product.producttypecode "Sales Inventory"


def _address() -> tuple[FieldMapping, ...]:
    return (
        FieldMapping("addressLine1", "address1_line1"),
        FieldMapping("addressLine2", "address1_line2"),
        FieldMapping("city", "address1_city"),
        FieldMapping("postalCode", "address1_postalcode"),
        FieldMapping("country", "address1_country"),
        FieldMapping("state", "address1_stateorprovince"),
    )


def _account_fields(type_code: int) -> tuple[FieldMapping, ...]:
    return (
        FieldMapping(None, "customertypecode", TO_CRM, constant=type_code),
        FieldMapping("number", "accountnumber", TO_CRM, match_priority=0),
        FieldMapping("displayName", "name", match_priority=1),
        *_address(),
        FieldMapping("phoneNumber", "telephone1"),
        FieldMapping("email", "emailaddress1"),
        FieldMapping("website", "websiteurl"),
        FieldMapping("currencyId", "transactioncurrencyid", lookup="CURRENCY"),
    )


def default_mappings() -> tuple[Mapping, ...]:
    """The default mappings, in dependency order (CURRENCY before CUSTOMER before CONTACT, F13)."""
    currency = Mapping(
        name="CURRENCY", erp_entity="currencies", crm_entity="transactioncurrencies",
        crm_table="transactioncurrency", crm_id_field="transactioncurrencyid", direction=TO_CRM,
        field_mappings=(
            FieldMapping("code", "isocurrencycode", TO_CRM, match_priority=0),
            FieldMapping("symbol", "currencysymbol", TO_CRM),
            FieldMapping("displayName", "currencyname", TO_CRM),
        ),
        create_new_on_no_match=True,
        schedule=Schedule(30, 720),
    )
    customer = Mapping(
        name="CUSTOMER", erp_entity="customers", crm_entity="accounts", crm_table="account",
        crm_id_field="accountid", direction=BOTH,
        field_mappings=(*_account_fields(CUSTOMER_TYPE), FieldMapping("creditLimit", "creditlimit", TO_CRM)),
        erp_filter="blocked eq ' '",
        crm_filter=f"statecode eq 0 and customertypecode eq {CUSTOMER_TYPE}",
        schedule=Schedule(30, 720),
        depends_on=("CURRENCY",),
    )
    vendor = Mapping(
        name="VENDOR", erp_entity="vendors", crm_entity="accounts", crm_table="account",
        crm_id_field="accountid", direction=BOTH,
        field_mappings=_account_fields(VENDOR_TYPE),
        crm_filter=f"statecode eq 0 and customertypecode eq {VENDOR_TYPE}",
        schedule=Schedule(30, 720),
        depends_on=("CURRENCY",),
    )
    contact = Mapping(
        name="CONTACT", erp_entity="contacts", crm_entity="contacts", crm_table="contact",
        crm_id_field="contactid", direction=BOTH,
        field_mappings=(
            FieldMapping("type", None, FROM_CRM, constant="Person"),
            FieldMapping("displayName", "lastname", TO_CRM),
            FieldMapping(None, "firstname", TO_CRM, constant=""),
            FieldMapping("displayName", "fullname", FROM_CRM, match_priority=0),
            FieldMapping("jobTitle", "jobtitle"),
            FieldMapping("email", "emailaddress1", match_priority=1),
            FieldMapping("phoneNumber", "telephone1"),
            FieldMapping("mobilePhoneNumber", "mobilephone"),
            FieldMapping("website", "websiteurl"),
            *_address(),
            FieldMapping("companyNumber", "parentcustomerid", lookup="CUSTOMER|VENDOR:number"),
        ),
        erp_filter="type eq 'Person' and companyNumber ne ''",
        crm_filter="statecode eq 0 and _parentcustomerid_value ne null",
        schedule=Schedule(30, 720),
        depends_on=("CUSTOMER", "VENDOR"),
    )
    item = Mapping(
        name="ITEM-PRODUCT", erp_entity="items", crm_entity="products", crm_table="product",
        crm_id_field="productid", direction=BOTH,
        field_mappings=(
            FieldMapping("number", "productnumber", TO_CRM, match_priority=0),
            FieldMapping("displayName", "name"),
            FieldMapping("unitPrice", "price", TO_CRM),
            FieldMapping("unitCost", "standardcost", TO_CRM),
            FieldMapping(None, "producttypecode", TO_CRM, constant=SALES_INVENTORY),
        ),
        erp_filter="blocked eq false",
        crm_filter=f"statecode eq 0 and producttypecode eq {SALES_INVENTORY}",
        schedule=Schedule(30, 720),
    )
    return (currency, customer, vendor, contact, item)
