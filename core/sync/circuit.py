"""Pause, resume and the circuit breaker (SPEC X12): a mapping that keeps failing the same way stops itself.

The mapping's `paused` flag is the truth (the scheduler, queued runs, sync-now and the ribbon all read it);
a pause note in the state table says why and since when. Resuming changes nothing else: the next run reads
everything changed since the watermarks, which did not move while the mapping was paused.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

from core.deps import Deps
from core.errors import AuthError, ConfigError, KoppelError, RemoteError, Retriable, StaleWrite
from core.alerts import post_json
from core.model import ErrorCategory, Job, Mapping, SyncError
from core.store.state import PauseNote

__all__ = ["THRESHOLD", "WINDOW", "NOTIFY_SETTING", "PauseState", "should_pause", "unreachable_reason",
           "refused_pass_reason", "pause_mapping", "resume_mapping", "pause_state", "paused_mappings", "trip_after_pass"]

log = logging.getLogger("koppel.circuit")

THRESHOLD = 10
WINDOW = dt.timedelta(minutes=15)
NOTIFY_SETTING = "KOPPEL_NOTIFY_URL"
# Categories that say a side is broken for every record, not that one record is bad.
_BROKEN = (ErrorCategory.AUTH, ErrorCategory.CONFIG)
_PASSING = (ErrorCategory.THROTTLED, ErrorCategory.TRANSIENT)  # counted only when a pass reached no side
_READ_ERRORS = 500  # newest errors of the mapping read to decide


@dataclass(frozen=True, slots=True)
class PauseState:
    """A mapping's pause state as the routes answer it."""

    mapping: str
    paused: bool
    reason: str | None = None
    since: dt.datetime | None = None
    by: str | None = None

    def to_json(self) -> dict[str, object]:
        return {"mapping": self.mapping, "paused": self.paused, "reason": self.reason,
                "since": self.since.isoformat() if self.since else None, "by": self.by}


