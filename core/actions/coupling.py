"""Coupling records (F2) and uncoupling them (F6): the ERP extension's "Set up coupling" and "Delete coupling".

One ERP record couples to at most one CRM row per mapping and vice versa; the store makes that an
atomic constraint (two rows in one entity-group transaction), so concurrent requests cannot break it.
A coupling whose counterpart no longer exists may be replaced. Uncoupling never deletes a record.
"""
from __future__ import annotations

from dataclasses import dataclass

from core.commands import CoupleCommand, PageQuery
from core.deps import Deps
from core.errors import AlreadyCoupled, InvalidInput, NotFound
from core.model import Coupling, Direction, Mapping, Record, Side
from core.sync.record_lock import one_at_a_time
from core.sync.loading import load_mapping
from core.sync.record import SyncOutcome, create_counterpart, run_passes

__all__ = ["CoupleResult", "couple_record", "find_coupling", "list_couplings", "uncouple_record"]


@dataclass(frozen=True, slots=True)
class CoupleResult:
    coupling: Coupling
    created: bool
    sync: SyncOutcome | None = None


def _erp_record(deps: Deps, mapping: Mapping, erp_id: str) -> Record:
    record = deps.erp().get(mapping.erp_entity, erp_id, mapping.source_fields(Side.ERP))
    if record is None:
        raise NotFound(f"Business Central has no {mapping.erp_entity} record {erp_id}.", field="erpId")
    return record


def _crm_exists(deps: Deps, mapping: Mapping, crm_id: str) -> bool:
    return deps.crm().get(mapping.crm_entity, mapping.crm_id_field, crm_id, [mapping.crm_id_field]) is not None


def couple_record(cmd: CoupleCommand, deps: Deps) -> CoupleResult:
    """Couple an ERP record to an existing CRM row, or create the CRM row from it (F2).

    Raises:
        NotFound: the mapping or either record does not exist.
        AlreadyCoupled: either side is already coupled to a record that still exists (409).
    """
    mapping = load_mapping(deps, cmd.mapping)
    if cmd.create_new and not mapping.direction.allows(Direction.TO_CRM):
        raise InvalidInput("createNew", f"Mapping {mapping.name} synchronizes only fromCrm, so it cannot create CRM rows.")
    with one_at_a_time(deps, mapping.name, Side.ERP, cmd.erp_id):
        return _couple(cmd, deps, mapping)


def _couple(cmd: CoupleCommand, deps: Deps, mapping: Mapping) -> CoupleResult:
    store = deps.storage().couplings
    erp_record = _erp_record(deps, mapping, cmd.erp_id)
    if cmd.crm_id is not None and not _crm_exists(deps, mapping, cmd.crm_id):
        raise NotFound(f"Dataverse has no {mapping.crm_entity} row {cmd.crm_id}.", field="crmId")

    existing = store.erp_to_crm(mapping.name, cmd.erp_id)
    if existing is not None and _crm_exists(deps, mapping, existing.crm_id):
        raise AlreadyCoupled("erp", cmd.erp_id, mapping.name)
    if cmd.crm_id is not None:
        other = store.crm_to_erp(mapping.name, cmd.crm_id)
        if other is not None and other.erp_id != cmd.erp_id:
            if deps.erp().get(mapping.erp_entity, other.erp_id, ["id"]) is not None:
                raise AlreadyCoupled("crm", cmd.crm_id, mapping.name)
            store.uncouple(mapping.name, other.erp_id)  # bc-behaviour §1.3: a stale coupling is dropped

    if cmd.create_new:
        coupling = create_counterpart(deps, mapping, erp_record, existing, exclusive=True)
        created = True
    elif existing is not None:
        coupling = store.replace_crm(existing, cmd.crm_id or "")  # counterpart deleted: replace it
        created = False
    else:
        coupling = store.couple(Coupling(mapping.name, cmd.erp_id, cmd.crm_id or "", coupled_on=deps.clock()))
        created = False
    outcome = None
    if cmd.sync is not None and not cmd.create_new:
        outcome = run_passes(deps, mapping, coupling, (cmd.sync,), force=True)
        coupling = store.erp_to_crm(mapping.name, cmd.erp_id) or coupling
    return CoupleResult(coupling, created, outcome)


def find_coupling(mapping_name: str, deps: Deps, *, erp_id: str | None = None, crm_id: str | None = None) -> Coupling:
    mapping = load_mapping(deps, mapping_name)
    store = deps.storage().couplings
    found = store.erp_to_crm(mapping.name, erp_id) if erp_id else store.crm_to_erp(mapping.name, crm_id or "")
    if found is None:
        field = "erpId" if erp_id else "crmId"
        raise NotFound(f"No coupling for {field} {erp_id or crm_id} in mapping {mapping.name}.", field=field)
    return found


def list_couplings(mapping_name: str, query: PageQuery, deps: Deps) -> tuple[list[Coupling], str | None]:
    mapping = load_mapping(deps, mapping_name)
    return deps.storage().couplings.list_page(mapping.name, skipped=query.skipped, top=query.top,
                                              continuation=query.continuation)


def uncouple_record(mapping_name: str, erp_id: str, deps: Deps) -> Coupling:
    """Delete one coupling (both rows at once). Never touches either record.

    Raises:
        NotFound: the record is not coupled under this mapping.
    """
    mapping = load_mapping(deps, mapping_name)
    removed = deps.storage().couplings.uncouple(mapping.name, erp_id)
    if removed is None:
        raise NotFound(f"ERP record {erp_id} is not coupled in mapping {mapping.name}.", field="erpId")
    deps.storage().errors.delete_for_coupling(mapping.name, erp_id)
    return removed
