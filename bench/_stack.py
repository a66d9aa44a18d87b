"""What the emulator benchmarks share: the stack in-process, trusted by requests, and a token from its Entra ID."""
from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import msal  # noqa: E402

from emulators.stack import StackInfo, start_stack  # noqa: E402


@contextmanager
def running_stack() -> Iterator[StackInfo]:
    """The three emulators in a temporary state folder, with REQUESTS_CA_BUNDLE trusting their CA (api-facts §C.3)."""
    with tempfile.TemporaryDirectory() as state:
        stack = start_stack(state)
        os.environ["REQUESTS_CA_BUNDLE"] = stack.info.ca_bundle
        try:
            yield stack.info
        finally:
            stack.stop()


def token(info: StackInfo, scope: str) -> str:
    """A client-credentials token through unmodified msal, as Koppel gets one."""
    app = msal.ConfidentialClientApplication(
        info.client_id, client_credential=info.client_secret,
        authority=f"{info.entra_url}/{info.tenant}", validate_authority=False, instance_discovery=False)
    result: str = app.acquire_token_for_client(scopes=[scope])["access_token"]
    return result
