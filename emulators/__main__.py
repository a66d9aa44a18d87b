"""`python -m emulators`: start BC, Dataverse and Entra ID and print one JSON line when ready."""
from __future__ import annotations

import argparse
import json
import signal
import sys
import threading

from emulators.stack import start_stack


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m emulators", description=__doc__)
    parser.add_argument("--state", default=".state/emulators", help="folder for the CA and credentials")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--bc-port", type=int, default=0)
    parser.add_argument("--dataverse-port", type=int, default=0)
    parser.add_argument("--entra-port", type=int, default=0)
    parser.add_argument("--latency-ms", type=int, default=0, help="latency injected into every request")
    parser.add_argument("--webhook-debounce-s", type=float, default=30.0,
                        help="BC waits this long after a change before notifying (30 s in BC online)")
    args = parser.parse_args(argv)
    stack = start_stack(
        args.state, host=args.host, bc_port=args.bc_port, dataverse_port=args.dataverse_port,
        entra_port=args.entra_port, latency_ms=args.latency_ms, webhook_debounce_s=args.webhook_debounce_s,
    )
    print(json.dumps(stack.info.to_json()), flush=True)
    stopped = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopped.set())
    stopped.wait()
    stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
