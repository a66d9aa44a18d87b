"""Benchmark: read every customer from the BC emulator in pages of 20,000, as Koppel's reader would.

Starts the stack in-process, seeds `--count` customers, takes a token from the emulated Entra ID with
msal, follows `@odata.nextLink` over HTTPS with requests and prints records/s, requests made and peak
RSS. Target (emu_common): at least 20,000 records/s on 2 cores.

    .venv/bin/python bench/emulator_bc_read.py [--count N] [--page-size N]
"""
from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import requests  # noqa: E402

from _stack import running_stack, token  # noqa: E402

TARGET_PER_S = 20_000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--page-size", type=int, default=20_000)
    args = parser.parse_args(argv)
    with running_stack() as info:
        t0 = time.perf_counter()
        seeded = requests.post(f"{info.bc_url}/_admin/seed",
                               json={"entity": "customers", "count": args.count, "seed": 1}, timeout=120)
        seeded.raise_for_status()
        seed_s = time.perf_counter() - t0
        bearer = token(info, info.bc_scope)
        session = requests.Session()
        session.headers.update({"Authorization": f"Bearer {bearer}", "Accept": "application/json",
                                "Prefer": f"odata.maxpagesize={args.page_size}"})
        url: str | None = (f"{info.bc_url}/v2.0/{info.tenant}/{info.bc_environment}/api/v2.0/"
                           f"companies({info.bc_company_id})/customers")
        rows, calls, seen = 0, 0, set[str]()
        t0 = time.perf_counter()
        while url:
            resp = session.get(url, timeout=120)
            resp.raise_for_status()
            page = resp.json()
            calls += 1
            rows += len(page["value"])
            seen.update(r["id"] for r in page["value"])
            url = page.get("@odata.nextLink")
        read_s = time.perf_counter() - t0
    rate = rows / read_s if read_s else float("inf")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"seeded {args.count} customers in {seed_s:.2f} s")
    print(f"read {rows} customers ({len(seen)} distinct) in {read_s:.2f} s with {calls} requests: "
          f"{rate:,.0f} records/s (target {TARGET_PER_S:,})")
    print(f"peak RSS {peak_mb:.0f} MiB (emulator and client in one process)")
    ok = rows == args.count == len(seen) and rate >= TARGET_PER_S
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
