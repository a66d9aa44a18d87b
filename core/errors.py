"""Koppel's error classes, one tree, each mapped to what the caller must do.

    KoppelError
    ├─ ConfigError (setting)             → 503: a side or the storage is not configured
    ├─ InvalidInput (field)              → 400: the request names a bad field; nothing changed
    ├─ NotFound                          → 404
    ├─ Conflict (reason)                 → 409
    │   └─ AlreadyCoupled                  one counterpart per record, per mapping, per side
    ├─ StaleWrite                        → the ETag was lost: re-read and re-plan once
    │   └─ PreconditionFailed              → 412: the caller's own If-Match is stale
    ├─ RemoteError (status, code, …)     → an API answered with an error
    │   ├─ Retriable (retry_after)         429 / 503 / 504 / timeouts: back off and retry
    │   └─ Rejected                        other 4xx: record an error row, never retry
    └─ RecordError (erp_id, crm_id)      → one record failed: error row, the pass goes on

`functions/http.py` renders these as RFC 9457 problems; nothing else builds error bodies.
"""
from __future__ import annotations

__all__ = [
    "KoppelError", "ConfigError", "InvalidInput", "NotFound", "Conflict", "AlreadyCoupled",
    "StaleWrite", "PreconditionFailed", "UnsupportedMediaType", "RemoteError", "Retriable", "Rejected", "RecordError", "AuthError",
]


class KoppelError(Exception):
    """Base of every error Koppel raises on purpose."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class ConfigError(KoppelError):
    """A required setting is missing or unusable; `setting` names it (never its value)."""

    def __init__(self, setting: str, message: str | None = None):
        super().__init__(message or f"The setting {setting} is not configured.")
        self.setting = setting


class InvalidInput(KoppelError):
    """The input is wrong; `field` is a JSON path such as `fieldMappings[3].direction`."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


class NotFound(KoppelError):
    """The thing asked for does not exist; `field` names the part of the request that pointed at it."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


class Conflict(KoppelError):
    """The request cannot be carried out in the current state; `reason` is a stable machine word."""

    def __init__(self, message: str, reason: str = "conflict", field: str | None = None):
        super().__init__(message)
        self.reason = reason
        self.field = field


class AlreadyCoupled(Conflict):
    def __init__(self, side: str, record_id: str, mapping: str):
        super().__init__(
            f"The {side.upper()} record {record_id} is already coupled in mapping {mapping}.",
            reason="alreadyCoupled",
            field="erpId" if side == "erp" else "crmId",
        )
        self.side = side
        self.record_id = record_id
        self.mapping = mapping


class UnsupportedMediaType(InvalidInput):
    """The body is not in a media type the route takes (only JSON in UTF-8); `field` is `Content-Type` (415)."""

    def __init__(self, message: str):
        super().__init__("Content-Type", message)


class StaleWrite(KoppelError):
    """A conditional write lost: someone changed the row after we read it (ETag mismatch)."""


class PreconditionFailed(StaleWrite):
    """The caller's `If-Match` no longer matches: someone changed the resource since they read it (412)."""

    def __init__(self, message: str, field: str = "If-Match"):
        super().__init__(message)
        self.field = field


class RemoteError(KoppelError):
    """An API answered with an error. Carries facts, never header values or tokens."""

    def __init__(self, message: str, *, service: str, status: int | None = None, code: str | None = None,
                 method: str | None = None, path: str | None = None):
        super().__init__(message)
        self.service = service
        self.status = status
        self.code = code
        self.method = method
        self.path = path


class Retriable(RemoteError):
    """Throttled (429), unavailable (503/504) or timed out: worth trying again after `retry_after` s."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: object):
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.retry_after = retry_after


class Rejected(RemoteError):
    """The API refused the request (4xx other than throttling or a stale ETag): retrying won't help."""


class AuthError(Rejected):
    """The identity provider or the API refused our credentials (401/403, invalid_client)."""


class RecordError(KoppelError):
    """One record could not be synchronized; the pass records it and goes on."""

    def __init__(self, message: str, *, erp_id: str | None = None, crm_id: str | None = None,
                 category: str = "validation", detail: str | None = None):
        super().__init__(message)
        self.erp_id = erp_id
        self.crm_id = crm_id
        self.category = category
        self.detail = detail
