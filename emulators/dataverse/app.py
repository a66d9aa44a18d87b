"""The Dataverse Web API v9.2 emulator's HTTP surface: routes, auth, headers, serialisation (api-facts §A, §E.1).

Not emulated (and refused with 400 "not supported by this emulator", where a query option): `$expand`,
`$apply`, `$search`, FetchXML and `?sql=`, `$metadata` CSDL, include-annotations
(formatted values), ownership and security roles (any valid token's app is a user with every right),
plug-ins other than webhooks, the execution-time budget (§A.7 0x80072321), string length limits, product
lifecycle (new products are Active, not Draft), customisation
(EntityDefinitions are read-only), BulkDelete and DeleteMultiple, file columns, and `Location` headers.
"""
from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from urllib.parse import quote

from emulators.dataverse.admin import reset_data, serve_admin
from emulators.dataverse.batch import run_batch
from emulators.dataverse.body import API_PREFIX, fields_from_body, parse_key
from emulators.dataverse.bulk import ACTIONS, run_bulk
from emulators.dataverse.delta import count_changes, parse_delta_token, read_changes
from emulators.dataverse.errors import (
    BadRequest, ConcurrencyLimitExceeded, MethodNotAllowed, ObjectDoesNotExist,
    RequestsLimitExceeded, Unauthorized,
)
from emulators.dataverse.metadata import read_metadata
from emulators.dataverse.query import (
    MAX_PAGE, Lister, Prefer, cookie_of, parse_list_query, parse_prefer, parse_select_option, refuse_unemulated,
    shape, strip_option,
)
from emulators.dataverse.schema import BY_SET, Table
from emulators.dataverse.seed import BU_ID, ORG_ID, ensure_app_user
from emulators.dataverse.state import KeySpec, Store, check_if_match
from emulators.dataverse.webhooks import Dispatcher
from emulators.server import Request, Response, WireError, default_route_of, json_response
from emulators.tokens import InvalidToken, TokenSigner

__all__ = ["Dataverse"]

_PATH_RE = re.compile(r"([A-Za-z_][\w]*)(?:\((.*)\))?(?:/(.+))?", re.S)
_ODATA = {"OData-Version": "4.0"}


def _json(status: int, payload: object, headers: dict[str, str] | None = None) -> Response:
    return json_response(status, payload, {**_ODATA, **(headers or {})})


