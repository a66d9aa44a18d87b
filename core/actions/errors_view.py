"""The Coupled Data Synchronization Errors view (F10, X11) and its actions: retry, synchronize, restore, delete coupling.

The view lists failed and skipped couplings with their latest error, a suggested action per category, and whether
each side still exists — read in bulk, one request per side per page, never per record. Actions answer per id.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core.commands import parse_ids, parse_object, require_mapping_name
from core.deps import Deps
from core.errors import InvalidInput, KoppelError
from core.model import Coupling, Direction, ErrorCategory, Mapping, Side
from core.sync.record import create_counterpart, run_passes
from core.sync.loading import load_mapping, read_one, read_records

__all__ = [
    "ErrorEntry", "ActionCommand", "ActionResult", "suggested_action", "list_errors", "parse_action",
    "retry_couplings", "synchronize_couplings", "restore_couplings", "delete_couplings", "INLINE_LIMIT",
]

INLINE_LIMIT = 100  # synchronize runs inline, record by record: keep a request well inside the host's timeout

_SUGGESTIONS: dict[ErrorCategory | None, str] = {
    ErrorCategory.THROTTLED: "Nothing to do: it will retry automatically.",
    ErrorCategory.TRANSIENT: "Nothing to do: it will retry automatically.",
    ErrorCategory.CONCURRENCY: "Nothing to do: it will retry automatically with the latest data.",
    ErrorCategory.VALIDATION: "Fix the record and choose Retry.",
    ErrorCategory.CONFLICT: "Choose a direction with Synchronize.",
    ErrorCategory.DELETED_COUNTERPART: "Restore the deleted record or Delete the coupling.",
    ErrorCategory.AUTH: "Check the connection settings, then choose Retry.",
    ErrorCategory.CONFIG: "Check the connection settings, then choose Retry.",
    ErrorCategory.DEPENDENCY: "Synchronize the record it depends on first, then choose Retry.",
    None: "Choose Retry.",
}


def suggested_action(category: ErrorCategory | None) -> str:
    """X11: what a person should do about an error of this category, in words."""
    return _SUGGESTIONS.get(category, _SUGGESTIONS[None])


@dataclass(frozen=True, slots=True)
class ErrorEntry:
    coupling: Coupling
    erp_exists: bool
    crm_exists: bool
    suggestion: str


def _failed_page(deps: Deps, mapping: Mapping, top: int) -> list[Coupling]:
    store = deps.storage().couplings
    failed, _ = store.list_page(mapping.name, failed_only=True, top=top)
    skipped, _ = store.list_page(mapping.name, skipped=True, top=top)
    merged = {c.erp_id: c for c in (*failed, *skipped)}
    return [merged[k] for k in sorted(merged)][:top]


def list_errors(deps: Deps, mapping_name: str | None, top: int = 100) -> list[ErrorEntry]:
    """Failed and skipped couplings of one mapping (or all), in ERP-id order, at most `top` per mapping.

    Raises:
        NotFound: the mapping does not exist.
    """
    mappings = [load_mapping(deps, mapping_name)] if mapping_name else deps.storage().mappings.list()
    out: list[ErrorEntry] = []
    for mapping in mappings:
        couplings = _failed_page(deps, mapping, top)
        if not couplings:
            continue
        # One bulk read per side for the whole page (X1), never a read per record.
        erp = read_records(deps, mapping, Side.ERP, [c.erp_id for c in couplings])
        crm = read_records(deps, mapping, Side.CRM, [c.crm_id for c in couplings])
        out += [ErrorEntry(c, c.erp_id in erp, c.crm_id in crm, suggested_action(c.last_error_category))
                for c in couplings]
    return out


@dataclass(frozen=True, slots=True)
class ActionCommand:
    mapping: str | None
    erp_ids: tuple[str, ...]
    all: bool = False
    direction: Direction | None = None


@dataclass(frozen=True, slots=True)
class ActionResult:
    id: str
    ok: bool
    message: str


def parse_action(body: Any, kind: str) -> ActionCommand:
    """`{mapping, erpIds}` for every action, `{all: true, mapping?}` for retry, plus `direction` for synchronize."""
    allowed = {"mapping", "erpIds"} | ({"all"} if kind == "retry" else set()) | (
        {"direction"} if kind == "synchronize" else set())
    data = parse_object(body, allowed, {"direction"} if kind == "synchronize" else set())
    if data.get("all") is not None and data["all"] is not True:
        raise InvalidInput("all", "all must be true when given.")
    if data.get("all"):
        if "erpIds" in data:
            raise InvalidInput("erpIds", "Give either erpIds or all: true, not both.")
        mapping = data.get("mapping")
        return ActionCommand(require_mapping_name(mapping) if mapping is not None else None, (), all=True)
    if data.get("mapping") is None:
        raise InvalidInput("mapping", "mapping is required.")
    limit = INLINE_LIMIT if kind == "synchronize" else 1000
    direction = None
    if kind == "synchronize":
        if data["direction"] not in (Direction.TO_CRM.value, Direction.FROM_CRM.value):
            raise InvalidInput("direction", "direction must be one of toCrm, fromCrm.")
        direction = Direction(data["direction"])
    return ActionCommand(require_mapping_name(data["mapping"]), parse_ids(data.get("erpIds"), "erpIds", limit),
                         direction=direction)


def _each(deps: Deps, cmd: ActionCommand, act: Callable[[Mapping, Coupling], str]) -> list[ActionResult]:
    """Run `act` per coupling, so one record's failure never stops the others; answers per id."""
    assert cmd.mapping is not None
    mapping = load_mapping(deps, cmd.mapping)
    found = deps.storage().couplings.find_by_erp(mapping.name, cmd.erp_ids)
    results = []
    for erp_id in cmd.erp_ids:
        coupling = found.get(erp_id)
        if coupling is None:
            results.append(ActionResult(erp_id, False, f"{erp_id} is not coupled in mapping {mapping.name}."))
            continue
        try:
            results.append(ActionResult(erp_id, True, act(mapping, coupling)))
        except KoppelError as exc:  # reported per id; the request itself succeeds
            results.append(ActionResult(erp_id, False, exc.message))
    return results


