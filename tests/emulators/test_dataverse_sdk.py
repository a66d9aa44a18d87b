"""Microsoft's `powerplatform-dataverse-client`, unchanged, against the Dataverse emulator (api-facts §C.1)."""
from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import msal
import pytest
import requests

from emulators.stack import Stack

dataverse_client = pytest.importorskip(
    "PowerPlatform.Dataverse.client",
    reason="powerplatform-dataverse-client is not installed (pip install -r requirements-sdk.txt)")
AccessToken = pytest.importorskip("azure.core.credentials").AccessToken

pytestmark = pytest.mark.sdk


class MsalCredential:
    """An azure-core TokenCredential over msal's client-credentials flow against the emulated Entra ID."""

    def __init__(self, stack: Stack):
        self.app = msal.ConfidentialClientApplication(
            stack.info.client_id, client_credential=stack.info.client_secret,
            authority=f"{stack.info.entra_url}/{stack.info.tenant}", validate_authority=False,
            instance_discovery=False)

    def get_token(self, *scopes: str, claims: str | None = None, tenant_id: str | None = None,
                  enable_cae: bool = False, **kwargs: Any) -> Any:
        result = self.app.acquire_token_for_client(scopes=list(scopes))  # msal caches until expiry
        if "access_token" not in result:
            raise RuntimeError(f"token request failed: {result.get('error')}")
        return AccessToken(result["access_token"], int(time.time()) + int(result["expires_in"]))


@pytest.fixture(name="client")
def _client(fresh_stack: Stack) -> Iterator[Any]:
    """The official client on the reset emulator."""
    with dataverse_client.DataverseClient(fresh_stack.info.dataverse_url, MsalCredential(fresh_stack)) as client:
        yield client


def _rows(stack: Stack) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = requests.get(
        f"{stack.info.dataverse_url}/_admin/records/accounts", timeout=10).json()["value"]
    return rows


def test_sdk_creates_lists_updates_and_upserts(client: Any, fresh_stack: Stack) -> None:
    ident = client.records.create("account", {"name": "Contoso", "customertypecode": 3})
    ids = client.records.create("account", [{"name": f"Bulk {i}"} for i in range(30)])
    assert len(ids) == 30

    pages = list(client.records.list_pages("account", select=["name"], page_size=7))
    assert [len(p) for p in pages] == [7, 7, 7, 7, 3]
    assert {r["accountid"] for p in pages for r in p} == {ident, *ids}

    client.records.update("account", ident, {"telephone1": "555-0100"})
    client.records.upsert("account", [{"alternate_key": {"accountnumber": "ACC-1"}, "record": {"name": "One"}}])
    client.records.upsert("account", [
        {"alternate_key": {"accountnumber": "ACC-1"}, "record": {"name": "One again"}},
        {"alternate_key": {"accountnumber": "ACC-2"}, "record": {"name": "Two"}}])

    rows = {r["accountid"]: r for r in _rows(fresh_stack)}
    assert rows[ident]["telephone1"] == "555-0100"
    by_number = {r["accountnumber"]: r["name"] for r in rows.values() if r["accountnumber"]}
    assert by_number == {"ACC-1": "One again", "ACC-2": "Two"}
    counts = requests.get(f"{fresh_stack.info.dataverse_url}/_admin/requests", timeout=10).json()["routes"]
    assert counts["POST /api/data/v9.2/accounts/Microsoft.Dynamics.CRM.UpsertMultiple"] == 1
    assert counts["GET /api/data/v9.2/EntityDefinitions"] >= 1  # the SDK's hidden calls (§C.1) were served
