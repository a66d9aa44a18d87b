"""CrmClient: Dataverse Web API v9.2 rows (api-facts §A): reads, change tracking, conditional and
idempotent writes, multipart `$batch` and the bulk actions.

Tables accounts, contacts, transactioncurrencies, products, systemusers. Lookups are translated
in `core/crm/lookups.py`; the multipart batch lives in `core/crm/batch.py`.
"""
from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from core.odata.auth import MsalAuth
from core.crm.batch import send_batch
from core.crm.lookups import MODIFIED_ON, select_columns, write_values
from core.crm.rows import record_from_row
from core.errors import RemoteError
from core.model import Record
from core.odata import (
    DUPLICATE_DV, ODataSession, RetryPolicy, WriteOp, WriteResult, and_, apply_in_chunks, compare, dv_datetime,
    dv_in, field_name, guid, url_with_query,
)
from core.settings import CrmConfig

__all__ = ["CrmClient", "ChangeSet", "record_from_row", "TABLES", "PAGE_SIZE", "BATCH_SIZE", "BULK_SIZE",
           "DV_CONCURRENCY"]

TABLES = ("accounts", "contacts", "transactioncurrencies", "products", "systemusers")
PAGE_SIZE = 5_000  # api-facts §A.3
BATCH_SIZE = 1_000  # api-facts §A.5
BULK_SIZE = 1_000  # api-facts §A.6: the recommended size for standard tables
DV_CONCURRENCY = 52  # api-facts §A.7
MAX_URL = 30_000  # api-facts §A.1: GET URLs up to 32,768 characters
_HEADERS = {"Accept": "application/json", "OData-MaxVersion": "4.0", "OData-Version": "4.0"}
_PAGED = {"Prefer": f"odata.maxpagesize={PAGE_SIZE}"}
EXPIRED_DELTA = "0x80044352"  # ExpiredVersionStamp: a delta token past ExpireChangeTrackingInDays


@dataclass(frozen=True, slots=True)
class ChangeSet:
    """What change tracking returned: changed rows, deleted ids, and the link for next time."""

    records: tuple[Record, ...]
    deleted_ids: tuple[str, ...]
    next_delta_link: str
    full: bool = False  # the old link had expired: `records` is every row and deletions are not reported


def _require_etag(etag: str | None) -> str:
    if not etag or etag.strip() == "*":
        raise ValueError("a Dataverse update needs the ETag read while planning, never '*' (SPEC X8)")
    return etag


