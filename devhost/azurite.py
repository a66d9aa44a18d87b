"""Start and stop Azurite's Table and Queue services (npm `azurite`, installed into ./node_modules by `npm install`).

The Queue service carries the local job queue (core/store/job_queue.py): its messages outlive the app's process.

`python -m devhost.azurite [--port N] [--location DIR]` runs it standalone and prints one JSON line,
`{"connectionString": ...}`, then waits for SIGINT/SIGTERM. It is always stopped with SIGINT:
with `--location`, SIGTERM can lose the last ~5 s of writes (reference/tooling.md §1).
"""
from __future__ import annotations

import argparse
import json
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import FrameType
from typing import IO

__all__ = ["Azurite", "AzuriteError", "start_azurite", "ACCOUNT_NAME", "ACCOUNT_KEY"]

# The well-known development account every Azurite accepts (tooling.md §1).
ACCOUNT_NAME = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
PROJECT_ROOT = Path(__file__).resolve().parent.parent
TABLE_MAIN = Path("node_modules/azurite/dist/src/table/main.js")
QUEUE_MAIN = Path("node_modules/azurite/dist/src/queue/main.js")


class AzuriteError(RuntimeError):
    """Azurite is not installed, or did not start."""


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=1).close()
    except urllib.error.HTTPError:
        return True  # Azurite answers 400 on "/" once it is up
    except OSError:
        return False
    return True


class Azurite:
    """A running Azurite: its Table service (`process`, `port`) and, when started, its Queue service."""

    def __init__(self, process: subprocess.Popen[bytes], host: str, port: int, log: IO[bytes]):
        self.process = process
        self.host = host
        self.port = port
        self._log = log
        self.queue: Azurite | None = None  # the Queue service, a second node process

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}/{ACCOUNT_NAME}"

    table_endpoint = endpoint

    @property
    def connection_string(self) -> str:
        # Explicit form: UseDevelopmentStorage=true would point at the default port 10002.
        queue = f"QueueEndpoint={self.queue.endpoint};" if self.queue else ""
        return (f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT_NAME};AccountKey={ACCOUNT_KEY};"
                f"TableEndpoint={self.table_endpoint};{queue}")

    def log_text(self) -> str:
        """What Azurite printed so far (for error messages)."""
        self._log.flush()
        return Path(self._log.name).read_text(encoding="utf-8", errors="replace")

    def stop(self, timeout: float = 15.0) -> None:
        """SIGINT and wait, so Azurite saves its database; kill only if it hangs."""
        if self.queue is not None:
            self.queue.stop(timeout)
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if not self._log.closed:
            self._log.close()
            Path(self._log.name).unlink(missing_ok=True)

    def __enter__(self) -> Azurite:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_azurite(*, location: Path | None = None, port: int = 0, host: str = "127.0.0.1",
                  project_root: Path = PROJECT_ROOT, timeout: float = 30.0, queue_port: int = 0,
                  queues: bool = True) -> Azurite:
    """Start Azurite's Table service (and its Queue service, unless `queues` is False) and wait until they answer.

    Args:
        location: folder for its database; None keeps everything in memory.
        port: the table port; 0 picks a free one.
        project_root: where `node_modules/` is.
        timeout: seconds to wait for it to answer.
        queue_port: the queue port; 0 picks a free one.

    Raises:
        AzuriteError: Azurite or node is missing (the message says to run `npm install`), or it did not start.
    """
    table = _start_service(TABLE_MAIN, "table", location=location, port=port, host=host,
                           project_root=project_root, timeout=timeout)
    if queues:
        try:
            table.queue = _start_service(QUEUE_MAIN, "queue", location=location, port=queue_port, host=host,
                                         project_root=project_root, timeout=timeout)
        except BaseException:
            table.stop()
            raise
    return table


def _node(project_root: Path) -> str:
    """The Node.js that runs Azurite: the one package.json pins (npm `node`, Azurite 3.37 needs 22), else PATH's."""
    pinned = project_root / "node_modules" / ".bin" / "node"
    if pinned.exists():
        return str(pinned)
    node = shutil.which("node")
    if node is None:
        raise AzuriteError("node is not on PATH; Azurite needs Node.js (then run `npm install`)")
    return node


def _start_service(main: Path, service: str, *, location: Path | None, port: int, host: str, project_root: Path,
                   timeout: float) -> Azurite:
    main_js = project_root / main
    if not main_js.exists():
        raise AzuriteError(f"Azurite is not installed ({main_js} is missing): run `npm install` in {project_root}")
    node = _node(project_root)
    attempts = 1 if port else 3  # a picked free port can be taken before Azurite binds it
    for attempt in range(attempts):
        chosen = port or _free_port(host)
        storage = ["--location", str(location)] if location else ["--inMemoryPersistence"]
        if location:
            location.mkdir(parents=True, exist_ok=True)
        log = tempfile.NamedTemporaryFile(prefix="azurite-", suffix=".log", delete=False)
        process = subprocess.Popen(
            [node, str(main_js), "--disableTelemetry", f"--{service}Host", host, f"--{service}Port", str(chosen),
             *storage],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=location or project_root,
        )
        azurite = Azurite(process, host, chosen, log)
        deadline = time.monotonic() + timeout
        while process.poll() is None and time.monotonic() < deadline:
            if _answers(f"http://{host}:{chosen}/"):
                return azurite
            time.sleep(0.1)
        output = azurite.log_text()
        azurite.stop()
        if "EADDRINUSE" in output and attempt + 1 < attempts:
            continue
        raise AzuriteError(f"Azurite's {service} service did not start on {host}:{chosen}; its output:\n{output[-2000:]}")
    raise AssertionError("unreachable")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devhost.azurite", description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--location", type=Path, default=None, help="database folder (default: in memory)")
    args = parser.parse_args(argv)
    stopping = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        azurite = start_azurite(location=args.location, port=args.port)
    except AzuriteError as err:
        print(str(err), file=sys.stderr)
        return 1
    print(json.dumps({"connectionString": azurite.connection_string}), flush=True)
    try:
        while not stopping.wait(0.5):
            if azurite.process.poll() is not None:
                print(f"Azurite exited:\n{azurite.log_text()[-2000:]}", file=sys.stderr)
                return 1
    finally:
        azurite.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
