"""KOPPEL_STORAGE as the table endpoint URL: the tables are opened with the app's identity, not a key."""
from __future__ import annotations

from azure.identity import DefaultAzureCredential

from core.settings import Settings
from core.store import _service

AZURITE = ("DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50u"
           "SRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;")


def test_an_endpoint_url_signs_in_with_the_managed_identity() -> None:
    service = _service("https://koppelabc.table.core.windows.net/", retry_total=3)
    assert service.url.startswith("https://koppelabc.table.core.windows.net")
    assert isinstance(service.credential, DefaultAzureCredential)
    assert Settings({"KOPPEL_STORAGE": "https://koppelabc.table.core.windows.net/"}).secrets() == []


def test_a_connection_string_still_uses_its_account_key() -> None:
    service = _service(AZURITE, retry_total=3)
    assert service.account_name == "devstoreaccount1"
    assert not isinstance(service.credential, DefaultAzureCredential)
