"""One API operation, below `…/api/v2.0/`: companies, entity sets and entities, and subscriptions.

Used for top-level requests and for each operation of a JSON `$batch`, so both behave the same.
Answers are structured (`Answer`) and serialised by the caller.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from emulators.bc.entities import ENTITIES
from emulators.bc.errors import (
    BadRequest, CompanyNotFound, MethodNotAllowed, QuerySyntaxError, ResourceNotFound,
)
from emulators.bc.query import check_select, parse_list_query, project, read_page
from emulators.bc.validate import GUID_RE

if TYPE_CHECKING:
    from emulators.bc.app import BusinessCentral

__all__ = ["Op", "Answer", "NO_BODY", "run_op"]

NO_BODY: Any = object()
_SEGMENT_RE = re.compile(r"^([\w$]+)(?:\((.*)\))?$")


@dataclass(frozen=True, slots=True)
class Op:
    """One operation: api-relative path (decoded), query, lower-cased headers, parsed JSON body."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    root: str  # absolute URL of …/api/v2.0, for @odata.context and links
    raw_query: str = ""
    user: str = ""

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass(slots=True)
class Answer:
    status: int
    payload: Any = None  # JSON-able, or None for no body
    headers: dict[str, str] = field(default_factory=dict)


def _segment(text: str) -> tuple[str, str | None]:
    match = _SEGMENT_RE.match(text)
    if match is None:
        raise ResourceNotFound(f"Resource not found for the segment '{text}'.")
    return match.group(1), match.group(2)


def _guid_key(key: str) -> str:
    key = key.strip()
    if key.startswith("id="):
        key = key[3:]
    if not GUID_RE.match(key):
        raise QuerySyntaxError()
    return key.lower()


def run_op(bc: BusinessCentral, op: Op) -> Answer:
    """Route one operation; raises the BC wire error when it fails."""
    parts = [p for p in op.path.strip("/").split("/") if p]
    if not parts:
        raise ResourceNotFound("Resource not found for the segment ''.")
    name, key = _segment(parts[0])
    if name == "subscriptions" and len(parts) == 1:
        return _subscriptions(bc, op, key)
    company: str | None = None
    if name == "companies":
        if key is None:
            if len(parts) > 1:
                raise ResourceNotFound(f"Resource not found for the segment '{parts[1]}'.")
            if op.method != "GET":
                raise MethodNotAllowed(f"'{op.method}' requests for 'companies' of EdmType 'EntitySet' are "
                                       "not allowed within Microsoft Dynamics NAV OData web services.")
            return Answer(200, {"@odata.context": f"{op.root}/$metadata#companies", "value": [bc.company]})
        company = _check_company(bc, _guid_key(key))
        parts = parts[1:]
        if not parts:
            if op.method != "GET":
                raise MethodNotAllowed(f"'{op.method}' requests for 'companies' are not allowed.")
            return Answer(200, {"@odata.context": f"{op.root}/$metadata#companies/$entity", **bc.company})
        name, key = _segment(parts[0])
    else:
        company = _company_from(bc, op)
    if len(parts) > 1 or name not in ENTITIES:
        raise ResourceNotFound(f"Resource not found for the segment '{name}'.")
    context = f"{op.root}/$metadata#companies({company})/{name}"
    if key is None:
        return _collection(bc, op, name, context)
    return _entity(bc, op, name, _guid_key(key), context)


def _check_company(bc: BusinessCentral, company_id: str) -> str:
    if company_id != bc.company_id:
        raise CompanyNotFound(f"The company with id '{company_id}' does not exist.")
    return company_id


def _company_from(bc: BusinessCentral, op: Op) -> str:
    """`?company=<id or name>`, or a `Company` header in a `$batch` operation (api-facts §B.1, §B.5)."""
    given = op.query.get("company") or op.header("company")
    if given is None:
        raise CompanyNotFound("Cannot process the request because the default company cannot be found. "
                              "You can add a query string in the form of \"company=[name]\".")
    if given.lower() == bc.company_id or given == bc.company["name"]:
        return bc.company_id
    raise CompanyNotFound(f"The company '{given}' does not exist.")


