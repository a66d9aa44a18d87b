"""Synchronize one coupled record now (F3), and create a counterpart for one record (F2 create new, F4).

Runs inline through the same page engine as the scheduled passes (a page of one), so a single
record gets exactly the rules a scheduled run would apply.
"""
from __future__ import annotations

from dataclasses import dataclass

from core.deps import Deps
from core.sync.engine import Outcome, sync_page
from core.sync.loading import read_one
from core.errors import AlreadyCoupled, Conflict, KoppelError, NotFound, RecordError
from core.model import Coupling, Direction, ErrorCategory, Mapping, Record, Side, SyncDirection
from core.rules.plan import ActionKind, auto_direction

__all__ = ["PassOutcome", "SyncOutcome", "sync_one", "run_passes", "create_counterpart"]


@dataclass(frozen=True, slots=True)
class PassOutcome:
    direction: Direction
    action: ActionKind
    changed_fields: tuple[str, ...]
    reason: str | None


@dataclass(frozen=True, slots=True)
class SyncOutcome:
    mapping: str
    erp_id: str
    crm_id: str
    passes: tuple[PassOutcome, ...]

    @property
    def action(self) -> str:
        """The overall result: the first pass that did something, else unchanged."""
        for p in self.passes:
            if p.action is not ActionKind.UNCHANGED:
                words = {"modify": "modified", "insert": "inserted", "restore": "restored"}
                return words.get(p.action.value, str(p.action.value))
        return "unchanged"

    @property
    def direction(self) -> str:
        acting = [p.direction.value for p in self.passes if p.action is not ActionKind.UNCHANGED]
        if len(acting) > 1:
            return "bidirectional"
        return acting[0] if acting else (self.passes[0].direction.value if self.passes else "none")


def _raise_for(outcome: Outcome, mapping: Mapping) -> None:
    """Turn a failed single-record outcome into the error the caller sees."""
    action = outcome.action
    if outcome.error is None:
        return
    if outcome.category is ErrorCategory.CONFLICT and action.kind is ActionKind.CONFLICT:
        raise Conflict(f"Both sides changed since the last synchronization; nothing was written. {action.reason}.",
                       reason="updateConflict")
    if outcome.category is ErrorCategory.CONFLICT and action.kind in (ActionKind.INSERT, ActionKind.RESTORE):
        # A create whose coupling clashed: someone coupled the source meanwhile (core.sync.engine._store_couplings).
        raise AlreadyCoupled("erp", action.erp_id or "", mapping.name)
    if outcome.category is ErrorCategory.CONCURRENCY:
        raise Conflict("The record changed while it was synchronized (someone wrote it at the same moment); "
                       "nothing was lost. Synchronize again.", reason="concurrentChange")
    if outcome.category is ErrorCategory.DELETED_COUNTERPART:
        raise Conflict(outcome.error, reason="deletedCounterpart")
    raise RecordError(outcome.error, erp_id=action.erp_id, crm_id=action.crm_id,
                      category=(outcome.category or ErrorCategory.VALIDATION).value)


def run_passes(deps: Deps, mapping: Mapping, coupling: Coupling, directions: tuple[Direction, ...], *,
               force: bool, job_id: str | None = None, dry_run: bool = False) -> SyncOutcome:
    """Run one pass per direction over the coupled record; stop at the first failure (raised).

    With `dry_run` (X5) each pass is planned, not applied: the outcome says what would happen."""
    passes = []
    partial: Outcome | None = None  # F9 merge: one-sided fields written, a field changed on both sides left
    for direction in directions:
        side = Side.ERP if direction is Direction.TO_CRM else Side.CRM
        source_id = coupling.erp_id if side is Side.ERP else coupling.crm_id
        source = read_one(deps, mapping, side, source_id)
        if source is None:
            raise NotFound(f"The {side.value.upper()} record {source_id} no longer exists.",
                           field="erpIds" if side is Side.ERP else "crmIds")
        result = sync_page(deps, mapping, direction, [source], job_id=job_id, force=force, dry_run=dry_run)
        outcome = result.outcomes[0]
        if outcome.action.conflicts and outcome.action.kind is ActionKind.MODIFY:
            partial = partial or outcome  # the reverse pass still carries its own one-sided fields
        else:
            _raise_for(outcome, mapping)
        passes.append(PassOutcome(direction, outcome.action.kind, tuple(outcome.action.changes),
                                  outcome.action.reason))
    if partial is not None and not dry_run:
        raise Conflict(f"Both sides changed the same field; it was not written (the other changes were synchronized). "
                       f"{partial.action.reason}.", reason="updateConflict")
    return SyncOutcome(mapping.name, coupling.erp_id, coupling.crm_id, tuple(passes))


