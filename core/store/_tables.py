"""What every repository shares: key escaping, error translation, datetimes, JSON columns, transactions.

The only place besides the repositories that touches azure-core; nothing here leaves `core/store/`.
"""
from __future__ import annotations

import base64
import binascii
import datetime as dt
import http.client
import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.data.tables import TableClient, TableTransactionError, UpdateMode

from core.errors import AuthError, Conflict, InvalidInput, KoppelError, NotFound, Rejected, Retriable, StaleWrite

__all__ = [
    "MAX_BATCH", "SERVICE", "STORAGE_ERRORS", "key", "translate", "translated", "to_utc", "from_utc", "dumps", "loads",
    "encode_continuation", "decode_continuation", "failed_op", "if_match", "range_filter", "inverted_ms", "chunks", "first_rows", "TableClient",
    "TableTransactionError", "UpdateMode", "MatchConditions", "ResourceNotFoundError", "ResourceExistsError",
    "ResourceModifiedError", "HttpResponseError",
]

# api-facts §D: an entity group transaction holds at most 100 entities of one partition. Azurite answers a
# 101-op batch with a reply the SDK cannot parse (tooling.md §1), so every caller chunks to this.
MAX_BATCH = 100
SERVICE = "storage"

# Everything the SDK and its transport raise; below `store/` nothing else may escape.
STORAGE_ERRORS: tuple[type[BaseException], ...] = (AzureError, http.client.HTTPException, ConnectionError)

# Characters Table Storage refuses in PartitionKey/RowKey (tooling.md §1), plus '%' (our escape) and '|'
# (our separator, so a prefix range scan like `erp|` can never match a neighbour's keys).
_ESCAPES = {c: f"%{ord(c):02X}" for c in "%/\\#?|"}


def key(value: str) -> str:
    """Escape a value for use inside a PartitionKey or RowKey; order of plain ids is preserved."""
    out = []
    for c in value:
        if c in _ESCAPES:
            out.append(_ESCAPES[c])
        elif ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F:
            out.append(f"%{ord(c):02X}")
        else:
            out.append(c)
    return "".join(out)


def range_filter(extra: str = "") -> str:
    """A parameterised filter for RowKeys in [@lo, @hi) of partition @pk, with an optional `and …` clause."""
    base = "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi"
    return f"{base} and {extra}" if extra else base


def inverted_ms(moment: dt.datetime) -> str:
    """A RowKey prefix that sorts newest first (Table Storage only scans ascending)."""
    ms = int(to_utc(moment).timestamp() * 1000)
    return f"{9_999_999_999_999 - ms:013d}"


def chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def first_rows(pages: Iterable[Iterable[Any]], top: int) -> list[Any]:
    """Up to `top` rows of a paged query, reading no further page than needed."""
    rows: list[Any] = []
    for page in pages:
        rows.extend(page)
        if len(rows) >= top:
            break
    return rows[:top]


def to_utc(value: dt.datetime) -> dt.datetime:
    """Datetimes are stored timezone-aware UTC (Azurite keeps microseconds, so no ISO-string fallback is needed)."""
    if value.tzinfo is None:
        raise ValueError("naive datetimes are not stored: pass an aware UTC datetime")
    return value.astimezone(dt.timezone.utc)


def from_utc(value: Any) -> dt.datetime | None:
    """The SDK's TablesEntityDatetime back to a plain aware datetime, so no SDK type leaves the store."""
    if value is None:
        return None
    return dt.datetime(value.year, value.month, value.day, value.hour, value.minute, value.second,
                       value.microsecond, tzinfo=dt.timezone.utc)


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def loads(value: str | None, default: Any) -> Any:
    return default if value is None else json.loads(value)


def encode_continuation(token: Any) -> str | None:
    """The SDK's continuation dict as an opaque, URL-safe string (base64url of JSON)."""
    if not token:
        return None
    return base64.urlsafe_b64encode(dumps(token).encode()).decode().rstrip("=")


def decode_continuation(token: str | None) -> Any:
    if token is None:
        return None
    try:
        value = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError) as err:
        raise InvalidInput("continuation", "The continuation token is not one this service issued.") from err
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise InvalidInput("continuation", "The continuation token is not one this service issued.")
    return value


def if_match(etag: str | None) -> dict[str, Any]:
    """Keyword arguments for a write that must lose when the row changed since `etag` was read (STYLE §19)."""
    if etag is None:
        raise ValueError("a conditional write needs the etag of the row as read: read it first")
    return {"etag": etag, "match_condition": MatchConditions.IfNotModified}


def failed_op(err: TableTransactionError) -> tuple[int, str]:
    """Which operation of a transaction failed and why (api-facts §D: the batch is all-or-nothing)."""
    return (err.index if err.index is not None else -1), str(getattr(err, "error_code", "") or "")


def translate(what: str, err: BaseException) -> KoppelError:
    """Koppel's error for an azure-core (or transport) exception (STYLE §11); `what` names the operation, never values.

    Callers that give one error a specific meaning (AlreadyCoupled, StaleWrite on a given op) check it first;
    this is the fallback. Use as `raise translate("…", err) from err`.
    """
    if isinstance(err, ResourceModifiedError):  # 412 UpdateConditionNotSatisfied
        return StaleWrite(f"{what}: the row changed since it was read.")
    if isinstance(err, ResourceExistsError):  # 409; has no .error_code (tooling.md §1)
        return Conflict(f"{what}: the row already exists.", reason="exists")
    if isinstance(err, ResourceNotFoundError):
        return NotFound(f"{what}: not found.")
    if isinstance(err, TableTransactionError):
        index, code = failed_op(err)
        if code == "UpdateConditionNotSatisfied":
            return StaleWrite(f"{what}: operation {index} lost its etag.")
        return Rejected(f"{what}: transaction operation {index} failed ({code}).", service=SERVICE,
                        status=err.status_code, code=code)
    if isinstance(err, ClientAuthenticationError):
        return AuthError(f"{what}: storage refused the credentials.", service=SERVICE, status=err.status_code)
    if isinstance(err, HttpResponseError) and err.status_code is not None:
        status = err.status_code
        cls = Retriable if status in (408, 429, 500, 502, 503, 504) else Rejected
        wire_code = str(getattr(err, "error_code", "") or "") or None
        return cls(f"{what}: storage answered {status}.", service=SERVICE, status=status, code=wire_code)
    # Connection refused, DNS, timeouts, and the unparseable reply to an over-long batch (tooling.md §1).
    return Retriable(f"{what}: storage is unreachable or answered garbage ({type(err).__name__}).", service=SERVICE)


@contextmanager
def translated(what: str) -> Iterator[None]:
    """Run a block, turning any storage exception into Koppel's error tree."""
    try:
        yield
    except STORAGE_ERRORS as err:
        raise translate(what, err) from err
