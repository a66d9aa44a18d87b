"""JSON shapes of the answers: core's dataclasses rendered for the wire, in one place."""
from __future__ import annotations

import datetime as dt
from typing import Any

from core.actions.coupling import CoupleResult
from core.model import Coupling
from core.actions.ribbon import RibbonAnswer
from core.sync.record import SyncOutcome

__all__ = ["coupling_json", "couple_result_json", "sync_outcome_json", "ribbon_json", "coupling_page_json"]


def _time(value: dt.datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def coupling_json(c: Coupling) -> dict[str, Any]:
    return {
        "mapping": c.mapping,
        "erpId": c.erp_id,
        "crmId": c.crm_id,
        "coupledOn": _time(c.coupled_on),
        "lastSynced": {"erpModifiedOn": _time(c.erp_modified_on), "crmModifiedOn": _time(c.crm_modified_on)},
        "lastResult": {"erp": c.erp_result, "crm": c.crm_result},
        "skipped": c.skipped,
        "lastError": ({"message": c.last_error, "category": c.last_error_category.value if c.last_error_category else None,
                       "repeated": c.error_count} if c.last_error else None),
    }


def sync_outcome_json(o: SyncOutcome) -> dict[str, Any]:
    return {
        "mapping": o.mapping,
        "erpId": o.erp_id,
        "crmId": o.crm_id,
        "action": o.action,
        "direction": o.direction,
        "passes": [{"direction": p.direction.value, "action": p.action.value, "changedFields": list(p.changed_fields),
                    "reason": p.reason} for p in o.passes],
    }


def couple_result_json(r: CoupleResult) -> dict[str, Any]:
    body = coupling_json(r.coupling)
    body["created"] = r.created
    if r.sync is not None:
        body["sync"] = sync_outcome_json(r.sync)
    return body


def coupling_page_json(page: tuple[list[Coupling], str | None]) -> dict[str, Any]:
    items, continuation = page
    return {"value": [coupling_json(c) for c in items], "continuation": continuation}


def ribbon_json(a: RibbonAnswer) -> dict[str, Any]:
    return {"erpId": a.erp_id, "erpUrl": a.erp_url, "action": a.action, "mapping": a.mapping}