def create_counterpart(deps: Deps, mapping: Mapping, source: Record, stale: Coupling | None,
                       direction: Direction = Direction.TO_CRM, *, exclusive: bool = False) -> Coupling:
    """Create the other side's record from `source` and couple it (idempotently, DESIGN decision 3).

    With `exclusive` (F2 "create new"), a source that another caller created and coupled meanwhile — or that
    adoption coupled to what an earlier attempt created — is AlreadyCoupled (409): one caller gets the 201."""
    store = deps.storage().couplings
    if stale is not None:
        store.uncouple(mapping.name, stale.erp_id)  # its counterpart is gone: start afresh
    result = sync_page(deps, mapping, direction, [source], force=True)
    outcome = result.outcomes[0]
    _raise_for(outcome, mapping)
    if outcome.coupling is None:
        raise RecordError(f"Could not create the counterpart: {outcome.action.reason}", category="validation")
    if exclusive and outcome.action.kind not in (ActionKind.INSERT, ActionKind.RESTORE):
        side = "erp" if direction is Direction.TO_CRM else "crm"
        raise AlreadyCoupled(side, source.id, mapping.name)
    return outcome.coupling


def sync_one(deps: Deps, mapping: Mapping, coupling: Coupling, direction: SyncDirection, *,
              dry_run: bool) -> SyncOutcome:
    if direction is SyncDirection.AUTO:
        directions, deleted = _auto(deps, mapping, coupling, dry_run)
        # A deleted counterpart: the survivor's pass must plan (not skip as unchanged) to apply the policy.
        return run_passes(deps, mapping, coupling, directions, force=deleted, dry_run=dry_run)
    # A direction a person chose explicitly may overwrite destination changes (SPEC §5.4).
    return run_passes(deps, mapping, coupling, (Direction(direction.value),), force=True, dry_run=dry_run)


def _auto(deps: Deps, mapping: Mapping, coupling: Coupling, dry_run: bool) -> tuple[tuple[Direction, ...], bool]:
    """The passes `direction: auto` runs, and whether they meet a deleted counterpart."""
    erp = read_one(deps, mapping, Side.ERP, coupling.erp_id)
    crm = read_one(deps, mapping, Side.CRM, coupling.crm_id)
    if erp is None and crm is None:
        raise Conflict("Both coupled records were deleted; delete the coupling.", reason="deletedCounterpart")
    if erp is None or crm is None:
        # F9 deletion conflict: the surviving side's pass applies the mapping's policy (restore, uncouple or
        # fail), exactly as a scheduled run would.
        survivor = Direction.FROM_CRM if erp is None else Direction.TO_CRM
        if not mapping.direction.allows(survivor):
            gone = "ERP record" if erp is None else "CRM row"
            raise Conflict(f"The coupled {gone} was deleted; restore it or delete the coupling.",
                           reason="deletedCounterpart")
        return (survivor,), True
    answer = auto_direction(mapping, erp, crm, coupling)
    if isinstance(answer, KoppelError):
        # Record the conflict as a person would find it in the errors view, then refuse (F9 policy fail).
        if not dry_run:
            sync_page(deps, mapping, Direction.TO_CRM, [erp])
        raise answer
    return answer or (Direction.TO_CRM if mapping.direction.allows(Direction.TO_CRM) else Direction.FROM_CRM,), False
