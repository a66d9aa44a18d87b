"""JSON `$batch` (api-facts §B.5, §F.1–2): at most 100 operations, run in order.

Processing stops at the first failed operation: the operations after it are not executed and have
no answer in the response, unless the request says `Prefer: odata.continue-on-error` (then every
operation runs and reports its own status, and `Preference-Applied` says so). Without `Isolation`
each executed operation keeps its changes. With `Isolation: snapshot` the batch is one transaction
under the state lock: on a failure the operations before it report their normal status, the failing
one its error, and nothing is applied (BC dev-itpro `use-odata-batch.md`). The batch answers 200.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

from emulators.bc.errors import BadRequest, MethodNotAllowed
from emulators.bc.routes import NO_BODY, Answer, Op, run_op
from emulators.server import WireError

if TYPE_CHECKING:
    from emulators.bc.app import BusinessCentral

__all__ = ["MAX_OPERATIONS", "run_batch"]

MAX_OPERATIONS = 100  # BC operational limits


def _parse_ops(bc: BusinessCentral, body: Any, root: str, user: str) -> list[tuple[Any, Op]]:
    if not isinstance(body, dict) or not isinstance(body.get("requests"), list):
        raise BadRequest("Invalid Request Body: a JSON batch needs a 'requests' array.")
    requests = body["requests"]
    if len(requests) > MAX_OPERATIONS:
        raise BadRequest(f"The batch contains {len(requests)} operations; the maximum is {MAX_OPERATIONS}.")
    ops = []
    for raw in requests:
        if not isinstance(raw, dict) or not isinstance(raw.get("method"), str) or not isinstance(raw.get("url"), str):
            raise BadRequest("Invalid Request Body: each batch request needs a 'method' and a 'url'.")
        headers = raw.get("headers") or {}
        if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
            raise BadRequest("Invalid Request Body: batch request headers must be strings.")
        parts = urlsplit(raw["url"])
        path = unquote(parts.path)
        if path.startswith("/"):
            path = bc.api_path(path)  # absolute: must be this environment's …/api/v2.0/
        ops.append((raw.get("id"), Op(
            method=raw["method"].upper(), path=path,
            query=dict(parse_qsl(parts.query, keep_blank_values=True)),
            headers={k.lower(): v for k, v in headers.items()},
            body=raw["body"] if "body" in raw else NO_BODY, root=root, raw_query=parts.query, user=user,
        )))
    return ops


def _answer(bc: BusinessCentral, op: Op) -> Answer:
    try:
        return run_op(bc, op)
    except WireError as err:
        return Answer(err.status, {"error": {"code": err.code, "message": err.message}}, dict(err.headers))


def _wire(op_id: Any, answer: Answer) -> dict[str, Any]:
    out: dict[str, Any] = {"id": op_id, "status": answer.status, "headers": answer.headers}
    if answer.payload is not None:
        out["body"] = answer.payload
    return out


def _continue_on_error(prefer: str | None) -> bool:
    return "odata.continue-on-error" in (prefer or "").lower().replace(" ", "").split(",")


class _Rollback(Exception):
    pass


def _run_until_failure(bc: BusinessCentral, ops: list[tuple[Any, Op]], keep_going: bool) -> list[Answer]:
    answers: list[Answer] = []
    for _, op in ops:
        answers.append(_answer(bc, op))
        if answers[-1].status >= 400 and not keep_going:
            break
    return answers


def run_batch(bc: BusinessCentral, method: str, body: Any, isolation: str | None, root: str,
              user: str, prefer: str | None = None) -> Answer:
    if method != "POST":
        raise MethodNotAllowed(f"'{method}' requests for '$batch' are not allowed.")
    ops = _parse_ops(bc, body, root, user)
    keep_going = _continue_on_error(prefer)
    headers = {"Preference-Applied": "odata.continue-on-error"} if keep_going else {}
    if (isolation or "").strip().lower() != "snapshot":
        answers = _run_until_failure(bc, ops, keep_going)
    else:
        answers = []
        try:
            with bc.state.atomic():
                answers = _run_until_failure(bc, ops, keep_going)
                if any(a.status >= 400 for a in answers):
                    raise _Rollback  # the transaction: nothing of the batch is applied
        except _Rollback:
            pass
    return Answer(200, {"responses": [_wire(i, a) for (i, _), a in zip(ops, answers)]}, headers)
