"""The model-based check (tests.harness.model) with fixed seeds: a short run of each in CI; the long randomized
soak is tests/soak/test_soak_exactly_once.py."""
from __future__ import annotations

import pytest

from tests.e2e.conftest import App
from tests.harness.crash import Crash
from tests.harness.model import run_model

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("seed", [11, 23])
def test_no_duplicate_no_lost_coupling_no_lost_edit_whatever_is_killed(
        app: App, monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    # Jobs are checked once a killed scheduled run's job is recovered (the heartbeat sweep of issue 8's job path).
    counts = run_model(app, Crash(monkeypatch), seed, steps=18, check_jobs=False)

    assert counts.kills > 0 and counts.steps == 18
    assert counts.violations == 0 and not counts.failures, "\n".join(counts.failures)
