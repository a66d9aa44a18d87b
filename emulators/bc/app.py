"""Business Central API v2.0 over HTTPS: authenticates, strips `/v2.0/{tenant}/{env}/api/v2.0/`, routes one
operation or a JSON `$batch`, and serialises answers (api-facts §B, conformance list §E.2).

Not emulated: `$metadata` and the service document, `$expand` and deep insert, custom APIs
(`/api/{publisher}/…`), other entities than customers, vendors, contacts, items and currencies, the
id/code consistency of items' category, tax group, unit and posting-group fields, `Accept-Language`,
`Data-Access-Intent` replicas (accepted, ignored), multipart `$batch`, `dependsOn`/atomicity groups,
delegated (user) tokens and permission sets, 36-hour webhook retries (bounded here), the 6,000-per-5-min
rate limit (use `/_admin/faults`), job-queue-held notifications, deleting currencies still in use,
deleting a company contact's persons.
"""
from __future__ import annotations

import json
from typing import Any, Callable

from emulators.bc.admin import serve_admin
from emulators.bc.batch import run_batch
from emulators.bc.errors import BadRequest, EnvironmentNotFound, InvalidCredentials, ResourceNotFound, TooManyRequests
from emulators.bc.routes import NO_BODY, Answer, Op, run_op
from emulators.bc.state import BcState, now_ms
from emulators.bc.webhooks import WebhookHub
from emulators.server import Request, Response, WireError, default_route_of
from emulators.tokens import InvalidToken, TokenSigner

__all__ = ["BusinessCentral"]

_COMPANY_NAME = "CRONUS International Ltd."


class BusinessCentral:
    """The emulated environment: one tenant, one environment, one company."""

    name = "bc"
    retry_after_statuses = frozenset({502, 503})  # api-facts §F.7

    def __init__(self, signer: TokenSigner, *, tenant: str, environment: str, company_id: str, audience: str,
                 webhook_debounce_s: float = 30.0, ca_bundle: str | None = None):
        self.signer = signer
        self.tenant = tenant.lower()
        self.environment = environment
        self.company_id = company_id.lower()
        self.audience = audience
        self.webhooks = WebhookHub(self.company_id, webhook_debounce_s, ca_bundle)
        self.state = BcState(self.webhooks.record)
        self.on_request: Callable[[Request], None] | None = None
        self.company: dict[str, Any] = {}
        self.reset()

    # -- lifecycle and the server's hooks ----------------------------------------------------------
    def reset(self) -> None:
        """Clear data, subscriptions and hooks; re-create the company."""
        self.webhooks.reset()
        self.state.reset()
        self.on_request = None
        now = now_ms()
        self.company = {
            "id": self.company_id, "systemVersion": "27.0.38460.42000", "timestamp": 1,
            "name": _COMPANY_NAME, "displayName": _COMPANY_NAME, "businessProfileId": "",
            "systemCreatedAt": now, "systemCreatedBy": "00000000-0000-0000-0000-000000000001",
            "systemModifiedAt": now, "systemModifiedBy": "00000000-0000-0000-0000-000000000001",
        }

    def close(self) -> None:
        self.webhooks.close()

    def throttled(self, retry_after_s: int) -> WireError:
        return TooManyRequests("Too many requests reached. Please retry after some time.",
                               {"Retry-After": str(retry_after_s)})

    def too_many_requests(self) -> WireError:
        """More than 5 processing + 95 queued (api-facts §B.7)."""
        return TooManyRequests("Too many requests reached. Actual (101). Maximum (100).", {"Retry-After": "1"})

    def route_of(self, req: Request) -> str:
        return default_route_of(req)

    def handle_admin(self, req: Request, action: str) -> Response | None:
        return serve_admin(self, req, action)

    # -- serving -----------------------------------------------------------------------------------
    def api_path(self, path: str) -> str:
        """The part after `/v2.0/{tenant}/{environment}/api/v2.0/`; 404 for another tenant or environment."""
        parts = path.lstrip("/").split("/", 5)
        if len(parts) < 5 or parts[0] != "v2.0" or parts[3] != "api" or parts[4] != "v2.0":
            raise ResourceNotFound(f"Resource not found for the path '{path}'.")
        if parts[1].lower() != self.tenant or parts[2] != self.environment:
            raise EnvironmentNotFound(f"The environment '{parts[1]}/{parts[2]}' does not exist.")
        return parts[5] if len(parts) > 5 else ""

    def handle(self, req: Request) -> Response:
        if self.on_request is not None:
            self.on_request(req)
        claims = self._authenticate(req)
        rel = self.api_path(req.path)
        root = f"{req.base_url}/v2.0/{self.tenant}/{self.environment}/api/v2.0"
        user = str(claims.get("appid", ""))
        body = self._body(req)
        if rel.strip("/") == "$batch":
            answer = run_batch(self, req.method, body, req.header("Isolation"), root, user, req.header("Prefer"))
        else:
            headers = {k.lower(): v for k, v in req.headers.items()}
            answer = run_op(self, Op(req.method, rel, req.query, headers, body, root, req.raw_query, user))
        return _serialise(answer)

    def _authenticate(self, req: Request) -> dict[str, Any]:
        try:
            claims = self.signer.verify(req.header("Authorization"), self.audience)
        except InvalidToken as err:
            raise InvalidCredentials(f"The server has rejected the client credentials ({err}).", {
                "WWW-Authenticate": f'Bearer authorization_uri="https://login.microsoftonline.com/{self.tenant}/'
                                    f'oauth2/authorize", resource_id="{self.audience}"',
            }) from err
        if str(claims.get("tid", "")).lower() != self.tenant:
            raise InvalidCredentials("The server has rejected the client credentials (another tenant).",
                                     {"WWW-Authenticate": "Bearer"})
        return claims

    @staticmethod
    def _body(req: Request) -> Any:
        if not req.body:
            return NO_BODY
        try:
            return json.loads(req.body)
        except ValueError as err:
            raise BadRequest("Invalid Request Body") from err


def _serialise(answer: Answer) -> Response:
    headers = {"OData-Version": "4.0", **answer.headers}
    if answer.payload is None:
        return Response(answer.status, b"", headers)
    headers["Content-Type"] = "application/json; odata.metadata=minimal; odata.streaming=true; charset=utf-8"
    return Response(answer.status, json.dumps(answer.payload, separators=(",", ":")).encode(),
                    headers)
