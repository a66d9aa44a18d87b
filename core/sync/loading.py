"""What every run and use case reads first: its mapping (F1: both sides configured) and its source records."""
from __future__ import annotations

from collections.abc import Sequence

from core.deps import Deps
from core.errors import NotFound
from core.model import Mapping, Record, Side

__all__ = ["load_mapping", "read_one", "read_records"]


def load_mapping(deps: Deps, name: str) -> Mapping:
    """The mapping by name, or NotFound naming the request's `mapping` field."""
    deps.settings.erp()  # F1: coupling and sync need both sides configured (503 naming the setting)
    deps.settings.crm()
    try:
        return deps.storage().mappings.get(name)
    except NotFound:
        raise NotFound(f"There is no mapping named {name}.", field="mapping") from None


def read_one(deps: Deps, mapping: Mapping, side: Side, record_id: str) -> Record | None:
    if side is Side.ERP:
        return deps.erp().get(mapping.erp_entity, record_id, mapping.source_fields(Side.ERP))
    return deps.crm().get(mapping.crm_entity, mapping.crm_id_field, record_id, mapping.source_fields(Side.CRM))


def read_records(deps: Deps, mapping: Mapping, side: Side, ids: Sequence[str]) -> dict[str, Record]:
    """Read records of one side by id, in bulk (never one request per id)."""
    if not ids:
        return {}
    if side is Side.ERP:
        return deps.erp().read_by_ids(mapping.erp_entity, list(ids), mapping.source_fields(Side.ERP))
    return deps.crm().read_by_ids(mapping.crm_entity, mapping.crm_id_field, list(ids), mapping.source_fields(Side.CRM))
