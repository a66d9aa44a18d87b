"""Koppel against the emulators' stricter behaviour (issue 9): the real services' quirks must change nothing."""
from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from core.deps import Deps
from core.model import JobStatus
from tests.e2e.conftest import App
from tests.e2e.test_scheduled_sync import coupled_pair, crm, erp, run, total

pytestmark = pytest.mark.e2e


@pytest.fixture(name="deps")
def _deps(app: App) -> Iterator[Deps]:
    yield Deps.from_env()
    requests.post(f"{app.stack.info.dataverse_url}/_admin/paging", json={}, timeout=10).raise_for_status()


def test_rows_dataverse_repeats_across_pages_change_nothing(app: App, deps: Deps) -> None:
    # Paging ordered by modifiedon (not unique) can return a row on two pages (api-facts §F.6)
    pairs = [coupled_pair(app) for _ in range(12)]
    run(app, deps)
    for i, (_, crm_id) in enumerate(pairs):
        app.edit("crm", "accounts", crm_id, {"address1_city": f"Stadt {i}"})
    requests.post(f"{app.stack.info.dataverse_url}/_admin/paging", json={"repeat": 2, "maxPage": 5},
                  timeout=10).raise_for_status()
    written: list[str] = []

    def count_ops(req: Any) -> None:
        if req.method == "POST" and req.path.endswith("$batch"):
            written.extend(op["url"] for op in json.loads(req.body)["requests"] if op["method"] != "GET")

    continued: list[str] = []
    app.stack.bc.on_request = count_ops
    app.stack.dataverse.on_request = lambda req: continued.extend(["page"] if "skiptoken" in req.raw_query else [])
    try:
        jobs = run(app, deps)
    finally:
        app.stack.bc.on_request = app.stack.dataverse.on_request = None

    assert len(continued) >= 3  # 12 rows in pages of 5 with 2 repeated: the repeats were served
    assert all(j.status is JobStatus.SUCCEEDED for j in jobs)
    assert total(jobs, "failed") == 0 and total(jobs, "modified") == 12
    assert len(written) == len(set(written)) == 12  # no record written twice
    for i, (erp_id, crm_id) in enumerate(pairs):
        assert erp(app, erp_id)["city"] == f"Stadt {i}" == crm(app, crm_id)["address1_city"]
    assert total(run(app, deps), "modified") == 0  # and the next run finds nothing to do
