"""ErpClient: Business Central API v2.0 records for one company (api-facts §B).

Entity sets customers, vendors, contacts, items, currencies. Reads page at BC's maximum with only
the mapped fields; writes carry the ETag read while planning (never `*`, SPEC X8) and go in JSON
`$batch` requests of at most 100 independent operations.
"""
from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from core.odata.auth import MsalAuth
from core.errors import RemoteError, Retriable
from core.model import Record
from core.odata import (
    NOT_EXECUTED, ODataSession, RetryPolicy, WriteOp, WriteResult, and_, apply_in_chunks, bc_datetime, compare, error_for,
    field_name, guid, or_same_field, parse_datetime, query_string, quote, url_with_query,
)
from core.settings import ErpConfig

__all__ = ["ErpClient", "ENTITIES", "PAGE_SIZE", "BATCH_SIZE", "BC_CONCURRENCY"]

ENTITIES = ("customers", "vendors", "contacts", "items", "currencies")
PAGE_SIZE = 20_000  # api-facts §B.4: the maximum; more is 413
BATCH_SIZE = 100  # api-facts §B.5
BC_CONCURRENCY = 5  # api-facts §B.7: more only queue on the server
MAX_URL = 8_000  # a safe GET URL length for BC's front end
MAX_OR = 100  # values per `or` filter, so one request never asks BC for a huge disjunction
_MODIFIED = "lastModifiedDateTime"
_JSON = {"Accept": "application/json", "Content-Type": "application/json"}


BLANK_GUID = "00000000-0000-0000-0000-000000000000"
_NUMBERS = frozenset({"creditLimit", "balanceDue", "unitPrice", "unitCost", "inventory", "balance",
                      "amountDecimalPlaces", "amountRoundingPrecision"})