class Dataverse:
    """One Dataverse organisation behind `/api/data/v9.2/`."""

    name = "dataverse"
    retry_after_statuses: frozenset[int] = frozenset()

    def __init__(self, signer: TokenSigner, *, ca_bundle: str | None = None, client_id: str | None = None,
                 audience: str = ""):
        self.signer = signer
        self.audience = audience  # the stack sets it to the server's URL once it listens
        self.client_id = client_id
        self.store = Store()
        self.lister = Lister(self.store)
        self.webhooks = Dispatcher(ca_bundle, ORG_ID, BU_ID)
        self.store.on_commit = self.webhooks.publish
        self.on_request: Callable[[Request], None] | None = None
        self.clock_offset_s = 0.0  # moved by POST /_admin/clock, for delta-token expiry
        # §A.7: at most 52 concurrent requests per user (not per org); more are refused at once.
        self.concurrency_per_user = 52
        self._running: dict[str, int] = {}
        self._running_lock = threading.Lock()
        reset_data(self)

    def now(self) -> float:
        return time.time() + self.clock_offset_s

    # -- the Service protocol ------------------------------------------------------------------
    def reset(self) -> None:
        self.clock_offset_s = 0.0
        reset_data(self)

    def close(self) -> None:
        self.webhooks.close()

    def route_of(self, req: Request) -> str:
        return default_route_of(req)

    def throttled(self, retry_after_s: int) -> WireError:
        return RequestsLimitExceeded("Number of requests exceeded the limit of 6000 over time window of 300 seconds.",
                                     {"Retry-After": str(retry_after_s), **_ODATA})

    def too_many_concurrent(self) -> WireError:
        return ConcurrencyLimitExceeded("Number of concurrent requests exceeded the limit of 52.",
                                        {"Retry-After": "1", **_ODATA})

    def handle_admin(self, req: Request, action: str) -> Response | None:
        return serve_admin(self, req, action)

    def handle(self, req: Request) -> Response:
        if self.on_request is not None:
            self.on_request(req)
        user = self._caller(req)
        with self._running_lock:
            if self._running.get(user, 0) >= self.concurrency_per_user:
                raise self.too_many_concurrent()
            self._running[user] = self._running.get(user, 0) + 1
        try:
            return self._handle_as(req, user)
        finally:
            with self._running_lock:
                self._running[user] -= 1

    def _handle_as(self, req: Request, user: str) -> Response:
        if req.path == f"{API_PREFIX}$batch":
            if req.method != "POST":
                raise MethodNotAllowed("$batch accepts POST only.")
            prefer = parse_prefer(req.headers.get_all("Prefer") or [])
            return run_batch(req, self.store, lambda part: self._serve(part, user), prefer.continue_on_error)
        return self._serve(req, user)

    def _caller(self, req: Request) -> str:
        """The systemuser behind the bearer token; 401 + WWW-Authenticate when it is not valid (§A.8)."""
        try:
            claims = self.signer.verify(req.header("Authorization"), self.audience)
        except InvalidToken as err:
            challenge = (f"Bearer authorization_uri=https://login.microsoftonline.com/common/oauth2/authorize, "
                         f"resource_id={self.audience}")
            raise Unauthorized(f"Bearer token is not valid: {err}.", {"WWW-Authenticate": challenge}) from err
        return ensure_app_user(self.store, str(claims.get("appid", "")))

    # -- routes ------------------------------------------------------------------------------
    def _serve(self, req: Request, user: str) -> Response:
        try:
            return self._route(req, user)
        except WireError as err:
            return err.to_response()

    def _route(self, req: Request, user: str) -> Response:
        if not req.path.startswith(API_PREFIX):
            raise ObjectDoesNotExist(f"Resource not found for the segment '{req.path}'.")
        rest = req.path[len(API_PREFIX):]
        base = f"{req.base_url}{API_PREFIX.rstrip('/')}"
        if rest in ("WhoAmI", "WhoAmI()") and req.method == "GET":
            return _json(200, {"@odata.context": f"{base}/$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse",
                               "BusinessUnitId": BU_ID, "UserId": user, "OrganizationId": ORG_ID})
        if rest.startswith("EntityDefinitions") and req.method == "GET":
            return _json(200, read_metadata(rest, req.query, req.base_url))
        m = _PATH_RE.fullmatch(rest)
        table = BY_SET.get(m.group(1)) if m else None
        if m is None or table is None:
            raise ObjectDoesNotExist(f"Resource not found for the segment '{rest.split('(')[0]}'.")
        key_text, tail = m.group(2), m.group(3)
        refuse_unemulated(req.query)
        prefer = parse_prefer(req.headers.get_all("Prefer") or [])
        if key_text is None and tail is None:
            if req.method == "GET":
                return self._list(req, table, prefer, base)
            if req.method == "POST":
                return self._create(req, table, prefer, user, base)
        elif key_text is None and tail == "$count" and req.method == "GET":
            return self._count(req, table)
        elif key_text is None and tail and tail.startswith("Microsoft.Dynamics.CRM.") and req.method == "POST":
            return self._bulk(req, table, tail.rsplit(".", 1)[1], user, base)
        elif key_text is not None and tail is None:
            key = parse_key(key_text)
            if req.method == "GET":
                return self._retrieve(req, table, key, base)
            if req.method == "PATCH":
                return self._upsert(req, table, key, prefer, user, base)
            if req.method == "DELETE":
                ident = self.store.resolve(table, key)
                with self.store.transaction() as txn:
                    check_if_match(table, self.store.get(table, ident) if ident else None,
                                   req.header("If-Match") or "*", self.store.describe(key))
                    self.store.delete(txn, table, str(ident), user)
                return Response(204, b"", dict(_ODATA))
        else:
            raise ObjectDoesNotExist(f"Resource not found for the segment '{rest}'.")
        raise MethodNotAllowed(f"The HTTP method '{req.method}' is not allowed for '{rest}'.")

    def _body(self, req: Request) -> object:
        try:
            return req.json()
        except ValueError as err:
            raise BadRequest(f"Invalid JSON. The request body is not valid JSON: {err}.") from err

    def _entity_id_header(self, base: str, table: Table, ident: str) -> dict[str, str]:
        return {"OData-EntityId": f"{base}/{table.entity_set}({ident})", **_ODATA}

    def _written(self, req: Request, table: Table, row: dict[str, object], prefer: Prefer, status: int,
                 base: str) -> Response:
        """§A.2: 204 + OData-EntityId, or the row (honouring $select) with return=representation."""
        if not prefer.representation:
            return Response(204, b"", self._entity_id_header(base, table, str(row[table.primary_id])))
        select = parse_select_option(table, req.query.get("$select"))
        body = {"@odata.context": f"{base}/$metadata#{table.entity_set}/$entity", **shape(table, row, select)}
        return _json(status, body, {"Preference-Applied": "return=representation",
                                    "ETag": f'W/"{row["versionnumber"]}"'})

    def _create(self, req: Request, table: Table, prefer: Prefer, user: str, base: str) -> Response:
        body = self._body(req)
        with self.store.transaction() as txn:
            row = self.store.create(txn, table, fields_from_body(self.store, table, body), user)
        return self._written(req, table, row, prefer, 201, base)

    def _upsert(self, req: Request, table: Table, key: KeySpec, prefer: Prefer, user: str, base: str) -> Response:
        fields = fields_from_body(self.store, table, self._body(req))
        fields.pop(table.primary_id, None)
        with self.store.transaction() as txn:
            row, _ = self.store.upsert(txn, table, key, fields, user, if_match=req.header("If-Match"),
                                       if_none_match=req.header("If-None-Match"))
        return self._written(req, table, row, prefer, 200, base)

    def _retrieve(self, req: Request, table: Table, key: KeySpec, base: str) -> Response:
        select = parse_select_option(table, req.query.get("$select"))
        ident = self.store.resolve(table, key)
        row = self.store.get(table, ident) if ident else None
        if row is None:
            raise ObjectDoesNotExist(f"{table.logical_name} With Id = {self.store.describe(key)} Does Not Exist")
        etag = f'W/"{row["versionnumber"]}"'
        if (req.header("If-None-Match") or "").strip() == etag:  # §A.2: unchanged → 304
            return Response(304, b"", {"ETag": etag, **_ODATA})
        cols = f"({','.join(select)})" if select else ""
        body = {"@odata.context": f"{base}/$metadata#{table.entity_set}{cols}/$entity", **shape(table, row, select)}
        return _json(200, body, {"ETag": etag})

    def _list(self, req: Request, table: Table, prefer: Prefer, base: str) -> Response:
        tracking = prefer.track_changes or "$deltatoken" in req.query
        q = parse_list_query(table, req.query, tracking=tracking)
        size = min(prefer.max_page or MAX_PAGE, MAX_PAGE, self.lister.max_page)  # §A.3: capped at 5,000
        applied = [f"odata.maxpagesize={size}"] if prefer.max_page else []
        cols = f"({','.join(q.select)})" if q.select else ""
        link_base = f"{req.base_url}{req.path}?"
        if tracking:
            if not table.change_tracking:
                raise BadRequest(f"Change tracking is not enabled for the entity '{table.logical_name}'.")
            token = req.query.get("$deltatoken")
            since = parse_delta_token(token, self.now()) if token is not None else None
            page = read_changes(self.store, table, base, q.select, since, req.query.get("$skiptoken"), size,
                                self.now())
            out: dict[str, object] = {
                "@odata.context": f"{base}/$metadata#{table.entity_set}{cols}" + ("/$delta" if token else ""),
                "value": page.items}
            kept = strip_option(req.raw_query, "$skiptoken", "$deltatoken")
            if page.next_cookie:
                out["@odata.nextLink"] = _link(link_base, req.raw_query, "$skiptoken", page.next_cookie)
            elif page.token:
                out["@odata.deltaLink"] = _link(link_base, kept, "$deltatoken", page.token)
            return _json(200, out, {"Preference-Applied": ",".join(["odata.track-changes", *applied])})
        limit = q.top if q.top is not None and prefer.max_page is None else None  # §A.3: $top yields to maxpagesize
        rows, total, next_page = self.lister.page(table, q, req.query.get("$skiptoken"), size, limit)
        out = {"@odata.context": f"{base}/$metadata#{table.entity_set}{cols}"}
        if q.count:
            out["@odata.count"] = min(total, MAX_PAGE)
            if total > MAX_PAGE:
                out["@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded"] = True
        out["value"] = [shape(table, r, q.select) for r in rows]
        if next_page is not None:
            cookie = cookie_of(next_page, self.lister.inner_cookie(table, q, next_page - 1, rows), False)
            out["@odata.nextLink"] = _link(link_base, req.raw_query, "$skiptoken", cookie)
        return _json(200, out, {"Preference-Applied": ",".join(applied)} if applied else None)

    def _count(self, req: Request, table: Table) -> Response:
        token = req.query.get("$deltatoken")
        if token is not None:
            n = count_changes(self.store, table, parse_delta_token(token, self.now()))
        else:
            q = parse_list_query(table, {k: v for k, v in req.query.items() if k == "$filter"}, tracking=False)
            n = min(len(self.lister.matching(table, q)[0]), MAX_PAGE)
        return Response(200, str(n).encode(), {"Content-Type": "text/plain", **_ODATA})

    def _bulk(self, req: Request, table: Table, action: str, user: str, base: str) -> Response:
        if action not in ACTIONS:
            raise ObjectDoesNotExist(f"Resource not found for the segment 'Microsoft.Dynamics.CRM.{action}'.")
        ids = run_bulk(self.store, table, action, self._body(req), user)
        if action == "CreateMultiple":  # §A.6: only CreateMultiple answers a body
            return _json(200, {"@odata.context": f"{base}/$metadata#Microsoft.Dynamics.CRM.CreateMultipleResponse",
                               "Ids": ids})
        return Response(204, b"", dict(_ODATA))


def _link(link_base: str, raw_query: str, name: str, value: str) -> str:
    kept = strip_option(raw_query, name)
    return f"{link_base}{kept + '&' if kept else ''}{name}={quote(value, safe='')}"

