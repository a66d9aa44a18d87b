"""`python -m devhost [--port 7071] [--no-timers]`: serve ./function_app.py until SIGINT/SIGTERM.

When ready it prints one JSON line on stdout, `{"url": ..., "functionKey": ...}`; logs go to stderr.
The key is `KOPPEL_FUNCTION_KEY` if set, else generated.
"""
from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import signal
import sys
import threading
from types import FrameType

import azure.functions as func

from devhost.host import serve

__all__ = ["main"]

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(function_name)s %(invocation_id)s] %(message)s"


def _find_app(module: object) -> func.FunctionApp:
    # The worker indexes whichever FunctionApp the module defines, whatever its variable name.
    apps = [v for v in vars(module).values() if isinstance(v, func.FunctionApp)]
    if len(apps) != 1:
        raise SystemExit(f"function_app.py must define exactly one FunctionApp (found {len(apps)})")
    return apps[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devhost", description=__doc__)
    parser.add_argument("--port", type=int, default=7071)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--no-timers", action="store_true", help="do not run timer functions on their schedules")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format=LOG_FORMAT)
    sys.path.insert(0, os.getcwd())
    app = _find_app(importlib.import_module("function_app"))

    stopping = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    host = serve(app, host=args.host, port=args.port, function_key=os.environ.get("KOPPEL_FUNCTION_KEY") or None,
                 timers=not args.no_timers)
    print(json.dumps({"url": host.url, "functionKey": host.function_key}), flush=True)
    try:
        while not stopping.wait(0.5):
            pass
    finally:
        host.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
