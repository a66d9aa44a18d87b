"""JSON `$batch` (api-facts §B.5): at most 100 operations; `Isolation: snapshot` makes it all-or-nothing.

Without the header each operation runs on its own and reports its own status. With it the batch runs
as one transaction under the state lock; at the first failing operation every change of the batch is
rolled back and processing stops. BC's exact answer for that case is not documented, so we chose:
the failing operation reports its own status and error; the operations before it report
**424 `BadRequest_BatchRolledBack`** (their changes were undone), and those after it report the same
424 as not executed. The batch itself answers 200 either way.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

from emulators.bc.errors import BadRequest, BatchRolledBack, BcError, MethodNotAllowed
from emulators.bc.routes import NO_BODY, Answer, Op, run_op
from emulators.server import WireError

if TYPE_CHECKING:
    from emulators.bc.app import BusinessCentral

__all__ = ["MAX_OPERATIONS", "run_batch"]

MAX_OPERATIONS = 100  # BC operational limits


class _Failed(Exception):
    def __init__(self, index: int):
        super().__init__(index)
        self.index = index


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


def _rolled_back(failed_id: Any, executed: bool) -> Answer:
    what = "was rolled back" if executed else "was not executed"
    err: BcError = BatchRolledBack(f"The operation {what} because operation '{failed_id}' of the batch failed.")
    return Answer(err.status, {"error": {"code": err.code, "message": err.message}})


def run_batch(bc: BusinessCentral, method: str, body: Any, isolation: str | None, root: str,
              user: str) -> Answer:
    if method != "POST":
        raise MethodNotAllowed(f"'{method}' requests for '$batch' are not allowed.")
    ops = _parse_ops(bc, body, root, user)
    if (isolation or "").strip().lower() != "snapshot":
        return Answer(200, {"responses": [_wire(i, _answer(bc, op)) for i, op in ops]})
    answers: list[Answer] = []
    try:
        with bc.state.atomic():
            for index, (_, op) in enumerate(ops):
                answers.append(_answer(bc, op))
                if answers[-1].status >= 400:
                    raise _Failed(index)
    except _Failed as failed:
        failed_id = ops[failed.index][0]
        answers = [answers[i] if i == failed.index else _rolled_back(failed_id, i < failed.index)
                   for i in range(len(ops))]
    return Answer(200, {"responses": [_wire(i, a) for (i, _), a in zip(ops, answers)]})
