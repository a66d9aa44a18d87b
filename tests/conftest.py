"""Session fixtures: the emulator stack over real HTTPS, trusted through REQUESTS_CA_BUNDLE."""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from emulators.stack import Stack, start_stack


# One pooled session for admin calls: a new HTTPS connection per call costs ~80 ms (the CA bundle is re-read).
_ADMIN = requests.Session()


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
        _ADMIN.post(f"{server.url}/_admin/reset", timeout=10).raise_for_status()
    return stack


def bearer(stack: Stack, scope: str) -> dict[str, str]:
    """An Authorization header from the emulated Entra ID (client credentials)."""
    resp = _ADMIN.post(
        f"{stack.info.entra_url}/{stack.info.tenant}/oauth2/v2.0/token",
        data={"grant_type": "client_credentials", "client_id": stack.info.client_id,
              "client_secret": stack.info.client_secret, "scope": scope},
        timeout=10,
    )
    resp.raise_for_status()
    return {"Authorization": f"Bearer {resp.json()['access_token']}"}



@pytest.fixture(name="azurite", scope="session")
def _azurite() -> Iterator[str]:
    """Azurite's Table service in memory (devhost.azurite); yields its connection string."""
    from devhost.azurite import start_azurite

    azurite = start_azurite()
    yield azurite.connection_string
    azurite.stop()
