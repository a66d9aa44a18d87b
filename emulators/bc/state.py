"""The emulated company's records and their rules: number series, ETags, concurrency, currency and
contact relations, and all-or-nothing transactions for `$batch` with `Isolation: snapshot`.

Records are copy-on-write dicts (a write replaces the dict), so a reader may serialise references taken
under the lock after releasing it. Each record carries its `@odata.etag` as its first key.
"""
from __future__ import annotations

import base64
import bisect
import datetime as dt
import functools
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from emulators.bc.entities import BLANK_GUID, ENTITIES, EntitySpec, blank_record
from emulators.bc.errors import (
    DialogException, EntityChanged, EntityWithSameKeyExists, InvalidTableRelation, InvalidToken, RecordNotFound,
    RequiredParamNotProvided,
)
from emulators.bc.validate import check_body

__all__ = ["Change", "Table", "BcState", "now_ms", "format_ms", "parse_time"]


def format_ms(t: dt.datetime) -> str:
    """api-facts §B.2: `2020-08-21T07:38:44.293Z` (milliseconds, UTC, Z)."""
    return t.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def now_ms() -> str:
    return format_ms(dt.datetime.now(dt.timezone.utc))


def parse_time(text: str) -> dt.datetime:
    t = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)


@dataclass(frozen=True, slots=True)
class Change:
    """One record change, for webhook notifications (api-facts §B.6)."""

    entity: str
    id: str
    change_type: str  # created | updated | deleted
    at: str


