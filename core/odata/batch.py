"""Batched writes both clients share: WriteOp/WriteResult, chunking, retrying only the retriable ops,
and the multipart `$batch` wire format (build and parse) that Dataverse speaks (api-facts §A.5).
"""
from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from core.errors import KoppelError, Retriable
from core.model import Record
from core.odata.retry import RetryPolicy

__all__ = [
    "WriteKind", "WriteOp", "WriteResult", "apply_in_chunks", "Part", "PartResponse",
    "build_multipart", "parse_multipart",
]

WriteKind = Literal["create", "update", "delete"]


@dataclass(frozen=True, slots=True)
class WriteOp:
    """One write in a batch.

    Attributes:
        kind: "create", "update" or "delete".
        entity: the entity set (BC `customers`, Dataverse `accounts`).
        id: the record id; for a Dataverse create the client-chosen id (idempotent create).
        etag: the ETag read while planning; required for update and delete (SPEC X8).
        values: the fields to write, by mapping field name.
        ref: the caller's correlation key, returned on the result.
    """

    kind: WriteKind
    entity: str
    id: str | None = None
    etag: str | None = None
    values: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    ref: str = ""


@dataclass(frozen=True, slots=True)
class WriteResult:
    """The outcome of one WriteOp: the written record (None for a delete), or its classified error."""

    op: WriteOp
    record: Record | None = None
    error: KoppelError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def apply_in_chunks(
    ops: Sequence[WriteOp],
    *,
    size: int,
    send: Callable[[Sequence[WriteOp]], list[WriteResult]],
    retry: RetryPolicy,
    sleep: Callable[[float], None],
    idempotent: Callable[[WriteOp], bool],
) -> list[WriteResult]:
    """Send `ops` in chunks of `size`, then resend only the ops that failed retriably (bounded).

    A whole-request failure that survives the session's own retries marks every op of that
    chunk with the error, so one chunk never sinks the others.

    Returns:
        One result per op, in the order of `ops`.
    """
    results: dict[int, WriteResult] = {}
    pending = list(range(len(ops)))
    policies = {i: retry for i in pending}
    while pending:
        for start in range(0, len(pending), size):
            chunk = pending[start:start + size]
            try:
                answers = send([ops[i] for i in chunk])
            except Retriable as err:
                answers = [WriteResult(ops[i], error=err) for i in chunk]
            for i, answer in zip(chunk, answers):
                results[i] = answer
        waits: list[float] = []
        again: list[int] = []
        for i in pending:
            error = results[i].error
            if isinstance(error, Retriable) and not policies[i].is_exhausted() \
                    and policies[i].is_retry(error, idempotent=idempotent(ops[i])):
                policies[i] = policies[i].increment(error, idempotent=idempotent(ops[i]))
                waits.append(policies[i].wait_for(error))
                again.append(i)
        if again:
            sleep(max(waits))
        pending = again
    return [results[i] for i in range(len(ops))]


# -- multipart $batch (Dataverse) ---------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Part:
    """One request inside a multipart batch; `url` absolute, `body` JSON-able or None."""

    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    body: Any = None


@dataclass(frozen=True, slots=True)
class PartResponse:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        """The body as JSON, or None when empty or not JSON."""
        try:
            return json.loads(self.body) if self.body.strip() else None
        except ValueError:
            return None


def build_multipart(parts: Sequence[Part]) -> tuple[str, bytes]:
    """(Content-Type, body) of a `$batch` with one top-level part per request (no changeset,
    so each part stands alone under `odata.continue-on-error`, api-facts §A.5).

    The boundary is a digest of the parts, so it is deterministic and cannot occur in them.
    """
    rendered: list[str] = []
    for part in parts:
        lines = [f"{part.method} {part.url} HTTP/1.1"]
        headers = dict(part.headers)
        payload = ""
        if part.body is not None:
            headers.setdefault("Content-Type", "application/json; type=entry")
            payload = json.dumps(part.body, separators=(",", ":"), ensure_ascii=False)
        lines += [f"{k}: {v}" for k, v in headers.items()]
        rendered.append("\r\n".join(lines) + "\r\n\r\n" + payload)
    boundary = "batch_" + hashlib.sha256("\0".join(rendered).encode()).hexdigest()[:32]
    chunks = [
        f"--{boundary}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n{r}\r\n"
        for r in rendered
    ]
    body = "".join(chunks) + f"--{boundary}--\r\n"
    return f"multipart/mixed; boundary={boundary}", body.encode()


_BOUNDARY_RE = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)
_STATUS_RE = re.compile(rb"^HTTP/\d(?:\.\d)?\s+(\d{3})")


def _split_head(blob: bytes) -> tuple[bytes, bytes]:
    """(header block, rest) at the first blank line, CRLF or LF."""
    match = re.search(rb"\r?\n\r?\n", blob)
    if match is None:
        return blob, b""
    return blob[:match.start()], blob[match.end():]


def _headers(block: bytes) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in block.decode("utf-8", "replace").splitlines():
        name, sep, value = line.partition(":")
        if sep:
            found[name.strip()] = value.strip()
    return found


def parse_multipart(content_type: str, body: bytes) -> list[PartResponse]:
    """Every HTTP answer in a multipart `$batch` response, changesets flattened, in order.

    Tolerates LF or CRLF line ends, quoted boundaries, preambles and a missing close delimiter.

    Raises:
        ValueError: the content type names no boundary.
    """
    match = _BOUNDARY_RE.search(content_type)
    if match is None:
        raise ValueError("multipart response without a boundary")
    delimiter = b"--" + match.group(1).encode()
    answers: list[PartResponse] = []
    for segment in body.split(delimiter)[1:]:
        if segment.startswith(b"--"):
            break  # the close delimiter
        segment = re.sub(rb"^[ \t]*\r?\n", b"", segment, count=1)
        segment = re.sub(rb"\r?\n$", b"", segment, count=1)  # the CRLF belongs to the next delimiter
        mime_block, content = _split_head(segment)
        mime = {k.lower(): v for k, v in _headers(mime_block).items()}
        inner_type = mime.get("content-type", "")
        if inner_type.lower().startswith("multipart/"):
            answers.extend(parse_multipart(inner_type, content))
            continue
        http_block, payload = _split_head(content.lstrip(b"\r\n"))
        first, _, rest = http_block.partition(b"\n")
        status = _STATUS_RE.match(first.strip())
        if status is None:
            continue  # not an HTTP answer: skip it; the caller notices the missing part
        answers.append(PartResponse(int(status.group(1)), _headers(rest), payload))
    return answers
