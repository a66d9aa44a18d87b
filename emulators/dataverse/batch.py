"""Multipart `$batch` (api-facts §A.5): parts and atomic changesets, `$n` Content-ID references,
stop at the first error unless `Prefer: odata.continue-on-error`, and the response framing.
"""
from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from http import HTTPStatus
from urllib.parse import parse_qsl, unquote, urlsplit

from emulators.dataverse.body import API_PREFIX
from emulators.dataverse.errors import BadRequest, ContentIdNotFound, DataverseError
from emulators.dataverse.state import Store
from emulators.server import Request, Response

__all__ = ["MAX_PARTS", "Part", "parse_batch", "run_batch"]

MAX_PARTS = 1000
Execute = Callable[[Request], Response]


@dataclass(slots=True)
class Part:
    method: str
    url: str
    headers: list[tuple[str, str]]
    body: bytes
    content_id: str | None = None


@dataclass(slots=True)
class Changeset:
    parts: list[Part] = field(default_factory=list)


class _Rollback(Exception):
    def __init__(self, response: Response, content_id: str | None):
        self.response, self.content_id = response, content_id


def _boundary(content_type: str) -> str:
    m = re.search(r'boundary="?([^";]+)"?', content_type or "")
    if not m or not content_type.lower().startswith("multipart/mixed"):
        raise BadRequest("The batch request must be multipart/mixed with a boundary.")
    return m.group(1)


def _split_head(text: str) -> tuple[list[tuple[str, str]], str]:
    """MIME-style headers up to the first blank line, and what follows it."""
    m = re.search(r"\r?\n\r?\n", text)
    head, rest = (text, "") if m is None else (text[: m.start()], text[m.end():])
    headers = []
    for line in head.splitlines():
        if ":" in line:
            name, value = line.split(":", 1)
            headers.append((name.strip(), value.strip()))
    return headers, rest


def _segments(text: str, boundary: str) -> list[str]:
    out = []
    for seg in text.split(f"--{boundary}")[1:]:
        if seg.startswith("--"):
            break
        out.append(seg.lstrip("\r\n").removesuffix("\n").removesuffix("\r"))
    return out


def _http_part(text: str, content_id: str | None) -> Part:
    headers_outer, rest = _split_head(text)
    rest = rest.lstrip("\r\n")
    line, _, rest = rest.partition("\n")
    m = re.match(r"(GET|POST|PATCH|PUT|DELETE)\s+(\S+)(?:\s+HTTP/1\.1)?\s*$", line.strip())
    if not m:
        raise BadRequest(f"The batch part request line '{line.strip()}' is not valid.")
    headers, body = ([], rest) if rest.startswith(("\r\n", "\n")) else _split_head(rest)
    cid = content_id or next((v for k, v in headers_outer if k.lower() == "content-id"), None)
    return Part(m.group(1), m.group(2), headers, body.strip().encode(), cid)


def parse_batch(content_type: str, body: bytes) -> list[Part | Changeset]:
    text = body.decode("utf-8")
    items: list[Part | Changeset] = []
    for seg in _segments(text, _boundary(content_type)):
        headers, rest = _split_head(seg)
        ctype = next((v for k, v in headers if k.lower() == "content-type"), "")
        if ctype.lower().startswith("multipart/mixed"):
            cs = Changeset()
            for inner in _segments(rest, _boundary(ctype)):
                inner_headers, _ = _split_head(inner)
                cid = next((v for k, v in inner_headers if k.lower() == "content-id"), None)
                cs.parts.append(_http_part(inner, cid))
            items.append(cs)
        else:
            items.append(_http_part(seg, None))
    if sum(len(i.parts) if isinstance(i, Changeset) else 1 for i in items) > MAX_PARTS:
        raise BadRequest(f"The number of requests in the batch exceeds the limit of {MAX_PARTS}.")
    return items


