"""How a coupling's sync state moves after a pass: success (timestamps, hashes, results) and failure (X11 skipping).

Pure functions returning a new `Coupling`; the store writes it back with its ETag.
"""
from __future__ import annotations

import datetime as dt
import re

from core.rules.fields import side_of
from core.model import TRANSIENT_CATEGORIES, Coupling, ErrorCategory, Side
from core.rules.plan import RESULT_FAILURE, RESULT_SUCCESS, Action, ActionKind

__all__ = ["next_error_state", "applied_state", "error_key", "SKIP_AFTER"]

SKIP_AFTER = 2  # bc-behaviour §2.5: the same failure twice in a row marks the coupling skipped


def _later(old: dt.datetime | None, new: dt.datetime | None) -> dt.datetime | None:
    """Stored modified-ons only ever move forward (bc-behaviour §1.3)."""
    if old is None or new is None:
        return new or old
    return max(old, new)


# What differs between two reports of one error: ids, correlation ids, times and numbers in the text.
_VOLATILE = re.compile(r"CorrelationId:?\s*\S+|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
                       r"|\d{4}-\d\d-\d\dT[\d:.]+Z?|\d+")


def error_key(category: ErrorCategory, message: str, code: str | None = None) -> str:
    """F10/X11: two errors are the same when their category, the service's error code and the message's stable
    part (field names, the rule broken) agree — not their text, which carries a fresh CorrelationId each time."""
    stable = " ".join(_VOLATILE.sub("#", message).split())
    return f"{category.value}|{code or ''}|{stable}"[:400]


def next_error_state(coupling: Coupling, category: ErrorCategory, message: str, *, destination: Side,
                     job_id: str | None = None, code: str | None = None) -> Coupling:
    """The coupling after a failed write to `destination`.

    The same non-transient error (category and message) twice in a row marks the coupling skipped (F10);
    throttled and transient errors never do (X11), they are retried with back-off, and so are concurrency errors.

    Args:
        coupling: the coupling before the failure.
        category: the error category.
        message: the error message (compared with the previous one).
        destination: the side that was being written.
        job_id: the job that failed.

    Returns:
        The new coupling: result failure on that side, the error and its repeat count, maybe skipped.
    """
    key = error_key(category, message, code)
    same = coupling.error_count > 0 and coupling.last_error_key == key
    count = coupling.error_count + 1 if same else 1
    # X11: a concurrency error (someone wrote the record or its coupling at the same moment) is transient too.
    transient = category in TRANSIENT_CATEGORIES or category is ErrorCategory.CONCURRENCY
    skipped = coupling.skipped or (not transient and count >= SKIP_AFTER)
    result = {"erp_result": RESULT_FAILURE, "erp_job_id": job_id} if destination is Side.ERP \
        else {"crm_result": RESULT_FAILURE, "crm_job_id": job_id}
    return coupling.with_changes(skipped=skipped, last_error=message, last_error_category=category,
                                 last_error_key=key, error_count=count, **result)


def applied_state(coupling: Coupling, action: Action, *, destination_modified_on: dt.datetime | None = None,
                  field_hashes: dict[str, str] | None = None, job_id: str | None = None) -> Coupling:
    """The coupling after `action` was applied successfully.

    The source's stored modified-on becomes the one read while planning; the destination's becomes the one
    the write returned (`destination_modified_on`, else the one read while planning) — so Koppel's own write
    is not a change on the next pass — unless the action left destination changes for the reverse pass
    (`destination_pending`), which must still see that side as changed.

    Args:
        coupling: the coupling (for INSERT/RESTORE/COUPLE, the new one with both ids).
        action: the applied action.
        destination_modified_on: the destination's modified-on after the write, if one was made.
        field_hashes: hashes recomputed from the records as written (`core.rules.fields.synced_hashes` over both
            sides' returned fields; for INSERT/RESTORE/COUPLE over every key, so fields the service derives,
            such as a contact's fullname, get a baseline too); default the action's prediction.
        job_id: the job that applied it.

    Returns:
        The new coupling; unchanged for actions that record nothing (SKIP, FAIL, CONFLICT, plain UNCHANGED).
    """
    applies = action.kind in (ActionKind.INSERT, ActionKind.RESTORE, ActionKind.MODIFY, ActionKind.COUPLE) or (
        action.kind is ActionKind.UNCHANGED and action.refresh)
    if not applies:
        return coupling
    src, dst = side_of(action.direction)
    stored = {Side.ERP: coupling.erp_modified_on, Side.CRM: coupling.crm_modified_on}
    stored[src] = _later(stored[src], action.source_modified_on)
    if not action.destination_pending:
        stored[dst] = _later(stored[dst], destination_modified_on or action.destination_modified_on)
    other_failed = (coupling.crm_result if dst is Side.ERP else coupling.erp_result) == RESULT_FAILURE
    result = {"erp_result": RESULT_SUCCESS, "erp_job_id": job_id} if dst is Side.ERP \
        else {"crm_result": RESULT_SUCCESS, "crm_job_id": job_id}
    errors = {} if other_failed else {"last_error": None, "last_error_category": None, "last_error_key": None,
                                         "error_count": 0}
    return coupling.with_changes(
        erp_modified_on=stored[Side.ERP], crm_modified_on=stored[Side.CRM],
        field_hashes=dict(field_hashes if field_hashes is not None else action.field_hashes),
        **result, **errors)
