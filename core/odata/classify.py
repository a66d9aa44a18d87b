"""The one status classifier for both APIs: an answer is fine, or it becomes a Koppel error.

`classify(response)` raises; `error_for(...)` returns the error, for `$batch` parts that each
carry their own status. Messages hold method, path, status and wire code, never query values,
header values or tokens (STYLE §12).
"""
from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import requests

from core.errors import AuthError, KoppelError, Rejected, RemoteError, Retriable, StaleWrite

__all__ = [
    "classify", "error_for", "parse_retry_after", "safe_path", "wire_error",
    "STALE_DV", "DUPLICATE_DV", "STALE_BC",
]

STALE_DV = "0x80060882"  # ConcurrencyVersionMismatch, 412 (api-facts §A.2)
DUPLICATE_DV = "0x80040237"  # DuplicateRecord, 412: If-None-Match: * found the row (api-facts §A.2)
STALE_BC = "Request_EntityChanged"  # 409, not 412 (api-facts §B.3)

# Throttled or unavailable: the service did not do the work (api-facts §A.7, §B.7).
_RETRIABLE = frozenset({429, 502, 503, 504})


def safe_path(url: str) -> str:
    """The URL's path with only the *names* of its query options: `/x/customers?$filter&$select`."""
    parts = urlsplit(url)
    names = [k for k, _ in parse_qsl(parts.query, keep_blank_values=True)]
    return parts.path + ("?" + "&".join(names) if names else "")


def parse_retry_after(value: str | None, *, clock: Callable[[], float] = time.time) -> float | None:
    """`Retry-After` as seconds: an integer, or an HTTP date measured from `clock()`; floored at 0."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - clock())


def wire_error(body: Any) -> tuple[str | None, str | None]:
    """(code, message) from `{"error":{"code","message"}}`, or (None, None)."""
    if isinstance(body, (bytes, str)):
        try:
            body = json.loads(body or b"null")
        except ValueError:
            return None, None
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None, None
    code, message = error.get("code"), error.get("message")
    return (str(code) if code else None), (str(message) if message else None)


def error_for(
    status: int,
    headers: Mapping[str, str],
    body: Any,
    *,
    service: str,
    method: str,
    url: str,
    clock: Callable[[], float] = time.time,
) -> KoppelError | None:
    """The error an answer means, or None for 2xx/304.

    Args:
        status: the HTTP status.
        headers: the answer's headers (only Retry-After is read).
        body: the parsed JSON body, or its bytes/text.
        service: "erp" or "crm", carried on the error.
        method: the request method.
        url: the request URL; only its path and query names reach the message.
        clock: wall-clock seconds, for Retry-After given as an HTTP date.

    Returns:
        StaleWrite, Retriable, AuthError, Rejected, or None when the answer is a success.
    """
    if 200 <= status < 300 or status == 304:
        return None
    code, message = wire_error(body)
    path = safe_path(url)
    text = f"{method} {path} → {status}{' ' + code if code else ''}: {message or 'no error message'}"
    facts: dict[str, Any] = {"service": service, "status": status, "code": code, "method": method, "path": path}
    # Stale ETag: BC answers 409 Request_EntityChanged; Dataverse 412, whose code is sometimes
    # empty in Microsoft's own examples, so any 412 except "duplicate" counts (api-facts §A.2, §B.3).
    if (status == 409 and code == STALE_BC) or (status == 412 and code != DUPLICATE_DV):
        err: KoppelError = StaleWrite(text)
        for name, value in facts.items():
            setattr(err, name, value)
        return err
    lowered = {k.lower(): v for k, v in headers.items()}
    if status in _RETRIABLE or status >= 500:
        return Retriable(text, retry_after=parse_retry_after(lowered.get("retry-after"), clock=clock), **facts)
    if status in (401, 403):
        return AuthError(text, **facts)
    if 400 <= status < 500:
        return Rejected(text, **facts)
    return RemoteError(text, **facts)  # 1xx/3xx other than 304: nothing we asked for


def classify(
    response: requests.Response, *, service: str = "remote", clock: Callable[[], float] = time.time
) -> None:
    """Raise the Koppel error a response means; return None for 2xx and 304.

    Raises:
        StaleWrite: the conditional write lost (Dataverse 412, BC 409 Request_EntityChanged).
        Retriable: 429, 502, 503, 504 or another 5xx, with `retry_after` in seconds when given.
        AuthError: 401 or 403.
        Rejected: any other 4xx.
    """
    if 200 <= response.status_code < 300 or response.status_code == 304:
        return
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    request = response.request
    method = (request.method if request is not None else None) or "?"
    url = (request.url if request is not None else None) or response.url or ""
    error = error_for(response.status_code, response.headers, body, service=service, method=method, url=url,
                      clock=clock)
    if error is not None:
        raise error
