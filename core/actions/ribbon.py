"""Synchronize one record from the CRM ribbon (F4, bc-behaviour §2.11).

Coupled: synchronize fromCrm and answer the ERP record with a web-client link. Not coupled: create
the ERP record and couple it, but only where the mapping allows it (bidirectional or fromCrm, and
`syncOnlyCoupled` off); otherwise refuse with a reason a salesperson understands.
"""
from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from core.commands import CrmSyncCommand
from core.deps import Deps
from core.errors import Conflict, NotFound
from core.i18n import choose_language, text
from core.model import Direction, Mapping, Side
from core.sync.record_lock import one_at_a_time
from core.sync.record import create_counterpart, run_passes
from core.sync.loading import load_mapping, read_one

__all__ = ["RibbonAnswer", "sync_from_crm", "erp_url"]

# Business Central pages that show one record of each API entity (the web client's `page=` number).
_ERP_PAGES = {"customers": 21, "vendors": 26, "contacts": 5050, "items": 30, "currencies": 5}
# Dataverse `customertypecode` of an account decides between the CUSTOMER and VENDOR mappings.
_VENDOR_TYPE = 11


@dataclass(frozen=True, slots=True)
class RibbonAnswer:
    erp_id: str
    erp_url: str
    action: str  # "synchronized", "unchanged" or "created"
    mapping: str


def erp_url(deps: Deps, mapping: Mapping, erp_id: str) -> str:
    cfg = deps.settings.erp()
    page = _ERP_PAGES.get(mapping.erp_entity, 21)
    filter_text = quote(f"'SystemId' IS '{erp_id}'")
    return f"{cfg.web_client_url.rstrip('/')}/{cfg.tenant_id}/{cfg.environment}?page={page}&filter={filter_text}"


def _mapping_for(deps: Deps, cmd: CrmSyncCommand, lang: str) -> Mapping:
    candidates = [m for m in deps.storage().mappings.list() if m.crm_table == cmd.entity]
    if not candidates:
        raise Conflict(text("ribbon.no-mapping", lang), reason="noMapping", field="entity")
    if len(candidates) == 1:
        return candidates[0]
    probe = candidates[0]
    row = deps.crm().get(probe.crm_entity, probe.crm_id_field, cmd.crm_id, ["customertypecode"])
    if row is None:
        raise NotFound(f"Dataverse has no {cmd.entity} row {cmd.crm_id}.", field="crmId")
    wanted = "VENDOR" if row.fields.get("customertypecode") == _VENDOR_TYPE else "CUSTOMER"
    return next((m for m in candidates if m.name == wanted), candidates[0])


def sync_from_crm(cmd: CrmSyncCommand, deps: Deps, accept_language: str | None) -> RibbonAnswer:
    """F4: the ribbon's "Business Central" action.

    Raises:
        NotFound: the CRM row does not exist.
        Conflict: the record cannot be synchronized from here; the message says why in the caller's language.
    """
    lang = choose_language(accept_language)
    deps.settings.erp()
    mapping = load_mapping(deps, _mapping_for(deps, cmd, lang).name)
    if mapping.paused:
        raise Conflict(text("ribbon.paused", lang), reason="paused")
    coupling = deps.storage().couplings.crm_to_erp(mapping.name, cmd.crm_id)
    # One ribbon or sync-now call per record at a time (core.sync.record_lock); read again under the lock.
    with one_at_a_time(deps, mapping.name, *((Side.ERP, coupling.erp_id) if coupling else (Side.CRM, cmd.crm_id))):
        return _sync_or_create(cmd, deps, mapping, lang)


def _sync_or_create(cmd: CrmSyncCommand, deps: Deps, mapping: Mapping, lang: str) -> RibbonAnswer:
    coupling = deps.storage().couplings.crm_to_erp(mapping.name, cmd.crm_id)
    if coupling is not None:
        if not mapping.direction.allows(Direction.FROM_CRM):
            return RibbonAnswer(coupling.erp_id, erp_url(deps, mapping, coupling.erp_id), "unchanged", mapping.name)
        outcome = run_passes(deps, mapping, coupling, (Direction.FROM_CRM,), force=False)
        action = "unchanged" if outcome.action == "unchanged" else "synchronized"
        return RibbonAnswer(coupling.erp_id, erp_url(deps, mapping, coupling.erp_id), action, mapping.name)
    if not mapping.direction.allows(Direction.FROM_CRM):
        raise Conflict(text("ribbon.direction-to-crm-only", lang), reason="directionNotAllowed")
    if mapping.sync_only_coupled:
        raise Conflict(text("ribbon.not-coupled-only-coupled", lang), reason="notCoupled")
    source = read_one(deps, mapping, Side.CRM, cmd.crm_id)
    if source is None:
        raise NotFound(f"Dataverse has no {cmd.entity} row {cmd.crm_id}.", field="crmId")
    created = create_counterpart(deps, mapping, source, None, Direction.FROM_CRM)
    return RibbonAnswer(created.erp_id, erp_url(deps, mapping, created.erp_id), "created", mapping.name)