def bc_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """Business Central has no nulls: a cleared field is written as BC spells blank
    (the zero GUID for `...Id` references, 0 for amounts, "" for text); `null` is refused with 400."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        if value is None:
            value = BLANK_GUID if name.endswith("Id") else 0 if name in _NUMBERS else ""
        out[name] = value
    return out

def _record(row: Mapping[str, Any], fields: Sequence[str] | None) -> Record:
    """A Record from a BC entity: only `fields` when given, else every property but id/annotations."""
    if fields is None:
        values = {k: v for k, v in row.items() if not k.startswith("@") and k not in ("id", _MODIFIED)}
    else:
        values = {f: row.get(f) for f in fields}
    modified = row.get(_MODIFIED)
    return Record(
        id=str(row["id"]).lower(),
        modified_on=parse_datetime(modified) if modified else dt.datetime.min.replace(tzinfo=dt.timezone.utc),
        fields=values,
        etag=row.get("@odata.etag"),
    )


def _select(fields: Sequence[str]) -> str:
    return ",".join(dict.fromkeys(field_name(f) for f in ("id", _MODIFIED, *fields)))


def _require_etag(etag: str | None) -> str:
    if not etag or etag.strip() == "*":
        raise ValueError("a BC write needs the ETag read while planning, never '*' (SPEC X8)")
    return etag


class ErpClient:
    """Business Central for the company in `config`.

    Args:
        config: tenant, environment, company, credentials.
        session: an ODataSession; by default one with MsalAuth and 5 concurrent requests.
        clock: monotonic seconds, for `ping`.
    """

    def __init__(self, config: ErpConfig, *, session: ODataSession | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.config = config
        self.session = session or ODataSession(
            service="erp", auth=MsalAuth(config, service="erp"), headers=_JSON, concurrency=BC_CONCURRENCY)
        self._clock = clock

    def _entity_url(self, entity: str, record_id: str | None = None) -> str:
        if entity not in ENTITIES:
            raise ValueError(f"unknown BC entity set {entity!r}")
        url = f"{self.config.company_root}/{entity}"
        return f"{url}({guid(record_id)})" if record_id is not None else url

    def ping(self) -> float:
        """GET companies; the round trip in seconds (the connection check)."""
        start = self._clock()
        self.session.request("GET", f"{self.config.api_root}/companies", params={"$select": "id"})
        return self._clock() - start

    def read_changed_since(self, entity: str, since: dt.datetime | None, fields: Sequence[str],
                           extra_filter: str | None = None) -> Iterator[list[Record]]:
        """Records modified at or after `since`, oldest first, one list per page of up to 20,000.

        `ge` keeps records that share the boundary time (tie-safe: the engine drops ids it already
        applied). The mapping's filter is ANDed in parentheses; BC refuses `or` across fields
        inside it (api-facts §B.4), which is the mapping's own business.
        """
        params = {
            "$select": _select(fields),
            "$filter": and_(compare(_MODIFIED, "ge", bc_datetime(since)) if since else None, extra_filter),
            "$orderby": f"{_MODIFIED} asc",
        }
        headers = {"Prefer": f"odata.maxpagesize={PAGE_SIZE}"}
        for page in self.session.iter_pages(self._entity_url(entity), params, headers):
            yield [_record(row, fields) for row in page.get("value", [])]

    def _chunks(self, entity: str, field: str, literals: Sequence[str], select: str,
                most: int) -> Iterator[list[str]]:
        """Literals in groups of at most `most` whose `field eq a or field eq b …` URL stays under MAX_URL."""
        base = len(url_with_query(self._entity_url(entity), {"$select": select, "$filter": ""}))
        separator = len(query_string({"f": " or "})) - 2
        chunk: list[str] = []
        length = base
        for one in dict.fromkeys(literals):
            cost = len(query_string({"f": compare(field, "eq", one)})) - 2 + (separator if chunk else 0)
            if chunk and (length + cost > MAX_URL or len(chunk) >= most):
                yield chunk
                chunk, length = [], base
                cost -= separator
            chunk.append(one)
            length += cost
        if chunk:
            yield chunk

    def _read_where(self, entity: str, field: str, literals: Sequence[str], fields: Sequence[str],
                    most: int = PAGE_SIZE) -> Iterator[Record]:
        select = _select(fields)
        for chunk in self._chunks(entity, field, literals, select, most):
            params = {"$select": select, "$filter": or_same_field(field, chunk)}
            headers = {"Prefer": f"odata.maxpagesize={PAGE_SIZE}"}
            for page in self.session.iter_pages(self._entity_url(entity), params, headers):
                for row in page.get("value", []):
                    yield _record(row, fields)

    def read_by_ids(self, entity: str, ids: Sequence[str], fields: Sequence[str]) -> dict[str, Record]:
        """The records with these ids (missing ones are absent), in few requests: `or` on the one
        field `id` is allowed (api-facts §B.4), chunked to keep each URL under ~8 KB."""
        return {r.id: r for r in self._read_where(entity, "id", [guid(i) for i in ids], fields)}

    def read_by_field(self, entity: str, field: str, values: Sequence[str], fields: Sequence[str]) -> list[Record]:
        """The records whose text `field` equals one of `values` (`number eq 'a' or number eq 'b' …`, the
        same-field `or` BC allows, api-facts §B.4), in requests of at most MAX_OR values; `fields` are read."""
        wanted = list(dict.fromkeys([field, *fields]))
        return list(self._read_where(entity, field, [quote(str(v)) for v in values if v], wanted, MAX_OR))

    def count(self, entity: str, extra_filter: str | None = None) -> int:
        """How many records match `extra_filter`: one `$count=true&$top=1` GET (api-facts §B.4)."""
        params = {"$select": "id", "$filter": extra_filter, "$top": "1", "$count": "true"}
        answer = self.session.request("GET", self._entity_url(entity), params=params).json()
        return int(answer.get("@odata.count", len(answer.get("value", []))))

    def get(self, entity: str, record_id: str, fields: Sequence[str] | None = None) -> Record | None:
        """One record, or None when it does not exist (404)."""
        params = {"$select": _select(fields)} if fields is not None else None
        try:
            row = self.session.request("GET", self._entity_url(entity, record_id), params=params).json()
        except RemoteError as err:
            if err.status == 404:
                return None
            raise
        return _record(row, fields)

    def create(self, entity: str, values: Mapping[str, Any]) -> Record:
        """POST; BC answers 201 with the full entity (api-facts §B.3). Not idempotent."""
        row = self.session.request("POST", self._entity_url(entity), json=bc_values(values)).json()
        return _record(row, None)

    def update(self, entity: str, record_id: str, etag: str, values: Mapping[str, Any]) -> Record:
        """PATCH with `If-Match: <etag>`; 200 with the full entity.

        Raises:
            StaleWrite: the record changed since `etag` was read (BC 409 Request_EntityChanged).
        """
        headers = {"If-Match": _require_etag(etag)}
        row = self.session.request("PATCH", self._entity_url(entity, record_id), json=bc_values(values),
                                   headers=headers).json()
        return _record(row, None)

    def delete(self, entity: str, record_id: str, etag: str) -> None:
        """DELETE with `If-Match: <etag>`; a record already gone (404) counts as deleted."""
        try:
            self.session.request("DELETE", self._entity_url(entity, record_id),
                                 headers={"If-Match": _require_etag(etag)})
        except RemoteError as err:
            if err.status != 404:
                raise

    # -- webhook subscriptions (api-facts §B.6: environment-wide, not company-scoped) -------------
    def list_subscriptions(self) -> list[dict[str, Any]]:
        """Every webhook subscription of the environment, as BC answers them."""
        rows = self.session.request("GET", f"{self.config.api_root}/subscriptions").json().get("value", [])
        return [dict(r) for r in rows]

    def create_subscription(self, entity: str, notification_url: str, client_state: str) -> dict[str, Any]:
        """POST a subscription to `entity` of this company; BC validates `notification_url` first."""
        body = {"notificationUrl": notification_url, "clientState": client_state,
                "resource": f"/api/v2.0/companies({self.config.company_id})/{entity}"}
        row: dict[str, Any] = self.session.request("POST", f"{self.config.api_root}/subscriptions", json=body,
                                                   idempotent=False).json()
        return row

    def renew_subscription(self, subscription_id: str, etag: str, client_state: str) -> dict[str, Any]:
        """PATCH with If-Match: extends the expiry by three days (the handshake repeats)."""
        url = f"{self.config.api_root}/subscriptions({quote(subscription_id)})"
        row: dict[str, Any] = self.session.request("PATCH", url, json={"clientState": client_state},
                                                   headers={"If-Match": _require_etag(etag)}).json()
        return row

    # -- $batch --------------------------------------------------------------------------------
    def _batch_request(self, op: WriteOp, n: int) -> dict[str, Any]:
        rel = self._entity_url(op.entity, op.id if op.kind != "create" else None)[len(self.config.api_root) + 1:]
        request: dict[str, Any] = {"id": str(n), "url": rel, "headers": {"Content-Type": "application/json"}}
        if op.kind == "create":
            request.update(method="POST", body=bc_values(op.values))
        elif op.kind == "update":
            request.update(method="PATCH", body=bc_values(op.values))
            request["headers"]["If-Match"] = _require_etag(op.etag)
        else:
            request["method"] = "DELETE"
            request["headers"]["If-Match"] = _require_etag(op.etag)
        return request

    def _send_batch(self, ops: Sequence[WriteOp]) -> list[WriteResult]:
        body = {"requests": [self._batch_request(op, n) for n, op in enumerate(ops)]}
        url = f"{self.config.api_root}/$batch"
        # No Isolation header, and continue-on-error: each operation stands alone (api-facts §B.5,
        # §F.1; without the preference BC stops at the first failure). The batch is not idempotent
        # as a whole (creates), so a lost answer is not resent blindly.
        answer = self.session.request("POST", url, json=body, idempotent=False,
                                      headers={"Prefer": "odata.continue-on-error"}).json()
        by_id = {str(r.get("id")): r for r in answer.get("responses", []) if isinstance(r, dict)}
        results: list[WriteResult] = []
        for n, op in enumerate(ops):
            part = by_id.get(str(n))
            method = body["requests"][n]["method"]
            op_url = f"{self.config.api_root}/{body['requests'][n]['url']}"
            if part is None:
                # BC answers in order and stops at a failure: an op without an answer did not run,
                # so even a create is resent (api-facts §F.1), never dropped.
                err = Retriable(f"{method} {op_url}: not executed in the batch", service="erp", method=method,
                                code=NOT_EXECUTED)
                results.append(WriteResult(op, error=err))
                continue
            status = int(part.get("status", 0))
            error = error_for(status, part.get("headers") or {}, part.get("body"), service="erp",
                              method=method, url=op_url)
            if op.kind == "delete" and status == 404:
                results.append(WriteResult(op))  # already gone: the delete's goal holds
            elif error is not None:
                results.append(WriteResult(op, error=error))
            elif op.kind == "delete" or status == 204:
                results.append(WriteResult(op))
            else:
                results.append(WriteResult(op, record=_record(part.get("body") or {}, None)))
        return results

    def apply_batch(self, ops: Sequence[WriteOp], *, retry: RetryPolicy | None = None) -> list[WriteResult]:
        """Apply writes in JSON `$batch` requests of ≤ 100 independent operations.

        Each result carries the written Record (None for a delete) or that op's classified
        error (StaleWrite, Rejected, Retriable); ops that failed retriably are resent, bounded
        by the retry policy; a create is resent only after a 429/503 (the server did no work).

        Returns:
            One WriteResult per op, in order.
        """
        for op in ops:  # fail fast on a programming error, before anything is sent
            if op.kind != "create":
                _require_etag(op.etag)
        return apply_in_chunks(ops, size=BATCH_SIZE, send=self._send_batch, retry=retry or self.session.retry,
                               sleep=self.session.sleep, idempotent=lambda op: op.kind != "create")