def _collection(bc: BusinessCentral, op: Op, entity: str, context: str) -> Answer:
    spec = ENTITIES[entity]
    if op.method == "GET":
        q = parse_list_query(spec, op.query, op.header("prefer"))
        with bc.state.lock:
            page = read_page(bc.state.tables[entity], q)
        if q.select:
            context = f"{context}({','.join(q.select)})"
        payload: dict[str, Any] = {"@odata.context": context}
        if page.count is not None:
            payload["@odata.count"] = page.count
        payload["value"] = project(page.records, q.select)
        if page.next_token:
            payload["@odata.nextLink"] = _next_link(op, page.next_token)
        headers = {"Preference-Applied": f"odata.maxpagesize={q.page_size}"} if q.page_size_asked else {}
        return Answer(200, payload, headers)
    if op.method == "POST":
        rec = bc.state.create(entity, _body(op), op.user)
        answer = _single(rec, f"{context}/$entity", None, 201)
        answer.headers["Location"] = f"{op.root}/companies({bc.company_id})/{entity}({rec['id']})"
        return answer
    raise MethodNotAllowed(f"'{op.method}' requests for '{entity}' of EdmType 'EntitySet' are not allowed.")


def _entity(bc: BusinessCentral, op: Op, entity: str, record_id: str, context: str) -> Answer:
    if op.method == "GET":
        select = check_select(ENTITIES[entity], op.query.get("$select"))
        with bc.state.lock:
            rec = bc.state.get(entity, record_id)
        return _single(rec, f"{context}/$entity", select, 200)
    if op.method == "PATCH":
        rec = bc.state.update(entity, record_id, _body(op), op.header("if-match"), op.user)
        return _single(rec, f"{context}/$entity", None, 200)
    if op.method == "DELETE":
        bc.state.delete(entity, record_id, op.header("if-match"))
        return Answer(204)
    raise MethodNotAllowed(f"'{op.method}' requests for '{entity}' of EdmType 'Entity' are not allowed.")


def _single(rec: dict[str, Any], context: str, select: list[str] | None, status: int) -> Answer:
    body = project([rec], select)[0]
    return Answer(status, {"@odata.context": context, **body}, {"ETag": rec["@odata.etag"]})


def _body(op: Op) -> Any:
    if op.body is NO_BODY:
        raise BadRequest("Invalid Request Body")
    return op.body


def _next_link(op: Op, token: str) -> str:
    kept = [p for p in op.raw_query.split("&") if p and not p.startswith(("$skiptoken=", "%24skiptoken="))]
    kept.append(f"$skiptoken={token}")
    return f"{op.root}/{op.path.strip('/')}?{'&'.join(kept)}"


def _subscriptions(bc: BusinessCentral, op: Op, key: str | None) -> Answer:
    """`…/api/v2.0/subscriptions` (environment-wide, not company-scoped; api-facts §B.6)."""
    context = f"{op.root}/$metadata#subscriptions"
    hub = bc.webhooks
    if key is None:
        if op.method == "GET":
            return Answer(200, {"@odata.context": context, "value": hub.list_all()})
        if op.method == "POST":
            sub = hub.create(_body(op), op.user)
            return Answer(201, {"@odata.context": f"{context}/$entity", **sub}, {"ETag": sub["@odata.etag"]})
        raise MethodNotAllowed(f"'{op.method}' requests for 'subscriptions' are not allowed.")
    sub_id = key.strip().strip("'")
    if op.method == "GET":
        sub = hub.get(sub_id)
    elif op.method == "PATCH":
        sub = hub.renew(sub_id, _body(op), op.header("if-match"), op.user)
    elif op.method == "DELETE":
        hub.delete(sub_id, op.header("if-match"))
        return Answer(204)
    else:
        raise MethodNotAllowed(f"'{op.method}' requests for 'subscriptions' are not allowed.")
    return Answer(200, {"@odata.context": f"{context}/$entity", **sub}, {"ETag": sub["@odata.etag"]})