class Table:
    """One entity set: records by id, ids in key order (stable paging), and the unique-key index."""

    def __init__(self, spec: EntitySpec):
        self.spec = spec
        self.records: dict[str, dict[str, Any]] = {}
        self.order: list[str] = []
        self.keys: dict[str, str] = {}  # number/code -> id
        self.next_number = 1

    def insert(self, rec: dict[str, Any]) -> None:
        self.records[rec["id"]] = rec
        bisect.insort(self.order, rec["id"])
        self.keys[rec[self.spec.key_field]] = rec["id"]

    def remove(self, rec: dict[str, Any]) -> None:
        del self.records[rec["id"]]
        i = bisect.bisect_left(self.order, rec["id"])
        del self.order[i]
        self.keys.pop(rec[self.spec.key_field], None)

    def replace(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        self.records[new["id"]] = new
        key = self.spec.key_field
        if old[key] != new[key]:
            self.keys.pop(old[key], None)
            self.keys[new[key]] = new["id"]


def make_etag(record_id: str, version: int) -> str:
    """Opaque, BC-like (`W/"JzQ0O…"`): base64 of `'44;<id>1;<version>;00;'` (api-facts §B.3)."""
    inner = f"'44;{record_id}1;{version};00;'"
    return f'W/"{base64.b64encode(inner.encode()).decode()}"'


def is_match(if_match: str | None, etag: str) -> bool:
    """If-Match: '*' or one of the listed ETags (the W/ prefix optional)."""
    if if_match is None:
        raise InvalidToken()  # api-facts §B.3: If-Match is required on PATCH and DELETE
    wanted = {t.strip() for t in if_match.split(",") if t.strip()}
    if "*" in wanted:
        return True
    bare = etag[2:] if etag.startswith("W/") else etag
    return bool(wanted & {etag, bare})


class BcState:
    """Every table of the one company; the lock guards all of it (the server is threaded)."""

    def __init__(self, on_change: Callable[[list[Change]], None]):
        self.lock = threading.RLock()
        self._on_change = on_change
        self.tables: dict[str, Table] = {}
        self.modified_by: dict[str, str] = {}
        self._version = 0
        self._journal: list[Callable[[], None]] | None = None
        self._pending: list[Change] = []
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.tables = {name: Table(spec) for name, spec in ENTITIES.items()}
            self.modified_by = {}

    # -- versions and transactions ---------------------------------------------------------------
    def next_version(self) -> int:
        self._version += 1
        return self._version

    def stamp(self, rec: dict[str, Any], at: str | None = None) -> dict[str, Any]:
        """A copy of `rec` with a new ETag first and a new lastModifiedDateTime."""
        out = {"@odata.etag": "", **rec}  # keeps the ETag the first key, as BC serialises it
        out["@odata.etag"] = make_etag(rec["id"], self.next_version())
        out["lastModifiedDateTime"] = at or now_ms()
        return out

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """All changes inside are undone if the block raises; notifications wait for the commit."""
        with self.lock:
            if self._journal is not None:
                yield
                return
            self._journal, self._pending = [], []
            try:
                yield
            except BaseException:
                for undo in reversed(self._journal):
                    undo()
                self._journal, self._pending = None, []
                raise
            pending, self._journal, self._pending = self._pending, None, []
        if pending:
            self._on_change(pending)

    def _emit(self, change: Change) -> None:
        if self._journal is not None:
            self._pending.append(change)
        else:
            self._on_change([change])

    def _insert(self, table: Table, rec: dict[str, Any]) -> None:
        table.insert(rec)
        if self._journal is not None:
            self._journal.append(lambda: table.remove(rec))

    def _replace(self, table: Table, old: dict[str, Any], new: dict[str, Any]) -> None:
        table.replace(old, new)
        if self._journal is not None:
            self._journal.append(lambda: table.replace(new, old))

    def _remove(self, table: Table, rec: dict[str, Any]) -> None:
        table.remove(rec)
        if self._journal is not None:
            self._journal.append(lambda: table.insert(rec))

    # -- reads ------------------------------------------------------------------------------------
    def get(self, entity: str, record_id: str) -> dict[str, Any]:
        rec = self.tables[entity].records.get(record_id)
        if rec is None:
            spec = ENTITIES[entity]
            raise RecordNotFound(f"The {spec.caption} does not exist. Identification fields and values: "
                                 f"Id='{record_id}'")
        return rec

    # -- writes -----------------------------------------------------------------------------------
    def create(self, entity: str, body: Any, by: str) -> dict[str, Any]:
        spec = ENTITIES[entity]
        changes = check_body(spec, body)
        _check_page_rules(entity, changes)
        with self.atomic():
            table = self.tables[entity]
            rec = blank_record(spec)
            rec["id"] = str(uuid.uuid4())
            rec.update(changes)
            if not rec[spec.key_field]:
                rec[spec.key_field] = self._next_key(table)
            self._check_unique(table, rec[spec.key_field])
            self._apply_rules(entity, rec, changes, None)
            if entity == "customers" and "displayName" not in changes:  # the page's OnInsertRecord
                raise DialogException('A "displayName" must be provided.')
            rec = self.stamp(rec)
            self._insert(table, rec)
            self.modified_by[rec["id"]] = by
            self._emit(Change(entity, rec["id"], "created", rec["lastModifiedDateTime"]))
            return rec

    def update(self, entity: str, record_id: str, body: Any, if_match: str | None, by: str, *,
               person: bool = False, at: str | None = None) -> dict[str, Any]:
        spec = ENTITIES[entity]
        changes = check_body(spec, body, person=person)
        if not person:
            _check_page_rules(entity, changes)
        with self.atomic():
            table = self.tables[entity]
            old = self.get(entity, record_id)
            if not person and not is_match(if_match, old["@odata.etag"]):
                raise EntityChanged()
            if all(old.get(k) == v for k, v in changes.items()) and at is None:
                return old  # nothing changed: BC writes nothing, so no new ETag or timestamp
            rec = dict(old)
            rec.update(changes)
            key = spec.key_field
            if rec[key] != old[key]:
                if not rec[key]:
                    raise RequiredParamNotProvided(f"Field '{key}' must not be blank or empty.")
                self._check_unique(table, rec[key])
            self._apply_rules(entity, rec, changes, old)
            new = self.stamp(rec, at)
            self._replace(table, old, new)
            self.modified_by[record_id] = by
            self._emit(Change(entity, record_id, "updated", new["lastModifiedDateTime"]))
            if entity == "contacts" and old["type"] == "Company":
                self._cascade_company(old, new)
            return new

    def delete(self, entity: str, record_id: str, if_match: str | None, *, person: bool = False) -> None:
        with self.atomic():
            old = self.get(entity, record_id)
            if not person and not is_match(if_match, old["@odata.etag"]):
                raise EntityChanged()
            self._remove(self.tables[entity], old)
            self._emit(Change(entity, record_id, "deleted", now_ms()))

    # -- rules ------------------------------------------------------------------------------------
    def _next_key(self, table: Table) -> str:
        spec = table.spec
        if not spec.series_prefix:
            raise RequiredParamNotProvided(f"Field '{spec.key_field}' must not be blank or empty.")
        while True:  # skip numbers someone typed in by hand
            key = f"{spec.series_prefix}{table.next_number:0{spec.series_digits}d}"
            before = table.next_number
            table.next_number += 1
            if self._journal is not None:
                self._journal.append(functools.partial(setattr, table, "next_number", before))
            if key not in table.keys:
                return key

    def _check_unique(self, table: Table, key: str) -> None:
        if key in table.keys:
            spec = table.spec
            raise EntityWithSameKeyExists(f"The {spec.caption} already exists. Identification fields and "
                                          f"values: {spec.key_caption}='{key}'")

    def _apply_rules(self, entity: str, rec: dict[str, Any], changes: dict[str, Any],
                     old: dict[str, Any] | None) -> None:
        if "currencyId" in rec:
            self._sync_currency(ENTITIES[entity].caption, rec, changes)
        if entity == "contacts":
            self._sync_contact(rec, changes, old)

    def _sync_currency(self, caption: str, rec: dict[str, Any], changes: dict[str, Any]) -> None:
        """Setting currencyCode sets currencyId and back; '' / the zero GUID mean the local currency."""
        currencies = self.tables["currencies"]
        by_code: str | None = None
        if "currencyCode" in changes:
            code = changes["currencyCode"]
            if code and code not in currencies.keys:
                raise InvalidTableRelation(f"The field Currency Code of table {caption} "
                                           f"contains a value ({code}) that cannot be found in the related "
                                           "table (Currency).")
            by_code = currencies.keys.get(code, BLANK_GUID) if code else BLANK_GUID
        if "currencyId" in changes:
            cid = changes["currencyId"]
            if cid != BLANK_GUID and cid not in currencies.records:
                raise InvalidTableRelation(f"The currency with id '{cid}' does not exist.")
            if by_code is not None and by_code != cid:
                raise InvalidTableRelation("The currencyId and currencyCode refer to different currencies.")
            rec["currencyCode"] = currencies.records[cid]["code"] if cid != BLANK_GUID else ""
        elif by_code is not None:
            rec["currencyId"] = by_code

    def _sync_contact(self, rec: dict[str, Any], changes: dict[str, Any], old: dict[str, Any] | None) -> None:
        """Company contacts are their own company; a person's companyNumber must name a company contact."""
        if rec["type"] == "Company":
            rec["companyNumber"] = rec["number"]
            rec["companyName"] = rec["displayName"]
        elif rec["companyNumber"]:
            contacts = self.tables["contacts"]
            company_id = contacts.keys.get(rec["companyNumber"])
            company = contacts.records.get(company_id) if company_id else None
            if company is None or company["type"] != "Company":
                raise InvalidTableRelation(f"The field Company No. of table Contact contains a value "
                                           f"({rec['companyNumber']}) that cannot be found in the related "
                                           "table (Contact).")
            rec["companyName"] = company["displayName"]
        else:
            rec["companyName"] = ""
        if "searchName" not in changes and "displayName" in changes:
            if old is None or not old["searchName"] or old["searchName"] == old["displayName"].upper():
                rec["searchName"] = rec["displayName"].upper()[:100]

    def _cascade_company(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        """BC renames the company on its person contacts when the company contact changes."""
        if old["number"] == new["number"] and old["displayName"] == new["displayName"]:
            return
        table = self.tables["contacts"]
        for person in [r for r in table.records.values()
                       if r["type"] == "Person" and r["companyNumber"] == old["number"]]:
            changed = dict(person, companyNumber=new["number"], companyName=new["displayName"])
            self._replace(table, person, self.stamp(changed))


def _check_page_rules(entity: str, changes: dict[str, Any]) -> None:
    """The API page's field validation (ALAppExtensions APIV2Customers.Page.al, api-facts §F.5): a
    customer refuses a blank `displayName`; `create` also needs one to be given at all."""
    if entity == "customers" and "displayName" in changes and not str(changes["displayName"]).strip():
        raise DialogException('The blank "displayName" is not allowed.')
