"""The long randomized soak of the exactly-once model (tests.harness.model): many seeds, kills at random writes.

Not part of CI (minutes, not seconds). Run it with:
    KOPPEL_SOAK_RUNS=40 .venv/bin/python -m pytest tests/soak -s -q -p no:cacheprovider
It prints the counts over all runs and fails on any duplicate, lost coupling, lost edit, overwrite or stuck job.
"""
from __future__ import annotations

import os
import random

import pytest

from tests.e2e.conftest import App
from tests.harness.crash import Crash
from tests.harness.model import Counts, run_model

RUNS = int(os.environ.get("KOPPEL_SOAK_RUNS", "0"))


@pytest.mark.skipif(RUNS <= 0, reason="set KOPPEL_SOAK_RUNS to run the soak")
@pytest.mark.timeout(0)  # minutes by design; pytest-timeout's per-test limit is for the suite
def test_soak(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    total = Counts()
    base = int(os.environ.get("KOPPEL_SOAK_SEED", random.randrange(10**6)))
    for seed in range(base, base + RUNS):
        counts = run_model(app, Crash(monkeypatch), seed, steps=int(os.environ.get("KOPPEL_SOAK_STEPS", "30")),
                           check_jobs=os.environ.get("KOPPEL_SOAK_CHECK_JOBS", "1") == "1")
        print(f"seed {seed}: {counts.steps} steps, {counts.kills} kills, {counts.violations} violations")
        for failure in counts.failures[:5]:
            print(f"    {failure}")
        total += counts
    print(f"\nsoak from seed {base}: {RUNS} runs, {total.steps} steps, {total.kills} kill runs\n"
          f"  duplicates {total.duplicates}, lost couplings {total.lost_couplings}, lost edits {total.lost_edits}, "
          f"silent overwrites {total.silent_overwrites}, stuck jobs {total.stuck_jobs}\n  ops {dict(total.ops)}")
    assert total.violations == 0 and not total.failures