def _cleared(c: Coupling) -> Coupling:
    return c.with_changes(skipped=False, error_count=0)


def retry_couplings(deps: Deps, cmd: ActionCommand) -> list[ActionResult]:
    """Un-skip and reset the repeat count, so the next pass retries them first (their result stays failure)."""
    store = deps.storage().couplings
    if not cmd.all:
        return _each(deps, cmd, lambda m, c: (store.update(_cleared(c)), "Will be retried in the next run.")[1])
    names = [load_mapping(deps, cmd.mapping).name] if cmd.mapping else [m.name for m in deps.storage().mappings.list()]
    results = []
    for name in names:
        targets = {c.erp_id: c for page in (store.list_page(name, failed_only=True, top=1000)[0],
                                            store.list_page(name, skipped=True, top=1000)[0]) for c in page}
        for c, outcome in zip(targets.values(), store.update_many(_cleared(c) for c in targets.values())):
            ok = not isinstance(outcome, KoppelError)
            results.append(ActionResult(c.erp_id, ok, "Will be retried in the next run." if ok
                                        else "It changed meanwhile; choose Retry again."))
    return results


def synchronize_couplings(deps: Deps, cmd: ActionCommand) -> list[ActionResult]:
    """Un-skip and synchronize now in the chosen direction, overwriting the destination (SPEC §5.4: chosen)."""
    assert cmd.direction is not None
    direction = cmd.direction
    store = deps.storage().couplings

    def act(mapping: Mapping, c: Coupling) -> str:
        if not mapping.direction.allows(direction):
            raise InvalidInput("direction", f"Mapping {mapping.name} does not synchronize {direction.value}.")
        c = store.update(_cleared(c))
        outcome = run_passes(deps, mapping, c, (direction,), force=True)
        deps.storage().errors.delete_for_coupling(mapping.name, c.erp_id)
        return f"Synchronized {direction.value}: {outcome.action}."

    return _each(deps, cmd, act)


def restore_couplings(deps: Deps, cmd: ActionCommand) -> list[ActionResult]:
    """Re-create the deleted side from the surviving one and couple the new record in place of the stale one."""
    def act(mapping: Mapping, c: Coupling) -> str:
        erp = read_one(deps, mapping, Side.ERP, c.erp_id)
        crm = read_one(deps, mapping, Side.CRM, c.crm_id)
        if erp is not None and crm is not None:
            raise InvalidInput("erpIds", "Both records exist; nothing to restore. Choose Synchronize instead.")
        if erp is None and crm is None:
            raise InvalidInput("erpIds", "Both records were deleted; nothing to restore from. Delete the coupling.")
        source, direction = (erp, Direction.TO_CRM) if erp is not None else (crm, Direction.FROM_CRM)
        if not mapping.direction.allows(direction):
            raise InvalidInput("erpIds", f"Mapping {mapping.name} does not synchronize {direction.value}.")
        assert source is not None
        new = create_counterpart(deps, mapping, source, c, direction)
        deps.storage().errors.delete_for_coupling(mapping.name, c.erp_id)
        side = "CRM row" if direction is Direction.TO_CRM else "ERP record"
        return f"Restored the {side} as {new.crm_id if direction is Direction.TO_CRM else new.erp_id}."

    return _each(deps, cmd, act)


def delete_couplings(deps: Deps, cmd: ActionCommand) -> list[ActionResult]:
    """Uncouple (both coupling rows and the error rows); never deletes either record."""
    storage = deps.storage()

    def act(mapping: Mapping, c: Coupling) -> str:
        storage.couplings.uncouple(mapping.name, c.erp_id)
        storage.errors.delete_for_coupling(mapping.name, c.erp_id)
        return "Uncoupled; both records are unchanged."

    return _each(deps, cmd, act)
