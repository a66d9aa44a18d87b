"""The EntityDefinitions reads the official SDK makes (api-facts §C.1 "Hidden calls"): table lookup by
logical name, attributes, picklist option sets and alternate keys. Read-only; no customisation.
"""
from __future__ import annotations

import re
from typing import Any

from emulators.dataverse.errors import BadRequest, ObjectDoesNotExist
from emulators.dataverse.schema import TABLES, Table, metadata_id

__all__ = ["read_metadata"]

_ATTR_TYPES = {"string": "String", "int": "Integer", "money": "Money", "bool": "Boolean", "option": "Picklist",
               "guid": "Uniqueidentifier"}
_ODATA_TYPES = {"Picklist": "PicklistAttributeMetadata", "String": "StringAttributeMetadata",
                "Integer": "IntegerAttributeMetadata", "Money": "MoneyAttributeMetadata",
                "Boolean": "BooleanAttributeMetadata", "Uniqueidentifier": "UniqueIdentifierAttributeMetadata",
                "Lookup": "LookupAttributeMetadata", "DateTime": "DateTimeAttributeMetadata",
                "BigInt": "BigIntAttributeMetadata"}


def _entity(t: Table) -> dict[str, Any]:
    return {
        "MetadataId": metadata_id(t.logical_name), "LogicalName": t.logical_name,
        "SchemaName": t.logical_name.capitalize(), "EntitySetName": t.entity_set,
        "PrimaryIdAttribute": t.primary_id, "PrimaryNameAttribute": t.primary_name,
        "ChangeTrackingEnabled": t.change_tracking, "IsOptimisticConcurrencyEnabled": True,
        "IsCustomEntity": False, "TableType": "Standard", "ObjectTypeCode": 0,
        "DisplayName": {"LocalizedLabels": [{"Label": t.logical_name.capitalize(), "LanguageCode": 1033}]},
    }


def _attributes(t: Table) -> list[dict[str, Any]]:
    kinds: dict[str, str] = {t.primary_id: "Uniqueidentifier"}
    kinds.update({c: _ATTR_TYPES[k] for c, k in t.columns.items()})
    kinds.update({c: "String" for c in t.computed})
    kinds.update({lk.attribute: "Lookup" for lk in t.lookups})
    kinds.update({"createdon": "DateTime", "modifiedon": "DateTime", "createdby": "Lookup", "modifiedby": "Lookup",
                  "versionnumber": "BigInt"})
    out = []
    for name, kind in kinds.items():
        attr: dict[str, Any] = {
            "@odata.type": f"#Microsoft.Dynamics.CRM.{_ODATA_TYPES[kind]}",
            "MetadataId": metadata_id(t.logical_name, name), "LogicalName": name, "SchemaName": name,
            "AttributeType": kind, "IsPrimaryId": name == t.primary_id, "IsPrimaryName": name == t.primary_name,
            "IsValidForCreate": name in t.columns or kind == "Lookup", "IsCustomAttribute": False,
        }
        if name in t.options:
            attr["OptionSet"] = {"Options": [
                {"Value": v, "Label": {"LocalizedLabels": [{"Label": label, "LanguageCode": 1033}],
                                       "UserLocalizedLabel": {"Label": label, "LanguageCode": 1033}}}
                for v, label in t.options[name].items()]}
        out.append(attr)
    return out


def _keys(t: Table) -> list[dict[str, Any]]:
    return [{"MetadataId": metadata_id(t.logical_name, "key", k), "LogicalName": f"{k}_key",
             "SchemaName": f"{k}_key", "KeyAttributes": [k], "EntityLogicalName": t.logical_name,
             "EntityKeyIndexStatus": "Active"} for k in t.alternate_keys]


def _select(item: dict[str, Any], select: str | None) -> dict[str, Any]:
    if not select:
        return item
    names = {s.strip() for s in select.split(",")} | {"MetadataId", "@odata.type"}
    return {k: v for k, v in item.items() if k in names}


def _find(selector: str) -> Table:
    m = re.fullmatch(r"LogicalName='([^']*)'", selector)
    for t in TABLES.values():
        if (m and m.group(1).lower() == t.logical_name) or selector.lower() == metadata_id(t.logical_name):
            return t
    raise ObjectDoesNotExist(f"Could not find an entity with {selector}.")


def read_metadata(rest: str, query: dict[str, str], base: str) -> dict[str, Any]:
    """Answer `EntityDefinitions…` (the path after the API prefix)."""
    context = f"{base}/api/data/v9.2/$metadata#EntityDefinitions"
    select = query.get("$select")
    if rest == "EntityDefinitions":
        items = [_entity(t) for t in TABLES.values()]
        flt = query.get("$filter", "")
        if flt:
            m = re.fullmatch(r"\s*(LogicalName|EntitySetName|SchemaName)\s+eq\s+'([^']*)'\s*", flt)
            if not m:
                raise BadRequest("The emulator filters EntityDefinitions by one 'Name eq value' only.")
            items = [i for i in items if str(i[m.group(1)]).lower() == m.group(2).replace("''", "'").lower()]
        return {"@odata.context": context, "value": [_select(i, select) for i in items]}
    m = re.fullmatch(r"EntityDefinitions\(([^)]*)\)(?:/(Attributes|Keys)(?:/Microsoft\.Dynamics\.CRM\.(\w+))?)?", rest)
    if not m:
        raise ObjectDoesNotExist(f"Resource not found for the segment '{rest}'.")
    table = _find(m.group(1))
    if m.group(2) is None:
        return {"@odata.context": f"{context}/$entity", **_select(_entity(table), select)}
    if m.group(2) == "Keys":
        return {"@odata.context": f"{context}({metadata_id(table.logical_name)})/Keys", "value": _keys(table)}
    attrs = _attributes(table)
    if m.group(3):
        attrs = [a for a in attrs if a["@odata.type"] == f"#Microsoft.Dynamics.CRM.{m.group(3)}"]
    if "$expand" not in query:
        attrs = [{k: v for k, v in a.items() if k != "OptionSet"} for a in attrs]
    return {"@odata.context": f"{context}({metadata_id(table.logical_name)})/Attributes",
            "value": [_select(a, select) | ({"OptionSet": a["OptionSet"]} if "OptionSet" in a else {})
                      for a in attrs]}
