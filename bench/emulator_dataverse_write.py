"""Benchmark: write accounts to the Dataverse emulator with UpsertMultiple of 1,000, as Koppel's writer would.

Starts the stack in-process, takes a token from the emulated Entra ID with msal, posts `--count`
accounts keyed by accountnumber (`@odata.id`) over HTTPS with requests, checks they all landed and
prints records/s, requests made and peak RSS. Target (emu_common): at least 20,000 records/s on 2 cores.

    .venv/bin/python bench/emulator_dataverse_write.py [--count N] [--batch N]
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import requests  # noqa: E402

from _stack import running_stack, token  # noqa: E402

TARGET_PER_S = 20_000


def _targets(start: int, stop: int) -> list[dict[str, object]]:
    return [{"@odata.type": "Microsoft.Dynamics.CRM.account", "@odata.id": f"accounts(accountnumber='B{i:07d}')",
             "name": f"Bench Customer {i}", "address1_line1": f"Stationsstraat {i % 300}", "address1_city": "Utrecht",
             "address1_postalcode": "3511 AB", "address1_country": "Netherlands", "telephone1": "+31 30 123 4567",
             "emailaddress1": f"customer{i}@example.com", "customertypecode": 3, "creditlimit": (i % 50) * 1000,
             "transactioncurrencyid@odata.bind": "/transactioncurrencies(isocurrencycode='EUR')"}
            for i in range(start, stop)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1_000)
    args = parser.parse_args(argv)
    with running_stack() as info:
        bearer = token(info, info.dataverse_scope)
        session = requests.Session()
        session.headers.update({"Authorization": f"Bearer {bearer}", "Content-Type": "application/json",
                                "Accept": "application/json", "OData-Version": "4.0"})
        url = f"{info.dataverse_url}/api/data/v9.2/accounts/Microsoft.Dynamics.CRM.UpsertMultiple"
        calls = 0
        t0 = time.perf_counter()
        for start in range(0, args.count, args.batch):
            body = json.dumps({"Targets": _targets(start, min(start + args.batch, args.count))},
                              separators=(",", ":"))
            resp = session.post(url, data=body, timeout=120)
            calls += 1
            if resp.status_code != 204:
                print(f"UpsertMultiple answered {resp.status_code}: {resp.text[:300]}")
                return 1
        write_s = time.perf_counter() - t0
        rows = requests.get(f"{info.dataverse_url}/_admin/records/accounts", timeout=120).json()["value"]
    rate = args.count / write_s if write_s else float("inf")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    distinct = len({r["accountnumber"] for r in rows})
    print(f"wrote {args.count} accounts ({distinct} distinct in the emulator) in {write_s:.2f} s with {calls} "
          f"UpsertMultiple requests: {rate:,.0f} records/s (target {TARGET_PER_S:,})")
    print(f"peak RSS {peak_mb:.0f} MiB (emulator and client in one process)")
    ok = distinct == args.count and rate >= TARGET_PER_S
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
