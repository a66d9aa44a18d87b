"""Business Central's wire errors: one class per error, each with its HTTP status and BC error code.

Codes and messages follow BC's error-code table (api-facts §B.3, BC `webservices/dynamics-error-codes.md`);
every message ends with a `CorrelationId`, as BC's do.
"""
from __future__ import annotations

import uuid

from emulators.server import WireError

__all__ = [
    "BcError", "BadRequest", "InvalidRequestUrl", "EnvironmentNotFound", "QuerySyntaxError", "ResourceNotFound", "RecordNotFound",
    "CompanyNotFound", "ReadOnlyProperty", "InvalidToken", "RequiredParamNotProvided", "EntityChanged",
    "MethodNotAllowed", "EntityWithSameKeyExists", "InvalidTableRelation", "StringExceededLength",
    "DialogException", "TooManyRequests", "InvalidCredentials", "PageSizeTooLarge",
]


class BcError(WireError):
    """`{"error":{"code","message"}}` with BC's `CorrelationId` suffix on the message."""

    status = 400
    code = "Unknown"

    def __init__(self, message: str, headers: dict[str, str] | None = None):
        super().__init__(self.status, self.code, f"{message}  CorrelationId:  {uuid.uuid4()}.", headers)


class BadRequest(BcError):
    """Malformed body, wrong value types, unknown properties, bad query options."""

    code = "BadRequest"


class InvalidRequestUrl(BcError):
    code = "BadRequest_InvalidRequestUrl"


class QuerySyntaxError(BcError):
    """A malformed key such as `customers(not-a-guid)`: BC answers 'Bad Request - Error in query syntax.'"""

    code = "BadRequest_NotFound"

    def __init__(self, message: str = "Bad Request - Error in query syntax."):
        super().__init__(message)


class EnvironmentNotFound(BcError):
    """An unknown tenant or environment in the URL."""

    status = 404
    code = "BadRequest_NotFound"


class ResourceNotFound(BcError):
    """An unknown tenant, environment, API route or entity set."""

    status = 404
    code = "BadRequest_ResourceNotFound"


class RecordNotFound(BcError):
    status = 404
    code = "Internal_RecordNotFound"


class CompanyNotFound(BcError):
    status = 404
    code = "Internal_CompanyNotFound"


class ReadOnlyProperty(BcError):
    code = "BadRequest_InvalidOperation"


class InvalidToken(BcError):
    """PATCH/DELETE without If-Match (api-facts §B.3)."""

    code = "BadRequest_InvalidToken"

    def __init__(self) -> None:
        super().__init__("Could not validate the client concurrency token required by the service. "
                         "Please provide a valid token in the client request.")


class RequiredParamNotProvided(BcError):
    code = "BadRequest_RequiredParamNotProvided"


class EntityChanged(BcError):
    """A stale ETag: 409, not 412 (api-facts §B.3)."""

    status = 409
    code = "Request_EntityChanged"

    def __init__(self) -> None:
        super().__init__("Another user has already changed the record.")


class MethodNotAllowed(BcError):
    status = 405
    code = "BadRequest_MethodNotAllowed"


class EntityWithSameKeyExists(BcError):
    code = "Internal_EntityWithSameKeyExists"


class InvalidTableRelation(BcError):
    code = "Internal_InvalidTableRelation"


class StringExceededLength(BcError):
    code = "Application_StringExceededLength"


class DialogException(BcError):
    """An application rule refused the request (webhook handshake failed, limits reached)."""

    code = "Application_DialogException"


class TooManyRequests(BcError):
    """429 for spent budgets and for more than 100 connections (api-facts §B.7)."""

    status = 429
    code = "Application_TooManyRequests"


class InvalidCredentials(BcError):
    status = 401
    code = "Authentication_InvalidCredentials"


class PageSizeTooLarge(BcError):
    """`odata.maxpagesize` above 20,000: the operational-limits table says 413 (api-facts §B.4)."""

    status = 413
    code = "BadRequest_RequestEntityTooLarge"