def should_pause(errors: Sequence[SyncError], now: dt.datetime, threshold: int = THRESHOLD,
                 window: dt.timedelta = WINDOW, *, side_unreachable: bool = False) -> str | None:
    """The reason to pause when `threshold` or more errors of one breaking category fall in `window` before `now`.

    auth and config errors always count; throttled and transient ones only when the pass could not reach a side
    (`side_unreachable`): a busy API that answers most requests is no reason to stop. None: keep running.
    """
    counted = _BROKEN + (_PASSING if side_unreachable else ())
    counts = Counter(e.category for e in errors if e.category in counted and now - window <= e.occurred_on <= now)
    if not counts:
        return None
    category, count = max(counts.items(), key=lambda kv: (kv[1], -counted.index(kv[0])))
    if count < threshold:
        return None
    minutes = int(window.total_seconds() // 60)
    return f"{count} {category.value} errors in the last {minutes} minutes (threshold {threshold})."


def unreachable_reason(err: KoppelError | None) -> str | None:
    """Why a whole pass could not work with a side (refused credentials, missing setting, no connection)."""
    if isinstance(err, AuthError):
        return f"{err.service.upper()} refused our credentials ({err.status or 'auth'}): {err.message}"
    if isinstance(err, ConfigError):
        return f"The setting {err.setting} is not configured."
    if isinstance(err, RemoteError) and not isinstance(err, Retriable) and err.status is None:
        return f"{err.service.upper()} could not be reached: {err.message}"
    return None


def refused_pass_reason(job: Job | None, errors: Sequence[SyncError]) -> str | None:
    """A pass that did nothing but fail, every failure an auth or config error, could not use a side at all
    (e.g. Dataverse answering 401 to every write: each record fails alone, the pass itself ends)."""
    if job is None or not job.counters.failed:
        return None
    c = job.counters
    if c.inserted or c.modified or c.deleted or c.coupled or c.uncoupled:
        return None
    mine = [e for e in errors if e.job_id == job.id]
    if not mine or any(e.category not in _BROKEN for e in mine):
        return None
    category = Counter(e.category for e in mine).most_common(1)[0][0]
    return f"A {job.direction.value if job.direction else ''} pass failed every record with {category.value} " \
           f"errors ({len(mine)}): {mine[0].message}"


def _save_paused(deps: Deps, name: str, paused: bool) -> Mapping:
    store = deps.storage().mappings
    for _ in range(3):  # the mapping may be edited at the same moment: re-read and try again
        current = store.get(name)
        if current.paused == paused:
            return current
        try:
            return store.put(replace(current, paused=paused), expected_etag=current.etag)
        except StaleWrite:
            continue
    raise StaleWrite(f"The mapping {name} kept changing; try again.")


def pause_mapping(deps: Deps, name: str, reason: str | None = None, *, by: str = "api") -> PauseState:
    """Pause a mapping (no run does work until it is resumed). Raises: NotFound: no such mapping."""
    mapping = _save_paused(deps, name, True)
    note = PauseNote(mapping.name, reason or "Paused by an administrator.", deps.clock(), by)
    deps.storage().state.note_pause(note)
    return PauseState(mapping.name, True, note.reason, note.since, note.by)


def resume_mapping(deps: Deps, name: str) -> PauseState:
    """Resume a mapping and make its next scheduled run due at once (it catches up from the watermarks)."""
    mapping = _save_paused(deps, name, False)
    storage = deps.storage()
    storage.state.clear_pause(mapping.name)
    state = storage.state.get(mapping.name)
    if state.etag is not None and not state.is_leased(deps.clock()):
        try:
            storage.state.save(replace(state, next_run_on=None, idle=False))
        except StaleWrite:  # a run started meanwhile: it catches up itself
            pass
    return PauseState(mapping.name, False)


def pause_state(deps: Deps, name: str) -> PauseState:
    """A mapping's pause state. Raises: NotFound: no such mapping."""
    mapping = deps.storage().mappings.get(name)
    note = deps.storage().state.pause_notes().get(mapping.name) if mapping.paused else None
    return PauseState(mapping.name, mapping.paused, note.reason if note else None, note.since if note else None,
                      note.by if note else None)


def paused_mappings(deps: Deps) -> list[PauseState]:
    """Every paused mapping with its reason and since-when (GET /connection)."""
    storage = deps.storage()
    notes = storage.state.pause_notes()
    return [PauseState(m.name, True, *((notes[m.name].reason, notes[m.name].since, notes[m.name].by)
                                       if m.name in notes else (None, None, None)))
            for m in storage.mappings.list() if m.paused]


Post = Callable[[str, bytes], None]


def _notify(deps: Deps, state: PauseState, post: Post) -> None:
    url = deps.settings.get(NOTIFY_SETTING)
    if not url or urlsplit(url).scheme not in ("http", "https"):
        return
    body = json.dumps({"event": "mappingPaused", **state.to_json()}).encode()
    try:
        post(url, body)
    except Exception as err:  # best effort (X12): a notification never fails the pass
        log.warning("pause notification to %s failed: %s", urlsplit(url).netloc, type(err).__name__)


def trip_after_pass(deps: Deps, mapping: str, failure: KoppelError | None, *, side_unreachable: bool = False,
                    job: Job | None = None, post: Post = post_json) -> PauseState | None:
    """After a pass: pause the mapping when a side could not be reached at all or errors of one breaking
    category passed the threshold; then notify KOPPEL_NOTIFY_URL. Answers the new pause state, or None."""
    reason = unreachable_reason(failure)
    if reason is None:
        errors = deps.storage().errors.list(mapping, top=_READ_ERRORS)
        unreachable = side_unreachable or isinstance(failure, RemoteError)
        reason = should_pause(errors, deps.clock(), side_unreachable=unreachable) or refused_pass_reason(job, errors)
    if reason is None:
        return None
    log.warning("mapping %s pauses itself: %s", mapping, reason)
    state = pause_mapping(deps, mapping, f"Paused by the circuit breaker: {reason}", by="breaker")
    _notify(deps, state, post)
    return state
