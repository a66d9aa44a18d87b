"""The Couplings table's rows: keys and the one `to_entity`/`from_entity` pair (DESIGN decision 2).

`erp|<erpId>` is the state row (every Coupling field); `crm|<crmId>` is a pointer back to it.
"""
from __future__ import annotations

from typing import Any

from core.model import Coupling, ErrorCategory
from core.store._tables import dumps, from_utc, key, loads, to_utc

__all__ = ["STATE", "POINTER", "state_key", "pointer_key", "to_entity", "pointer_entity", "from_entity", "state_range"]

STATE, POINTER = "erp|", "crm|"
_LAST_ERROR_MAX = 8_000  # a string property holds at most 64 KiB (32 K UTF-16 chars); keep the row small


def state_key(erp_id: str) -> str:
    return STATE + key(erp_id)


def pointer_key(crm_id: str) -> str:
    return POINTER + key(crm_id)


def state_range(mapping: str) -> dict[str, Any]:
    """Parameters for `range_filter()`: '}' follows '|' in ASCII, so [erp|, erp}) is exactly the state rows."""
    return {"pk": key(mapping), "lo": STATE, "hi": STATE[:-1] + "}"}


def _dt(value: Any) -> Any:
    return None if value is None else to_utc(value)


def to_entity(c: Coupling) -> dict[str, Any]:
    """The state row. None columns are left out by the SDK, so a REPLACE removes them."""
    return {
        "PartitionKey": key(c.mapping), "RowKey": state_key(c.erp_id), "Mapping": c.mapping,
        "ErpId": c.erp_id, "CrmId": c.crm_id,
        "ErpModifiedOn": _dt(c.erp_modified_on), "CrmModifiedOn": _dt(c.crm_modified_on),
        "FieldHashes": dumps(dict(c.field_hashes)),
        "ErpResult": c.erp_result, "CrmResult": c.crm_result, "ErpJobId": c.erp_job_id, "CrmJobId": c.crm_job_id,
        # Always written: `Skipped eq false` must match rows that were never skipped.
        "Skipped": c.skipped,
        "LastError": c.last_error[:_LAST_ERROR_MAX] if c.last_error else c.last_error,
        "LastErrorCategory": c.last_error_category.value if c.last_error_category else None,
        "LastErrorKey": c.last_error_key,
        "ErrorCount": c.error_count, "CoupledOn": _dt(c.coupled_on),
    }


def pointer_entity(c: Coupling) -> dict[str, Any]:
    return {"PartitionKey": key(c.mapping), "RowKey": pointer_key(c.crm_id), "ErpId": c.erp_id, "CrmId": c.crm_id}


def from_entity(e: Any) -> Coupling:
    category = e.get("LastErrorCategory")
    return Coupling(
        mapping=e["Mapping"], erp_id=e["ErpId"], crm_id=e["CrmId"],
        erp_modified_on=from_utc(e.get("ErpModifiedOn")), crm_modified_on=from_utc(e.get("CrmModifiedOn")),
        field_hashes=loads(e.get("FieldHashes"), {}),
        erp_result=e.get("ErpResult"), crm_result=e.get("CrmResult"),
        erp_job_id=e.get("ErpJobId"), crm_job_id=e.get("CrmJobId"),
        skipped=bool(e.get("Skipped", False)), last_error=e.get("LastError"),
        last_error_category=ErrorCategory(category) if category else None, last_error_key=e.get("LastErrorKey"),
        error_count=int(e.get("ErrorCount", 0)), coupled_on=from_utc(e.get("CoupledOn")),
        etag=e.metadata["etag"],
    )