class CrmClient:
    """Dataverse at `config.url`.

    Args:
        config: the organisation URL and credentials.
        session: an ODataSession; by default one with MsalAuth and 52 concurrent requests.
        clock: monotonic seconds, for `ping`.
    """

    def __init__(self, config: CrmConfig, *, session: ODataSession | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.config = config
        self.session = session or ODataSession(
            service="crm", auth=MsalAuth(config, service="crm"), headers=_HEADERS, concurrency=DV_CONCURRENCY)
        self._clock = clock
        self._whoami: str | None = None
        self._base_currency: str | None = None

    def url(self, entity: str, record_id: str | None = None) -> str:
        if entity not in TABLES:
            raise ValueError(f"unknown Dataverse entity set {entity!r}")
        base = f"{self.config.api_root}/{entity}"
        return f"{base}({guid(record_id)})" if record_id is not None else base

    def ping(self) -> float:
        """GET WhoAmI; the round trip in seconds (the connection check)."""
        start = self._clock()
        self._whoami = str(self.session.get_json(f"{self.config.api_root}/WhoAmI")["UserId"]).lower()
        return self._clock() - start

    def whoami(self) -> str:
        """Koppel's own systemuser id, to recognise its writes by `_modifiedby_value`."""
        if self._whoami is None:
            self.ping()
        assert self._whoami is not None
        return self._whoami

    def base_currency_id(self) -> str | None:
        """The organization's base currency (`organizations._basecurrencyid_value`), read once: the currency a
        Dataverse row gets when none is given, which Business Central spells as its blank local currency."""
        if self._base_currency is None:
            page = self.session.get_json(f"{self.config.api_root}/organizations",
                                         params={"$select": "_basecurrencyid_value", "$top": "1"})
            rows = page.get("value") or [{}]
            self._base_currency = str(rows[0].get("_basecurrencyid_value") or "").lower()
        return self._base_currency or None

    # -- reads -----------------------------------------------------------------------------------
    def read_changed_since(self, entity: str, id_field: str, since: dt.datetime | None, fields: Sequence[str],
                           extra_filter: str | None = None) -> Iterator[list[Record]]:
        """Rows modified at or after `since` (tie-safe `ge`), oldest first, ≤ 5,000 per page."""
        params = {
            "$select": select_columns(entity, id_field, fields),
            "$filter": and_(compare(MODIFIED_ON, "ge", dv_datetime(since)) if since else None, extra_filter),
            "$orderby": f"{MODIFIED_ON} asc",
        }
        for page in self.session.iter_pages(self.url(entity), params, _PAGED):
            yield [record_from_row(entity, id_field, row, fields) for row in page.get("value", [])]

    def read_changes(self, entity: str, id_field: str, fields: Sequence[str],
                     delta_link: str | None = None) -> ChangeSet:
        """Change tracking (api-facts §A.4): every row on the first call, then only changes and
        `$deletedEntity` tombstones since `delta_link`. No $filter/$orderby: Dataverse refuses them here.

        Raises:
            RemoteError: the last page carried no deltaLink (the table is not change-tracked).
        """
        headers = {"Prefer": f"odata.track-changes,odata.maxpagesize={PAGE_SIZE}"}
        if delta_link is not None:
            try:
                return self._collect_changes(entity, id_field, fields, self.session.iter_pages(delta_link, None, headers))
            except RemoteError as err:
                if err.code != EXPIRED_DELTA:
                    raise
            # the token outlived ExpireChangeTrackingInDays (api-facts §F.4): start over with a full read
        pages = self.session.iter_pages(self.url(entity), {"$select": select_columns(entity, id_field, fields)},
                                        headers)
        changes = self._collect_changes(entity, id_field, fields, pages)
        return replace(changes, full=delta_link is not None)

    @staticmethod
    def _collect_changes(entity: str, id_field: str, fields: Sequence[str], pages: Iterable[Any]) -> ChangeSet:
        records: list[Record] = []
        deleted: list[str] = []
        next_link: str | None = None
        for page in pages:
            for row in page.get("value", []):
                if "$deletedEntity" in str(row.get("@odata.context", "")) or (
                        "reason" in row and id_field not in row):
                    deleted.append(str(row["id"]).lower())
                else:
                    records.append(record_from_row(entity, id_field, row, fields))
            next_link = page.get("@odata.deltaLink") or next_link
        if not next_link:
            raise RemoteError(f"GET {entity}: no deltaLink; is change tracking enabled for the table?",
                              service="crm", code="NoDeltaLink", method="GET", path=f"/{entity}")
        return ChangeSet(tuple(records), tuple(deleted), str(next_link))

    def _id_chunks(self, entity: str, id_field: str, ids: Sequence[str], select: str) -> Iterator[list[str]]:
        """Ids in groups whose `In(...)` GET URL stays under MAX_URL (api-facts §A.1)."""
        base = len(url_with_query(self.url(entity), {"$select": select, "$filter": dv_in(id_field, ["x"])}))
        per_id = len(url_with_query("", {"f": dv_in(id_field, ["x" * 36, "x" * 36])})) - \
            len(url_with_query("", {"f": dv_in(id_field, ["x" * 36])}))
        limit = max(1, min(PAGE_SIZE, (MAX_URL - base) // per_id))
        unique = list(dict.fromkeys(guid(i) for i in ids))
        for start in range(0, len(unique), limit):
            yield unique[start:start + limit]

    def read_by_ids(self, entity: str, id_field: str, ids: Sequence[str],
                    fields: Sequence[str]) -> dict[str, Record]:
        """The rows with these ids (missing ones are absent), via `Microsoft.Dynamics.CRM.In`
        in as few GETs as the URL limit allows, never one per id."""
        select = select_columns(entity, id_field, fields)
        found: dict[str, Record] = {}
        for chunk in self._id_chunks(entity, id_field, ids, select):
            params = {"$select": select, "$filter": dv_in(id_field, chunk)}
            for page in self.session.iter_pages(self.url(entity), params, _PAGED):
                for row in page.get("value", []):
                    record = record_from_row(entity, id_field, row, fields)
                    found[record.id] = record
        return found

    def _value_chunks(self, entity: str, field: str, values: Sequence[str], base: int) -> Iterator[list[str]]:
        """Values in groups whose `In(...)` GET URL stays under MAX_URL (api-facts §A.1)."""
        chunk: list[str] = []
        length = base
        for value in values:
            cost = len(url_with_query("", {"f": dv_in(field, [value, value])})) - \
                len(url_with_query("", {"f": dv_in(field, [value])}))
            if chunk and (length + cost > MAX_URL or len(chunk) >= PAGE_SIZE):
                yield chunk
                chunk, length = [], base
            chunk.append(value)
            length += cost
        if chunk:
            yield chunk

    def read_by_field(self, entity: str, id_field: str, field: str, values: Sequence[str], fields: Sequence[str],
                      extra_filter: str | None = None) -> list[Record]:
        """The rows whose `field` equals one of `values` (`Microsoft.Dynamics.CRM.In`; Dataverse compares text
        case-insensitively, api-facts §A.3), ANDed with `extra_filter`, in as few GETs as the URL limit allows."""
        wanted = list(dict.fromkeys([field, *fields]))
        select = select_columns(entity, id_field, wanted)
        texts = list(dict.fromkeys(str(v) for v in values if v is not None and str(v) != ""))
        base = len(url_with_query(self.url(entity), {"$select": select,
                                                     "$filter": and_(dv_in(field, ["x"]), extra_filter)}))
        found: dict[str, Record] = {}
        for chunk in self._value_chunks(entity, field, texts, base):
            params = {"$select": select, "$filter": and_(dv_in(field, chunk), extra_filter)}
            for page in self.session.iter_pages(self.url(entity), params, _PAGED):
                for row in page.get("value", []):
                    record = record_from_row(entity, id_field, row, wanted)
                    found[record.id] = record
        return list(found.values())

    def count(self, entity: str, id_field: str, extra_filter: str | None = None) -> int:
        """How many rows match `extra_filter`: one `$count=true&$top=1` GET; Dataverse caps the count at
        5,000 (api-facts §A.3), which is enough to tell empty from not empty."""
        params = {"$select": field_name(id_field), "$filter": extra_filter, "$top": "1", "$count": "true"}
        answer = self.session.get_json(self.url(entity), params=params)
        return int(answer.get("@odata.count", len(answer.get("value", []))))

    def get(self, entity: str, id_field: str, record_id: str, fields: Sequence[str] | None = None) -> Record | None:
        """One row, or None when it does not exist (404)."""
        params = {"$select": select_columns(entity, id_field, fields)} if fields is not None else None
        try:
            row = self.session.get_json(self.url(entity, record_id), params=params)
        except RemoteError as err:
            if err.status == 404:
                return None
            raise
        return record_from_row(entity, id_field, row, fields)

    # -- single writes -----------------------------------------------------------------------------
    def _written(self, entity: str, id_field: str, record_id: str, response: Any) -> Record:
        if response.status_code == 204 or not response.content:
            record = self.get(entity, id_field, record_id)
            if record is None:
                raise RemoteError(f"{entity}({record_id}) vanished right after it was written", service="crm",
                                  status=404, method="GET", path=f"/{entity}")
            return record
        return record_from_row(entity, id_field, response.json(), None, record_id)

    def create_with_id(self, entity: str, id_field: str, record_id: str, values: Mapping[str, Any]) -> Record:
        """Create a row with our own id (DESIGN decision 3): `PATCH set(<id>)` + `If-None-Match: *`.

        Safe to retry: a 412 DuplicateRecord means an earlier attempt landed, so the row is read
        and returned instead of creating a second one.
        """
        headers = {"If-None-Match": "*", "Prefer": "return=representation"}
        try:
            response = self.session.request("PATCH", self.url(entity, record_id), json=write_values(entity, values),
                                            headers=headers)
        except RemoteError as err:
            if err.status == 412 and err.code == DUPLICATE_DV:
                existing = self.get(entity, id_field, record_id)
                if existing is not None:
                    return existing
            raise
        return self._written(entity, id_field, record_id, response)

    def update(self, entity: str, id_field: str, record_id: str, etag: str, values: Mapping[str, Any]) -> Record:
        """`PATCH` with `If-Match: <etag>` (never `*`, SPEC X8) and the row back.

        Raises:
            StaleWrite: the row changed since `etag` was read (412 0x80060882).
        """
        headers = {"If-Match": _require_etag(etag), "Prefer": "return=representation"}
        response = self.session.request("PATCH", self.url(entity, record_id), json=write_values(entity, values),
                                        headers=headers)
        return self._written(entity, id_field, record_id, response)

    def delete(self, entity: str, record_id: str, etag: str) -> None:
        """`DELETE` with `If-Match: <etag>`; a row already gone (404) counts as deleted."""
        try:
            self.session.request("DELETE", self.url(entity, record_id), headers={"If-Match": _require_etag(etag)})
        except RemoteError as err:
            if err.status != 404:
                raise

    # -- batches and bulk actions ------------------------------------------------------------------
    def apply_batch(self, ops: Sequence[WriteOp], *, retry: RetryPolicy | None = None) -> list[WriteResult]:
        """Apply writes in multipart `$batch` requests of ≤ 1,000 parts with `odata.continue-on-error`.

        Creates are `PATCH set(<op.id>)` + `If-None-Match: *` (a duplicate on a retry reads as
        success), updates and deletes carry their own `If-Match`. Every op is idempotent, so
        retriable failures are resent, bounded by the policy.

        Args:
            ops: the writes; every op needs an id (a create's is chosen by the caller).
            retry: the policy for resending retriable ops; the session's by default.

        Returns:
            One WriteResult per op, in order.
        """
        for op in ops:  # fail fast on a programming error, before anything is sent
            if op.id is None:
                raise ValueError("every Dataverse write needs an id (creates choose theirs)")
            if op.kind != "create":
                _require_etag(op.etag)
        return apply_in_chunks(
            ops, size=BATCH_SIZE, retry=retry or self.session.retry, sleep=self.session.sleep,
            send=lambda chunk: send_batch(self, chunk), idempotent=lambda op: True)

    def upsert_multiple(self, entity: str, table: str, id_field: str, rows: Sequence[Mapping[str, Any]]) -> None:
        """`UpsertMultiple` in calls of ≤ 1,000 targets (api-facts §A.6), for writes that need no
        ETag condition (full sync, restore). Each row must hold `id_field`. One transaction per call.

        Rows with the same id are merged, later values winning, because a key repeated in `Targets`
        fails the whole call (api-facts §F.3)."""
        merged: dict[str, dict[str, Any]] = {}
        for row in rows:
            merged.setdefault(guid(str(row[id_field])), {}).update(
                {k: v for k, v in row.items() if k != id_field})
        targets = []
        for ident, values in merged.items():
            target = write_values(entity, values)
            target[id_field] = ident
            target["@odata.type"] = f"Microsoft.Dynamics.CRM.{table}"
            targets.append(target)
        for start in range(0, len(targets), BULK_SIZE):
            self.session.request("POST", f"{self.url(entity)}/Microsoft.Dynamics.CRM.UpsertMultiple",
                                 json={"Targets": targets[start:start + BULK_SIZE]}, idempotent=True)

    def create_multiple(self, entity: str, table: str, rows: Sequence[Mapping[str, Any]]) -> list[str]:
        """`CreateMultiple` in calls of ≤ 1,000 targets; returns the new ids in order. Not idempotent
        unless the rows carry their own ids (then a retry fails as a duplicate instead of doubling)."""
        ids: list[str] = []
        for start in range(0, len(rows), BULK_SIZE):
            targets = [{**write_values(entity, row), "@odata.type": f"Microsoft.Dynamics.CRM.{table}"}
                       for row in rows[start:start + BULK_SIZE]]
            answer = self.session.request("POST", f"{self.url(entity)}/Microsoft.Dynamics.CRM.CreateMultiple",
                                          json={"Targets": targets}, idempotent=False).json()
            ids.extend(str(i).lower() for i in answer.get("Ids", []))
        return ids
