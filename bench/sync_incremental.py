"""Benchmark: one incremental CUSTOMER run over N changed customers, and the idle run after it.

Starts the emulators in-process with 20 ms latency per request on BC and Dataverse, and Azurite; seeds N
customers in BC, creates their accounts with UpsertMultiple and their couplings with `couple_many` (never the
per-record APIs), runs once to set the watermarks and field hashes, then changes every customer's displayName.
Per-record admin edits over HTTP are far too slow for 100,000 records, so the edit goes straight into the BC
emulator's in-process state (`stack.bc.state.update(..., person=True)`, in atomic chunks): exactly what a person's
edit does there, a new ETag and lastModifiedDateTime. Then it times `core.sync.passes.run_mapping` and prints requests per
record per side (from /_admin/requests), records/s and peak RSS, and the requests of a run with nothing changed.
Targets: ≤ 0.012 requests per record; ≤ 2 requests per side for the idle run.

    .venv/bin/python bench/sync_incremental.py [--count 100000]
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import requests  # noqa: E402

from core.deps import Deps  # noqa: E402
from core.model import Coupling, Direction, Job  # noqa: E402
from core.sync.passes import run_mapping  # noqa: E402
from core.settings import Settings  # noqa: E402
from devhost.azurite import start_azurite  # noqa: E402
from emulators.server import Faults  # noqa: E402
from emulators.stack import Stack, start_stack  # noqa: E402
from scripts.run_demo import settings_for  # noqa: E402

TARGET_PER_RECORD = 0.012


def _requests(url: str) -> int:
    total: int = requests.get(f"{url}/_admin/requests", timeout=30).json()["total"]
    return total


def _clear(stack: Stack) -> None:
    for url in (stack.info.bc_url, stack.info.dataverse_url):
        requests.delete(f"{url}/_admin/requests", timeout=30).raise_for_status()


def _seed(stack: Stack, deps: Deps, count: int) -> None:
    """N customers in BC, an account for each in Dataverse and a coupling for each pair, all in bulk."""
    requests.post(f"{stack.info.bc_url}/_admin/seed", json={"entity": "customers", "count": count, "seed": 1},
                  timeout=600).raise_for_status()
    mapping = deps.storage().mappings.get("CUSTOMER")
    rows: list[dict[str, Any]] = []
    couplings: list[Coupling] = []
    now = dt.datetime.now(dt.timezone.utc)
    for page in deps.erp().read_changed_since("customers", None, ["displayName", "city"], mapping.erp_filter):
        for r in page:
            crm_id = str(uuid.uuid4())
            rows.append({"accountid": crm_id, "name": r.fields.get("displayName"), "customertypecode": 3,
                         "address1_city": r.fields.get("city")})
            couplings.append(Coupling("CUSTOMER", r.id, crm_id, coupled_on=now))
    deps.crm().upsert_multiple("accounts", "account", "accountid", rows)
    deps.storage().couplings.couple_many(couplings)


def _edit_all(stack: Stack) -> int:
    """Change every customer's displayName in the emulator's state, as a person's edit would (see module doc)."""
    state: Any = stack.bc.state
    with state.lock:
        ids = list(state.tables["customers"].order)
    for start in range(0, len(ids), 5000):
        with state.atomic():
            for record_id in ids[start:start + 5000]:
                old = state.get("customers", record_id)
                state.update("customers", record_id, {"displayName": f"{old['displayName']} *"}, None, "Bench",
                             person=True)
    return len(ids)


def _line(jobs: list[Job]) -> str:
    return "; ".join(f"{j.direction.value if j.direction else '?'} {j.status.value} {j.counters.to_json()}"
                     for j in jobs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=100_000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        stack = start_stack(folder)
        os.environ["REQUESTS_CA_BUNDLE"] = stack.info.ca_bundle
        azurite = start_azurite()
        try:
            deps = Deps(Settings.from_env(settings_for(stack.info.to_json(), azurite.connection_string)))
            t0 = time.perf_counter()
            _seed(stack, deps, args.count)
            print(f"seeded {args.count} coupled pairs in {time.perf_counter() - t0:.1f} s", flush=True)
            t0 = time.perf_counter()
            first = run_mapping(deps, 'CUSTOMER', owner='bench', mode='full')  # sets hashes and watermarks
            errors = deps.storage().errors.for_job(first[0].id, top=3) if first else []
            print(f"first run: {_line(first)} ({time.perf_counter() - t0:.1f} s) {[e.message for e in errors]}",
                  flush=True)
            for name in ("bc", "dataverse"):
                stack.set_faults(name, Faults(latency_ms=20))
            edited = _edit_all(stack)
            _clear(stack)
            t0 = time.perf_counter()
            if os.environ.get("KOPPEL_PROFILE"):
                import cProfile
                import pstats
                prof = cProfile.Profile()
                jobs = prof.runcall(run_mapping, deps, "CUSTOMER", owner="bench")
                pstats.Stats(prof).sort_stats(os.environ.get("KOPPEL_PROFILE_SORT", "cumulative")).print_stats(35)
            else:
                jobs = run_mapping(deps, "CUSTOMER", owner="bench")
            elapsed = time.perf_counter() - t0
            bc_n, dv_n = _requests(stack.info.bc_url), _requests(stack.info.dataverse_url)
            print(f"incremental run over {edited} changed customers: {_line(jobs)}")
            print(f"  {elapsed:.1f} s, {edited / elapsed:,.0f} records/s")
            print(f"  requests: BC {bc_n} ({bc_n / edited:.4f}/record), Dataverse {dv_n} ({dv_n / edited:.4f}/record)"
                  f"; target ≤ {TARGET_PER_RECORD}/record per side")
            print(f"  peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
            _clear(stack)
            idle = run_mapping(deps, "CUSTOMER", owner="bench")
            print(f"idle run: {_line(idle)}; requests BC {_requests(stack.info.bc_url)}, "
                  f"Dataverse {_requests(stack.info.dataverse_url)} (target ≤ 2 per side)")
            assert all(j.direction in (Direction.TO_CRM, Direction.FROM_CRM) for j in jobs)
        finally:
            azurite.stop()
            stack.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
