"""Entra ID as msal's `ConfidentialClientApplication` sees it (api-facts §C.3).

Serves `/<tenant>/v2.0/.well-known/openid-configuration` and `/<tenant>/oauth2/v2.0/token`
for `grant_type=client_credentials`. Not emulated: other grants, certificates, instance
discovery, multi-tenant apps, JWKS (tokens are HS256, checked by the sibling emulators).
"""
from __future__ import annotations


import threading
from collections import Counter
from dataclasses import dataclass
from urllib.parse import parse_qsl

from emulators.server import Request, Response, WireError, default_route_of, json_response
from emulators.tokens import TokenSigner

__all__ = ["EntraId", "OAuthError"]


class OAuthError(WireError):
    """OAuth 2.0 error shape: `{"error": "...", "error_description": "..."}`."""

    def to_response(self) -> Response:
        return json_response(
            self.status, {"error": self.code, "error_description": self.message, "error_codes": []}, self.headers
        )


@dataclass(frozen=True, slots=True)
class Client:
    client_id: str
    secret: str


class EntraId:
    name = "entra"
    retry_after_statuses: frozenset[int] = frozenset()

    def __init__(self, signer: TokenSigner, tenant: str, clients: list[Client], token_ttl_s: int = 3600):
        self.signer = signer
        self.tenant = tenant
        self.clients = {c.client_id: c for c in clients}
        self.token_ttl_s = token_ttl_s
        self.issued: Counter[str] = Counter()  # tokens per client, so tests can prove caching
        self._lock = threading.Lock()

    def route_of(self, req: Request) -> str:
        return default_route_of(req)

    def throttled(self, retry_after_s: int) -> WireError:
        return OAuthError(429, "temporarily_unavailable", "Too many requests.", {"Retry-After": str(retry_after_s)})

    def handle_admin(self, req: Request, action: str) -> Response | None:
        if action == "reset" and req.method == "POST":
            with self._lock:
                self.issued.clear()
            return Response(204)
        if action == "tokens" and req.method == "GET":
            return json_response(200, dict(self.issued))
        if action == "token-ttl" and req.method == "POST":
            self.token_ttl_s = int(req.json()["seconds"])
            return json_response(200, {"seconds": self.token_ttl_s})
        return None

    def handle(self, req: Request) -> Response:
        parts = req.path.strip("/").split("/")
        if not parts or parts[0] != self.tenant:
            raise OAuthError(400, "invalid_tenant", f"AADSTS90002: Tenant '{parts[0] if parts else ''}' not found.")
        rest = "/".join(parts[1:])
        if rest == "v2.0/.well-known/openid-configuration" and req.method == "GET":
            return json_response(200, self._discovery(req.base_url))
        if rest == "oauth2/v2.0/token" and req.method == "POST":
            return self._token(req)
        raise OAuthError(404, "not_found", "AADSTS900561: The endpoint only accepts POST requests.")

    def _discovery(self, base: str) -> dict[str, object]:
        root = f"{base}/{self.tenant}"
        return {
            "token_endpoint": f"{root}/oauth2/v2.0/token",
            "authorization_endpoint": f"{root}/oauth2/v2.0/authorize",
            "issuer": f"{root}/v2.0",
            "jwks_uri": f"{root}/discovery/v2.0/keys",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "response_types_supported": ["code", "id_token", "token"],
            "grant_types_supported": ["client_credentials"],
            "tenant_region_scope": "EU",
        }

    def _token(self, req: Request) -> Response:
        form = dict(parse_qsl(req.body.decode("utf-8", "replace")))
        if form.get("grant_type") != "client_credentials":
            raise OAuthError(400, "unsupported_grant_type", "AADSTS70003: The app requested an unsupported grant type.")
        client = self.clients.get(form.get("client_id", ""))
        if client is None:
            raise OAuthError(400, "unauthorized_client", "AADSTS700016: Application not found in the directory.")
        if form.get("client_secret") != client.secret:
            raise OAuthError(401, "invalid_client", "AADSTS7000215: Invalid client secret provided.")
        scope = form.get("scope", "")
        resources = [s[: -len("/.default")] for s in scope.split() if s.endswith("/.default")]
        if len(resources) != 1:
            raise OAuthError(400, "invalid_scope", "AADSTS1002012: The provided value for scope is not valid; "
                             "client credentials need exactly one <resource>/.default scope.")
        token = self.signer.issue(
            tenant=self.tenant, client_id=client.client_id, audience=resources[0], ttl_s=self.token_ttl_s
        )
        with self._lock:
            self.issued[client.client_id] += 1
        return json_response(
            200,
            {"token_type": "Bearer", "expires_in": self.token_ttl_s, "ext_expires_in": self.token_ttl_s,
             "access_token": token},
            {"Cache-Control": "no-store"},
        )


