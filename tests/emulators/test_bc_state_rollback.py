"""BC emulator: a rolled-back transaction leaves the number series where it was."""
from __future__ import annotations

import pytest

from emulators.bc.entities import ENTITIES
from emulators.bc.state import BcState


def test_a_rollback_that_skipped_hand_typed_numbers_restores_the_series() -> None:
    state = BcState(lambda changes: None)
    spec = ENTITIES["customers"]
    table = state.tables["customers"]
    # Someone typed the series' next two numbers by hand: the next create skips both.
    for n in (1, 2):
        state.create("customers", {spec.key_field: f"{spec.series_prefix}{n:0{spec.series_digits}d}",
                                   "displayName": f"Typed {n}"}, by="t")
    assert table.next_number == 1
    with pytest.raises(RuntimeError), state.atomic():
        state.create("customers", {"displayName": "Rolled back"}, by="t")  # BC requires a name (api-facts §F)
        assert table.next_number == 4
        raise RuntimeError("the batch failed")
    assert table.next_number == 1
