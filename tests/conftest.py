"""Session fixtures: the emulator stack over real HTTPS, trusted through REQUESTS_CA_BUNDLE."""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from emulators.stack import Stack, start_stack


@pytest.fixture(name="stack", scope="session")
def _stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """BC, Dataverse and Entra ID emulators, with the CA trusted by requests and msal."""
    state: Path = tmp_path_factory.mktemp("emulators")
    stack = start_stack(state, webhook_debounce_s=0.2)
    previous = os.environ.get("REQUESTS_CA_BUNDLE")
    os.environ["REQUESTS_CA_BUNDLE"] = stack.info.ca_bundle
    yield stack
    stack.stop()
    if previous is None:
        os.environ.pop("REQUESTS_CA_BUNDLE", None)
    else:
        os.environ["REQUESTS_CA_BUNDLE"] = previous


@pytest.fixture(name="fresh_stack")
def _fresh_stack(stack: Stack) -> Stack:
    """The stack with every emulator's data, faults and counters reset before the test."""
    for server in stack.servers.values():
        requests.post(f"{server.url}/_admin/reset", timeout=10).raise_for_status()
    return stack


def bearer(stack: Stack, scope: str) -> dict[str, str]:
    """An Authorization header from the emulated Entra ID (client credentials)."""
    resp = requests.post(
        f"{stack.info.entra_url}/{stack.info.tenant}/oauth2/v2.0/token",
        data={"grant_type": "client_credentials", "client_id": stack.info.client_id,
              "client_secret": stack.info.client_secret, "scope": scope},
        timeout=10,
    )
    resp.raise_for_status()
    return {"Authorization": f"Bearer {resp.json()['access_token']}"}


AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


@pytest.fixture(name="azurite", scope="session")
def _azurite() -> Iterator[str]:
    """Azurite's Table service in memory; yields its connection string."""
    import signal
    import socket
    import subprocess
    import time

    root = Path(__file__).resolve().parent.parent
    main_js = root / "node_modules/azurite/dist/src/table/main.js"
    if not main_js.exists():
        pytest.fail("Azurite is not installed: run `npm install` in the project root")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        ["node", str(main_js), "--inMemoryPersistence", "--disableTelemetry", "--silent",
         "--tableHost", "127.0.0.1", "--tablePort", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail("Azurite did not start")
            time.sleep(0.1)
    yield (f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={AZURITE_KEY};"
           f"TableEndpoint=http://127.0.0.1:{port}/devstoreaccount1;")
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
