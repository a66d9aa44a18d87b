"""What the BC and Dataverse clients share: status classification, retry, the session with its
concurrency cap and paging, OData literals, and batched writes (STYLE §13–15, DESIGN decision 6).
"""
from __future__ import annotations

from core.odata.batch import (
    Part, PartResponse, WriteKind, WriteOp, WriteResult, apply_in_chunks, build_multipart, parse_multipart,
)
from core.odata.classify import DUPLICATE_DV, STALE_BC, STALE_DV, classify, error_for, parse_retry_after, safe_path
from core.odata.literals import (
    and_, bc_datetime, compare, dv_datetime, dv_in, field_name, guid, literal, or_same_field, parse_datetime,
    query_string, quote, url_with_query,
)
from core.odata.retry import CONNECT_FAILED, NOT_EXECUTED, READ_FAILED, RetryPolicy
from core.odata.session import DEFAULT_TIMEOUT, ODataSession, is_idempotent

__all__ = [
    "Part", "PartResponse", "WriteKind", "WriteOp", "WriteResult", "apply_in_chunks", "build_multipart",
    "parse_multipart", "DUPLICATE_DV", "STALE_BC", "STALE_DV", "classify", "error_for", "parse_retry_after",
    "safe_path", "and_", "bc_datetime", "compare", "dv_datetime", "dv_in", "field_name", "guid", "literal",
    "or_same_field", "parse_datetime", "query_string", "quote", "url_with_query", "CONNECT_FAILED",
    "READ_FAILED", "NOT_EXECUTED", "RetryPolicy", "DEFAULT_TIMEOUT", "ODataSession", "is_idempotent",
]
