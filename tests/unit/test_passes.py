"""The pure parts of scheduled runs: idle back-off, due mappings, and the passes of a run."""
from __future__ import annotations

import datetime as dt
from dataclasses import replace

from core.rules.defaults import default_mappings
from core.model import Direction, Schedule
from core.sync.passes import directions_of, is_due, next_run
from core.store.state import MappingState

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.timezone.utc)
CUSTOMER = next(m for m in default_mappings() if m.name == "CUSTOMER")


def test_a_run_that_changed_something_comes_back_after_the_interval() -> None:
    assert next_run(Schedule(30, 720), NOW, changed=True) == (NOW + dt.timedelta(minutes=30), False)


def test_a_run_that_changed_nothing_backs_off_to_the_inactivity_timeout() -> None:
    assert next_run(Schedule(30, 720), NOW, changed=False) == (NOW + dt.timedelta(minutes=720), True)


def test_a_never_run_mapping_is_due() -> None:
    assert is_due(CUSTOMER, None, NOW) and is_due(CUSTOMER, MappingState("CUSTOMER"), NOW)


def test_a_mapping_is_due_once_its_next_run_time_has_come() -> None:
    assert is_due(CUSTOMER, MappingState("CUSTOMER", next_run_on=NOW), NOW)
    assert not is_due(CUSTOMER, MappingState("CUSTOMER", next_run_on=NOW + dt.timedelta(seconds=1)), NOW)


def test_a_paused_mapping_is_never_due() -> None:
    assert not is_due(replace(CUSTOMER, paused=True), None, NOW)


def test_a_run_passes_to_crm_first_then_from_crm_as_the_direction_allows() -> None:
    assert directions_of(CUSTOMER) == (Direction.TO_CRM, Direction.FROM_CRM)
    assert directions_of(replace(CUSTOMER, direction=Direction.FROM_CRM)) == (Direction.FROM_CRM,)
