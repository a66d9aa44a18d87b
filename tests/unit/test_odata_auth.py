"""MsalAuth: lazy msal app, authority validation only for Microsoft's host, errors without secrets,
and one fresh token after a 401."""
from __future__ import annotations

from typing import Any

import pytest
import requests

from core.odata.auth import MsalAuth
from core.errors import AuthError
from core.odata import ODataSession
from core.settings import CrmConfig, Secret
from tests.unit.test_odata_fakes import fake_session, make_response

SECRET = "s3cret-value-never-printed"


class FakeMsal:
    """Stands in for msal.ConfidentialClientApplication: hands out numbered tokens from a cache."""

    made: list[dict[str, Any]] = []

    def __init__(self, client_id: str, **kwargs: Any):
        FakeMsal.made.append({"client_id": client_id, **kwargs})
        self.issued = 0
        self.cached: str | None = None
        self.result: dict[str, Any] | None = None

    def acquire_token_for_client(self, scopes: list[str]) -> dict[str, Any]:
        if self.result is not None:
            return self.result
        if self.cached is None:
            self.issued += 1
            self.cached = f"token-{self.issued}"
        return {"access_token": self.cached, "token_type": "Bearer"}

    def remove_tokens_for_client(self) -> None:
        self.cached = None


def config(host: str = "https://127.0.0.1:9443") -> CrmConfig:
    return CrmConfig(url="https://org.example", tenant_id="t1", client_id="c1", client_secret=Secret(SECRET),
                     authority_host=host)


@pytest.fixture(autouse=True)
def _clear() -> None:
    """Each test sees only the msal apps it made."""
    FakeMsal.made = []


class TestMsalAuth:
    def test_app_is_made_lazily_and_local_authority_is_not_validated(self) -> None:
        auth = MsalAuth(config(), app_factory=FakeMsal)
        assert FakeMsal.made == []
        assert auth.token() == "token-1" and auth.token() == "token-1"
        assert FakeMsal.made == [{"client_id": "c1", "client_credential": SECRET, "authority": "https://127.0.0.1:9443/t1",
                                  "validate_authority": False, "instance_discovery": False}]

    def test_microsoft_authority_is_validated(self) -> None:
        MsalAuth(config("https://login.microsoftonline.com"), app_factory=FakeMsal).token()
        assert "validate_authority" not in FakeMsal.made[0]

    def test_error_result_is_auth_error_without_secret(self) -> None:
        auth = MsalAuth(config(), service="crm", app_factory=FakeMsal)
        auth._application().result = {"error": "invalid_client",
                                       "error_description": "AADSTS7000215: Invalid client secret.\nTrace ID: x"}
        with pytest.raises(AuthError) as info:
            auth.token()
        assert info.value.code == "invalid_client" and "AADSTS7000215" in str(info.value)
        assert SECRET not in str(info.value) and "Trace ID" not in str(info.value)

    def test_401_drops_the_token_once_and_resends(self) -> None:
        seen: list[str] = []

        def answer(request: requests.PreparedRequest) -> requests.Response:
            seen.append(str(request.headers["Authorization"]))
            return make_response(401 if len(seen) == 1 else 200, {"ok": True})
        http, _ = fake_session(answer)
        session = ODataSession(service="crm", auth=MsalAuth(config(), app_factory=FakeMsal), session=http)
        assert session.request("GET", "https://org.example/api/data/v9.2/WhoAmI").json() == {"ok": True}
        assert seen == ["Bearer token-1", "Bearer token-2"]

    def test_a_second_401_is_an_auth_error(self) -> None:
        http, adapter = fake_session(lambda request: make_response(401, {"error": {"code": "0x80072560",
                                                                                    "message": "no"}}))
        session = ODataSession(service="crm", auth=MsalAuth(config(), app_factory=FakeMsal), session=http)
        with pytest.raises(AuthError):
            session.request("GET", "https://org.example/api/data/v9.2/WhoAmI")
        assert len(adapter.requests) == 2