def _to_request(part: Part, outer: Request, refs: dict[str, str]) -> Request:
    url = part.url
    if url.startswith("$"):
        ref = re.match(r"\$\w+", url)
        target = refs.get(ref.group(0)) if ref else None
        if ref is None or target is None:
            raise ContentIdNotFound(f"Content-ID Reference: '{url.split('/')[0]}' does not exist in the batch context.")
        url = target + url[len(ref.group(0)):]
    parts = urlsplit(url)
    path = parts.path if parts.path.startswith("/") else API_PREFIX + parts.path
    body = part.body
    if refs and body:
        try:
            data = json.loads(body)
            if isinstance(data, dict):
                data = {k: refs.get(v, v) if isinstance(v, str) and k.endswith("@odata.bind") else v
                        for k, v in data.items()}
                body = json.dumps(data).encode()
        except ValueError:
            pass
    msg = Message()
    for header, value in part.headers:
        msg[header] = value
    return Request(part.method, unquote(path), parts.query, dict(parse_qsl(parts.query, keep_blank_values=True)),
                   msg, body, outer.base_url)


def _render(resp: Response, content_id: str | None) -> str:
    lines = ["Content-Type: application/http", "Content-Transfer-Encoding: binary"]
    if content_id:
        lines.append(f"Content-ID: {content_id}")
    lines += ["", f"HTTP/1.1 {resp.status} {HTTPStatus(resp.status).phrase}"]
    lines += [f"{k}: {v}" for k, v in resp.headers.items()]
    lines += ["", resp.body.decode("utf-8") if resp.body else ""]
    return "\r\n".join(lines)


def _run_changeset(cs: Changeset, outer: Request, store: Store, execute: Execute) -> list[tuple[Response, str | None]]:
    refs: dict[str, str] = {}
    done: list[tuple[Response, str | None]] = []
    with store.transaction():
        for part in cs.parts:
            if part.method == "GET":
                raise _Rollback(BadRequest("GET requests are not allowed in a change set.").to_response(), part.content_id)
            try:
                resp = execute(_to_request(part, outer, refs))
            except DataverseError as err:
                resp = err.to_response()
            if resp.status >= 400:
                raise _Rollback(resp, part.content_id)
            location = resp.headers.get("OData-EntityId")
            if part.content_id and location:
                refs[f"${part.content_id}"] = location
            done.append((resp, part.content_id))
    return done


def run_batch(req: Request, store: Store, execute: Execute, continue_on_error: bool) -> Response:
    """Serve `POST $batch`: one answer part per request, changesets all-or-nothing."""
    items = parse_batch(req.header("Content-Type") or "", req.body)
    boundary = f"batchresponse_{uuid.uuid4()}"
    chunks: list[str] = []
    for item in items:
        failed: tuple[Response, str | None] | None = None
        if isinstance(item, Changeset):
            try:
                answers = _run_changeset(item, req, store, execute)
            except _Rollback as rb:
                failed = (rb.response, rb.content_id)
            else:
                inner = f"changesetresponse_{uuid.uuid4()}"
                body = "".join(f"--{inner}\r\n{_render(r, cid)}\r\n" for r, cid in answers) + f"--{inner}--"
                chunks.append(f"Content-Type: multipart/mixed; boundary={inner}\r\n\r\n{body}\r\n")
        else:
            try:
                resp = execute(_to_request(item, req, {}))
            except DataverseError as err:
                resp = err.to_response()
            if resp.status >= 400:
                failed = (resp, item.content_id)
            else:
                chunks.append(_render(resp, item.content_id))
        if failed is not None:
            part = _render(*failed)
            if not continue_on_error:  # §A.5: stop; the batch answers with the failing part alone
                return _multipart(failed[0].status, boundary, [part], {})
            chunks.append(part)
    extra = {"Preference-Applied": "odata.continue-on-error"} if continue_on_error else {}
    return _multipart(200, boundary, chunks, extra)


def _multipart(status: int, boundary: str, chunks: list[str], headers: dict[str, str]) -> Response:
    body = "".join(f"--{boundary}\r\n{c}\r\n" for c in chunks) + f"--{boundary}--\r\n"
    return Response(status, body.encode(), {"Content-Type": f"multipart/mixed; boundary={boundary}",
                                            "OData-Version": "4.0", **headers})
