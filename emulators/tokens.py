"""Bearer tokens the emulated Entra ID issues and the emulated BC and Dataverse check.

HS256 JWTs signed with a key the three emulators of one stack share: tokens look and expire
like Entra's, and a token for one audience is refused by the other service (401).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any

__all__ = ["TokenSigner", "InvalidToken"]


class InvalidToken(Exception):
    """The bearer token is missing, malformed, expired or for another audience."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True, slots=True)
class TokenSigner:
    key: bytes

    def issue(self, *, tenant: str, client_id: str, audience: str, ttl_s: int) -> str:
        now = int(time.time())
        header = {"alg": "HS256", "typ": "JWT"}
        claims = {
            "aud": audience, "iss": f"https://sts.windows.net/{tenant}/", "tid": tenant,
            "appid": client_id, "oid": client_id, "iat": now, "nbf": now, "exp": now + ttl_s,
        }
        signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
        sig = hmac.new(self.key, signing_input.encode(), hashlib.sha256).digest()
        return f"{signing_input}.{_b64(sig)}"

    def verify(self, authorization: str | None, audience: str) -> dict[str, Any]:
        """Return the claims of `Authorization: Bearer <jwt>` if valid for `audience`."""
        if not authorization or not authorization.startswith("Bearer "):
            raise InvalidToken("missing bearer token")
        token = authorization[len("Bearer "):].strip()
        try:
            head, body, sig = token.split(".")
            expected = hmac.new(self.key, f"{head}.{body}".encode(), hashlib.sha256).digest()
            if not hmac.compare_digest(expected, _unb64(sig)):
                raise InvalidToken("bad signature")
            claims: dict[str, Any] = json.loads(_unb64(body))
        except (ValueError, json.JSONDecodeError) as err:
            raise InvalidToken("malformed token") from err
        if claims.get("exp", 0) <= time.time():
            raise InvalidToken("token expired")
        if claims.get("aud", "").rstrip("/") != audience.rstrip("/"):
            raise InvalidToken("wrong audience")
        return claims
