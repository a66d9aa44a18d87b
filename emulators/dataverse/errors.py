"""Dataverse's wire errors, one class per code (api-facts §A.2, §A.7): `{"error":{"code":"0x…","message"}}`."""
from __future__ import annotations

from emulators.server import WireError

__all__ = [
    "DataverseError", "BadRequest", "QueryNotSupported", "UnknownProperty", "InvalidArgument",
    "ObjectDoesNotExist", "ConcurrencyVersionMismatch", "DuplicateRecord", "Unauthorized",
    "MethodNotAllowed", "RequestsLimitExceeded", "ConcurrencyLimitExceeded", "ContentIdNotFound",
]


class DataverseError(WireError):
    """Base: the subclass fixes status and code; only the message varies."""

    status = 400
    code = "0x80040216"  # UnManagedidsGenericError

    def __init__(self, message: str, headers: dict[str, str] | None = None):
        super().__init__(type(self).status, type(self).code, message, headers)


class BadRequest(DataverseError):
    """Malformed body, URL or value (OData parser errors)."""

    code = "0x80060888"


class ExpiredVersionStamp(DataverseError):
    """A change-tracking delta token older than ExpireChangeTrackingInDays (api-facts §F.4)."""

    code = "0x80044352"


class QueryNotSupported(DataverseError):
    """A query option Dataverse refuses ($skip, $filter with track-changes …)."""

    code = "0x80060888"


class UnknownProperty(DataverseError):
    """A column name that the table does not have, in $select, $filter or a body."""

    code = "0x80060888"


class InvalidArgument(DataverseError):
    """A value of the wrong type or out of range for its column."""

    code = "0x80040203"


class ObjectDoesNotExist(DataverseError):
    status = 404
    code = "0x80040217"


class ConcurrencyVersionMismatch(DataverseError):
    """api-facts §A.2: a stale `If-Match: W/"n"` → 412."""

    status = 412
    code = "0x80060882"


class DuplicateRecord(DataverseError):
    """api-facts §A.2: `If-None-Match: *` on an existing row, or a second row with the same key → 412."""

    status = 412
    code = "0x80040237"


class Unauthorized(DataverseError):
    status = 401
    code = "0x80072560"


class MethodNotAllowed(DataverseError):
    status = 405
    code = "0x80060888"


class RequestsLimitExceeded(DataverseError):
    """api-facts §A.7: the request budget of the 300 s window is spent."""

    status = 429
    code = "0x80072322"


class ConcurrencyLimitExceeded(DataverseError):
    """api-facts §A.7: more than 52 concurrent requests, refused at once."""

    status = 429
    code = "0x80072326"


class ContentIdNotFound(DataverseError):
    """api-facts §A.5: `$n` refers to a Content-ID not (yet) declared in the changeset."""

    code = "0x80060888"
