"""Commands: what a caller asks of Koppel, parsed and validated from request JSON.

Parsing is strict and names the field at fault (`InvalidInput(field=...)`), so a bad request
changes nothing and tells the person exactly what to fix.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from core.errors import InvalidInput
from core.model import Direction, SyncDirection

__all__ = [
    "CoupleCommand", "SyncCommand", "CrmSyncCommand", "parse_couple", "parse_sync", "parse_crm_sync",
    "require_guid", "require_mapping_name", "parse_object", "parse_ids", "PageQuery", "parse_page_query",
]

GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
MAPPING_NAME = re.compile(r"^[A-Z0-9][A-Z0-9_-]{0,19}$")
E = TypeVar("E")


def require_guid(value: Any, field: str) -> str:
    if not isinstance(value, str) or not GUID.fullmatch(value.strip("{}")):
        raise InvalidInput(field, f"{field} must be a GUID such as 6f9619ff-8b86-d011-b42d-00c04fc964ff.")
    return value.strip("{}").lower()


def require_mapping_name(value: Any, field: str = "mapping") -> str:
    if not isinstance(value, str) or not MAPPING_NAME.fullmatch(value.upper()):
        raise InvalidInput(field, f"{field} must be a mapping name such as CUSTOMER (letters, digits, - and _, at most 20).")
    return value.upper()


def parse_object(body: Any, allowed: set[str], required: set[str]) -> Mapping[str, Any]:
    if not isinstance(body, dict):
        raise InvalidInput("", "The request body must be a JSON object.")
    for key in body:
        if key not in allowed:
            raise InvalidInput(key, f"{key} is not a known field here; expected one of {', '.join(sorted(allowed))}.")
    for key in sorted(required):
        if body.get(key) is None:
            raise InvalidInput(key, f"{key} is required.")
    return body


def _enum(cls: type[E], value: Any, field: str) -> E:
    try:
        return cls(value)  # type: ignore[call-arg]
    except ValueError:
        choices = ", ".join(m.value for m in cls)  # type: ignore[attr-defined]
        raise InvalidInput(field, f"{field} must be one of {choices}.") from None


def parse_ids(value: Any, field: str, limit: int = 100_000) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise InvalidInput(field, f"{field} must be a non-empty list of GUIDs.")
    if len(value) > limit:
        raise InvalidInput(field, f"{field} may hold at most {limit} ids.")
    ids = tuple(require_guid(v, f"{field}[{i}]") for i, v in enumerate(value))
    return tuple(dict.fromkeys(ids))


@dataclass(frozen=True, slots=True)
class CoupleCommand:
    mapping: str
    erp_id: str
    crm_id: str | None
    create_new: bool
    sync: Direction | None  # None = no sync after coupling


def parse_couple(body: Any) -> CoupleCommand:
    data = parse_object(body, {"mapping", "erpId", "crmId", "createNew", "sync"}, {"mapping", "erpId"})
    create_new = data.get("createNew", False)
    if not isinstance(create_new, bool):
        raise InvalidInput("createNew", "createNew must be true or false.")
    crm = data.get("crmId")
    if create_new and crm is not None:
        raise InvalidInput("crmId", "Give either crmId or createNew: true, not both.")
    if not create_new and crm is None:
        raise InvalidInput("crmId", "crmId is required unless createNew is true.")
    sync = data.get("sync", "none")
    if sync not in ("none", "toCrm", "fromCrm"):
        raise InvalidInput("sync", "sync must be one of none, toCrm, fromCrm.")
    return CoupleCommand(
        mapping=require_mapping_name(data["mapping"]),
        erp_id=require_guid(data["erpId"], "erpId"),
        crm_id=require_guid(crm, "crmId") if crm is not None else None,
        create_new=create_new,
        sync=None if sync == "none" else Direction(sync),
    )


@dataclass(frozen=True, slots=True)
class SyncCommand:
    mapping: str
    erp_ids: tuple[str, ...]
    crm_ids: tuple[str, ...]
    direction: SyncDirection
    dry_run: bool


def parse_sync(body: Any) -> SyncCommand:
    data = parse_object(body, {"mapping", "erpIds", "crmIds", "direction", "dryRun"}, {"mapping"})
    if ("erpIds" in data) == ("crmIds" in data):
        raise InvalidInput("erpIds", "Give exactly one of erpIds or crmIds.")
    dry_run = data.get("dryRun", False)
    if not isinstance(dry_run, bool):
        raise InvalidInput("dryRun", "dryRun must be true or false.")
    return SyncCommand(
        mapping=require_mapping_name(data["mapping"]),
        erp_ids=parse_ids(data["erpIds"], "erpIds") if "erpIds" in data else (),
        crm_ids=parse_ids(data["crmIds"], "crmIds") if "crmIds" in data else (),
        direction=_enum(SyncDirection, data.get("direction", "auto"), "direction"),
        dry_run=dry_run,
    )


@dataclass(frozen=True, slots=True)
class CrmSyncCommand:
    entity: str
    crm_id: str


def parse_crm_sync(body: Any) -> CrmSyncCommand:
    data = parse_object(body, {"entity", "crmId"}, {"entity", "crmId"})
    entity = data["entity"]
    if not isinstance(entity, str) or not re.fullmatch(r"[a-z_]{1,64}", entity):
        raise InvalidInput("entity", "entity must be a Dataverse table name such as account or contact.")
    return CrmSyncCommand(entity=entity, crm_id=require_guid(data["crmId"], "crmId"))


@dataclass(frozen=True, slots=True)
class PageQuery:
    skipped: bool | None
    top: int
    continuation: str | None


def parse_page_query(params: Mapping[str, str]) -> PageQuery:
    """`?skipped=true&top=100&continuation=…` of the list routes."""
    skipped_text = params.get("skipped")
    if skipped_text not in (None, "true", "false"):
        raise InvalidInput("skipped", "skipped must be true or false.")
    top_text = params.get("top", "100")
    if not (top_text.isascii() and top_text.isdigit()) or not 1 <= int(top_text) <= 1000:
        raise InvalidInput("top", "top must be a whole number from 1 to 1000.")
    return PageQuery(
        skipped=None if skipped_text is None else skipped_text == "true",
        top=int(top_text),
        continuation=params.get("continuation") or None,
    )
