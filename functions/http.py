"""What every HTTP trigger shares: JSON answers, RFC 9457 problems, body parsing, language choice.

`problem()` is the one place that turns a Koppel error into an HTTP answer (STYLE §12): it maps
the class to a status and a title in the caller's language, and never includes header values,
tokens or secrets — only what the error carries as facts.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import azure.functions as func

from core.errors import (
    AuthError, ConfigError, Conflict, InvalidInput, KoppelError, NotFound, Rejected, RemoteError, Retriable,
    PreconditionFailed, RecordError, StaleWrite, UnsupportedMediaType,
)
from core.i18n import choose_language, detail, text

__all__ = ["json_response", "problem", "read_json", "read_options", "guarded", "empty"]

log = logging.getLogger("koppel.http")

# class → (status, title key); the first match in this order wins, so subclasses come first.
_STATUS: list[tuple[type[KoppelError], int, str]] = [
    (UnsupportedMediaType, 415, "unsupported-media-type"),
    (InvalidInput, 400, "invalid-input"),
    (NotFound, 404, "not-found"),
    (Conflict, 409, "conflict"),
    (ConfigError, 503, "not-configured"),
    (RecordError, 422, "record-failed"),
    (PreconditionFailed, 412, "precondition-failed"),
    (StaleWrite, 409, "stale-write"),
    (AuthError, 502, "remote-auth"),
    (Retriable, 503, "remote-unavailable"),
    (Rejected, 502, "remote-rejected"),
    (RemoteError, 502, "remote-rejected"),
    (KoppelError, 500, "internal"),
]


def json_response(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(payload, separators=(",", ":"), default=str), status_code=status,
        mimetype="application/json", charset="utf-8", headers=headers,
    )


def empty(status: int = 204) -> func.HttpResponse:
    return func.HttpResponse(status_code=status)


def problem(exc: KoppelError, accept_language: str | None) -> func.HttpResponse:
    lang = choose_language(accept_language)
    status, key = next((s, k) for cls, s, k in _STATUS if isinstance(exc, cls))
    body: dict[str, Any] = {
        "type": f"https://koppel.dev/problems/{key}",
        "title": text(f"title.{key}", lang),
        "status": status,
        "detail": detail(exc.message, lang),
    }
    for attr, name in (("field", "field"), ("setting", "setting"), ("reason", "reason")):
        value = getattr(exc, attr, None)
        if value is not None:
            body[name] = value
    if isinstance(exc, RemoteError):
        body["service"] = exc.service
        if exc.code:
            body["code"] = exc.code
    headers = {"Content-Language": lang}
    if isinstance(exc, Retriable) and exc.retry_after:
        headers["Retry-After"] = str(int(exc.retry_after + 0.999))
    return func.HttpResponse(
        json.dumps(body), status_code=status, mimetype="application/problem+json", charset="utf-8", headers=headers
    )


def read_json(req: func.HttpRequest) -> Any:
    """The body as JSON in UTF-8, or a problem naming what is wrong: 415 for another media type or
    charset (a UTF-16 or text/plain body is not guessed at), 400 for a body that is not JSON."""
    media_type, _, params = (req.headers.get("Content-Type") or "").partition(";")
    media_type = media_type.strip().lower()
    if media_type and media_type != "application/json" and not media_type.endswith("+json"):
        raise UnsupportedMediaType(f"The body must be application/json, not {media_type[:80]}.")
    charset = next((v.strip().strip('"').lower() for k, _, v in (p.partition("=") for p in params.split(";"))
                    if k.strip().lower() == "charset"), "utf-8")
    if charset not in ("utf-8", "utf8"):
        raise UnsupportedMediaType(f"The body must be JSON in UTF-8, not {charset[:40]}.")
    try:
        data = json.loads((req.get_body() or b"").decode("utf-8"))
    except RecursionError:
        # json's C scanner recurses per nesting level; a hostile body must not reach the 500 handler.
        raise InvalidInput("", "The request body is nested too deeply.") from None
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("", "The request body must be valid JSON.") from None
    at = _lone_surrogate(data)
    if at is not None:
        # `"\ud800"` is valid JSON but no Unicode text: stored, it would make every later answer unparseable.
        raise InvalidInput(at or "body", f"{at or 'The body'} holds a lone UTF-16 surrogate (\\uD800-\\uDFFF "
                                         "without its pair), which is not text.")
    return data


def _is_text(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _lone_surrogate(data: Any) -> str | None:
    """The JSON path (`fieldMappings[3].erpField`) of the first string or key that is not encodable text."""
    stack: list[tuple[str, Any]] = [("", data)]
    while stack:  # a loop, not recursion: the body may be nested as deep as json allows
        path, value = stack.pop()
        if isinstance(value, str):
            if not _is_text(value):
                return path
        elif isinstance(value, list):
            stack.extend((f"{path}[{n}]", v) for n, v in reversed(list(enumerate(value))))
        elif isinstance(value, dict):
            for k in reversed(list(value)):
                child = f"{path}.{k}" if path else str(k)
                if not _is_text(k):
                    return f"{path}.{k!r}" if path else repr(k)
                stack.append((child, value[k]))
    return None


def read_options(req: func.HttpRequest, allowed: set[str]) -> dict[str, Any]:
    """An optional JSON object of options (an empty body means none); `dryRun`, when allowed, must be a boolean."""
    from core.commands import parse_object

    data = dict(parse_object(read_json(req) if req.get_body() else {}, allowed | {"dryRun"}, set()))
    if not isinstance(data.setdefault("dryRun", False), bool):
        raise InvalidInput("dryRun", "dryRun must be true or false.")
    return data


def guarded(req: func.HttpRequest, call: Callable[[], func.HttpResponse]) -> func.HttpResponse:
    """Run a trigger body; Koppel errors become problems, anything else a logged 500 problem."""
    try:
        return call()
    except KoppelError as exc:
        return problem(exc, req.headers.get("Accept-Language"))
    except Exception:  # noqa: BLE001 - the last line of defence: no input may make a bare 500
        log.exception("unexpected error in %s %s", req.method, req.url.split("?", 1)[0])
        return problem(KoppelError("Something went wrong inside Koppel; the error is logged."),
                       req.headers.get("Accept-Language"))
