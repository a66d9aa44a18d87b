"""The circuit breaker's decision (X12) as a table, what counts as an unreachable side, and its notification."""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from core.sync.circuit import refused_pass_reason, should_pause, trip_after_pass, unreachable_reason
from core.rules.defaults import default_mappings
from core.deps import Deps
from core.errors import AuthError, ConfigError, RemoteError, Retriable, StaleWrite
from core.model import ErrorCategory as C
from core.model import Counters, Direction, Job, JobStatus, JobType, Mapping, SyncError
from core.settings import Settings
from core.store.state import PauseNote

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.timezone.utc)
MIN = dt.timedelta(minutes=1)


def _errors(category: C, count: int, ago: dt.timedelta = MIN) -> list[SyncError]:
    return [SyncError(f"e{i}", "j", "CUSTOMER", None, None, None, category, "m", None, NOW - ago) for i in range(count)]


@pytest.mark.parametrize(("errors", "unreachable", "expected"), [
    ([], False, None),
    (_errors(C.AUTH, 9), False, None),
    (_errors(C.AUTH, 10), False, "10 auth errors in the last 15 minutes (threshold 10)."),
    (_errors(C.CONFIG, 12), False, "12 config errors in the last 15 minutes (threshold 10)."),
    (_errors(C.AUTH, 10, ago=16 * MIN), False, None),  # outside the window
    (_errors(C.AUTH, 5) + _errors(C.CONFIG, 5), False, None),  # one category must pass it alone
    (_errors(C.VALIDATION, 50), False, None),  # bad records are no broken side
    (_errors(C.VALIDATION, 50), True, None),
    (_errors(C.THROTTLED, 20), False, None),  # a busy API that answers most requests keeps running
    (_errors(C.THROTTLED, 20), True, "20 throttled errors in the last 15 minutes (threshold 10)."),
    (_errors(C.TRANSIENT, 10) + _errors(C.AUTH, 11), True, "11 auth errors in the last 15 minutes (threshold 10)."),
])
def test_should_pause(errors: list[SyncError], unreachable: bool, expected: str | None) -> None:
    assert should_pause(errors, NOW, side_unreachable=unreachable) == expected


def test_threshold_and_window_are_parameters() -> None:
    assert should_pause(_errors(C.AUTH, 3, ago=50 * MIN), NOW, 3, dt.timedelta(hours=1)) is not None
    assert should_pause(_errors(C.AUTH, 3, ago=50 * MIN), NOW, 4, dt.timedelta(hours=1)) is None


@pytest.mark.parametrize(("err", "says"), [
    (AuthError("Unauthorized", service="crm", status=401), "CRM refused our credentials (401)"),
    (ConfigError("CRM_URL"), "The setting CRM_URL is not configured."),
    (RemoteError("connection refused", service="erp"), "ERP could not be reached"),
    (Retriable("busy", service="erp", status=503), None),
    (RemoteError("bad gateway", service="erp", status=502), None),
    (None, None),
])
def test_unreachable_reason(err: Any, says: str | None) -> None:
    reason = unreachable_reason(err)
    assert (reason is None) if says is None else (reason is not None and says in reason)


@dataclass
class _Mappings:
    current: Mapping
    puts: int = 0

    def get(self, name: str) -> Mapping:
        return self.current

    def put(self, mapping: Mapping, *, expected_etag: str | None = None) -> Mapping:
        if expected_etag != self.current.etag:
            raise StaleWrite("changed")
        self.puts += 1
        self.current = replace(mapping, etag=f"e{self.puts}")
        return self.current


@dataclass
class _State:
    notes: dict[str, PauseNote] = field(default_factory=dict)

    def note_pause(self, note: PauseNote) -> PauseNote:
        self.notes[note.mapping] = note
        return note


@dataclass
class _Errors:
    rows: list[SyncError]

    def list(self, mapping: str | None = None, top: int = 100) -> list[SyncError]:
        return self.rows[:top]


@dataclass
class _Storage:
    mappings: _Mappings
    state: _State
    errors: _Errors


def _deps(errors: list[SyncError], notify: str | None = None) -> tuple[Deps, _Storage]:
    customer = replace(next(m for m in default_mappings() if m.name == "CUSTOMER"), etag="e0")
    storage = _Storage(_Mappings(customer), _State(), _Errors(errors))
    deps = Deps(Settings({"KOPPEL_NOTIFY_URL": notify} if notify else {}), clock=lambda: NOW)
    deps._made["storage"] = storage
    return deps, storage


def test_a_pass_that_could_not_authenticate_pauses_the_mapping_and_notifies_without_secrets() -> None:
    deps, storage = _deps([], notify="https://hooks.example/koppel")
    sent: list[tuple[str, bytes]] = []
    state = trip_after_pass(deps, "CUSTOMER", AuthError("Unauthorized", service="crm", status=401),
                            post=lambda url, body: sent.append((url, body)))
    assert state is not None and state.paused and state.by == "breaker"
    assert storage.mappings.current.paused and "CRM refused our credentials" in storage.state.notes["CUSTOMER"].reason
    (url, body), = sent
    assert url == "https://hooks.example/koppel"
    payload = json.loads(body)
    assert payload["event"] == "mappingPaused" and payload["mapping"] == "CUSTOMER" and payload["paused"] is True
    assert set(payload) == {"event", "mapping", "paused", "reason", "since", "by"}


def test_a_failing_notification_never_fails_the_pass() -> None:
    deps, storage = _deps(_errors(C.AUTH, 10), notify="https://hooks.example/koppel")

    def broken(url: str, body: bytes) -> None:
        raise OSError("down")

    assert trip_after_pass(deps, "CUSTOMER", None, post=broken) is not None
    assert storage.mappings.current.paused


def test_a_healthy_pass_leaves_the_mapping_running() -> None:
    deps, storage = _deps(_errors(C.VALIDATION, 30) + _errors(C.THROTTLED, 30))
    assert trip_after_pass(deps, "CUSTOMER", None, post=lambda u, b: pytest.fail("no notification")) is None
    assert not storage.mappings.current.paused and storage.mappings.puts == 0


def test_throttling_counts_when_the_pass_reached_no_side() -> None:
    deps, storage = _deps(_errors(C.THROTTLED, 30))
    state = trip_after_pass(deps, "CUSTOMER", None, side_unreachable=True, post=lambda u, b: None)
    assert state is not None and "30 throttled errors" in (state.reason or "")


def _job(**counts: int) -> Job:
    return Job("j", "CUSTOMER", JobType.SYNC, Direction.TO_CRM, JobStatus.PARTIAL, NOW, counters=Counters(**counts))


@pytest.mark.parametrize(("job", "errors", "trips"), [
    (_job(failed=2), _errors(C.AUTH, 2), True),  # every write refused: the side refuses us
    (_job(failed=2, modified=1), _errors(C.AUTH, 2), False),  # something got through
    (_job(failed=2), _errors(C.AUTH, 1) + _errors(C.VALIDATION, 1), False),  # a bad record among them
    (_job(), [], False),
])
def test_a_pass_that_failed_every_record_for_auth_could_not_use_its_side(job: Job, errors: list[SyncError],
                                                                        trips: bool) -> None:
    assert (refused_pass_reason(job, errors) is not None) is trips
