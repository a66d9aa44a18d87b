"""List reads as BC serves them: `$filter` (BC dialect), `$orderby`, `$select`, `$top`, `$skip`, `$count`
and server-driven paging with `Prefer: odata.maxpagesize` and `$skiptoken` (api-facts §B.4).

A skiptoken holds the last row's sort values and id, so the next page resumes right after that row
under the same filter and order even when rows were added or changed in between.
"""
from __future__ import annotations

import base64
import bisect
import binascii
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import total_ordering
from typing import Any

from emulators.bc.entities import FIELD_MAPS, EntitySpec
from emulators.bc.errors import BadRequest, PageSizeTooLarge
from emulators.bc.state import Table
from emulators.odata_query import QueryError, filter_fields, parse_filter, parse_orderby, parse_select

__all__ = ["MAX_PAGE_SIZE", "ListQuery", "Page", "parse_list_query", "read_page", "project", "check_select"]

MAX_PAGE_SIZE = 20_000  # api-facts §B.4: fixed online; larger odata.maxpagesize → 413
_KNOWN_OPTIONS = frozenset({"$filter", "$orderby", "$select", "$top", "$skip", "$skiptoken", "$count",
                            "$schemaversion", "$format"})
_UNEMULATED = frozenset({"$expand", "$apply", "$compute", "$search"})  # real BC answers these; we do not
_MAXPAGE_RE = re.compile(r"odata\.maxpagesize\s*=\s*(\S+)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class SkipToken:
    last_id: str
    last_keys: list[Any]
    returned: int

    def encode(self) -> str:
        raw = json.dumps([self.last_id, self.last_keys, self.returned], separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> SkipToken:
        try:
            last_id, keys, returned = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
            if not isinstance(last_id, str) or not isinstance(keys, list) or not isinstance(returned, int):
                raise ValueError(text)
        except (ValueError, binascii.Error) as err:
            raise BadRequest(f"The skip token '{text}' is not valid.") from err
        return cls(last_id, keys, returned)


@dataclass(frozen=True, slots=True)
class ListQuery:
    predicate: Callable[[dict[str, Any]], bool] | None
    orderby: list[tuple[str, bool]]
    select: list[str] | None
    top: int | None
    skip: int
    count: bool
    page_size: int
    page_size_asked: bool  # echo it in Preference-Applied
    token: SkipToken | None


@dataclass(frozen=True, slots=True)
class Page:
    records: list[dict[str, Any]]
    next_token: str | None
    count: int | None


def _int_option(query: dict[str, str], name: str) -> int | None:
    if name not in query:
        return None
    text = query[name]
    if not text.isdigit():
        raise BadRequest(f"Invalid value '{text}' for {name} query option found. "
                         f"The {name} query option requires a non-negative integer value.")
    return int(text)


def check_select(spec: EntitySpec, text: str | None) -> list[str] | None:
    if text is None:
        return None
    try:
        names = parse_select(text)
    except QueryError as err:
        raise BadRequest(str(err)) from err
    _check_fields(spec, names)
    return names


def _check_fields(spec: EntitySpec, names: list[str]) -> None:
    fields = FIELD_MAPS[spec.set_name]
    for name in names:
        if name not in fields:
            raise BadRequest(f"Could not find a property named '{name}' on type 'Microsoft.NAV.{spec.type_name}'.")


def parse_list_query(spec: EntitySpec, query: dict[str, str], prefer: str | None) -> ListQuery:
    """The query options of a list GET; raises BC's 400 (or 413 for a too-large page) when wrong."""
    unknown = [k for k in query if k.startswith("$") and k not in _KNOWN_OPTIONS]
    if unknown and unknown[0] in _UNEMULATED:
        raise BadRequest(f"The query parameter '{unknown[0]}' is not supported by this emulator.")
    if unknown:
        raise BadRequest(f"The query parameter '{unknown[0]}' is not supported.")
    try:
        predicate = parse_filter(query["$filter"], "bc") if query.get("$filter") else None
        if predicate is not None:
            _check_fields(spec, sorted(filter_fields(query["$filter"], "bc")))
        orderby = parse_orderby(query["$orderby"]) if query.get("$orderby") else []
    except QueryError as err:
        raise BadRequest(str(err)) from err
    _check_fields(spec, [name for name, _ in orderby])
    select = check_select(spec, query.get("$select"))
    page_size, asked = MAX_PAGE_SIZE, False
    match = _MAXPAGE_RE.search(prefer or "")
    if match:
        value = match.group(1).rstrip(",;")
        if not value.isdigit() or int(value) == 0:
            raise BadRequest(f"The value '{value}' of odata.maxpagesize is not a positive integer.")
        if int(value) > MAX_PAGE_SIZE:
            raise PageSizeTooLarge(f"The requested page size {value} exceeds the maximum page size of "
                                   f"{MAX_PAGE_SIZE}.")
        page_size, asked = int(value), True
    count = query.get("$count", "false").lower()
    if count not in ("true", "false"):
        raise BadRequest(f"Invalid value '{query['$count']}' for $count query option.")
    token = SkipToken.decode(query["$skiptoken"]) if query.get("$skiptoken") else None
    return ListQuery(predicate, orderby, select, _int_option(query, "$top"), _int_option(query, "$skip") or 0,
                     count == "true", page_size, asked, token)


@total_ordering
class _Desc:
    """Reverses the order of one sort value, for `desc` fields."""

    __slots__ = ("value",)

    def __init__(self, value: Any):
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Desc) and self.value == other.value

    def __lt__(self, other: _Desc) -> bool:
        return bool(other.value < self.value)

    def __hash__(self) -> int:
        return hash(self.value)


def _norm(value: Any) -> Any:
    # BC compares text case-insensitively (SQL collation); types never mix within one field.
    if isinstance(value, str):
        return (value.lower(), value)
    return (value, "")


def _sort_key(orderby: list[tuple[str, bool]], values: list[Any], record_id: str) -> tuple[Any, ...]:
    parts = [(_Desc(_norm(v)) if desc else _norm(v)) for (_, desc), v in zip(orderby, values)]
    return (*parts, record_id)


def read_page(table: Table, q: ListQuery) -> Page:
    """One page of `table` under `q`; call with the state lock held (only references are taken)."""
    returned = q.token.returned if q.token else 0
    size = q.page_size if q.top is None else max(0, min(q.page_size, q.top - returned))
    skip = q.skip if q.token is None else 0
    pred = q.predicate
    count = None
    if q.count:
        count = sum(1 for r in table.records.values() if pred is None or pred(r))
    if size == 0:
        return Page([], None, count)
    if q.orderby:
        rows = [r for r in table.records.values() if pred is None or pred(r)]
        keyed = sorted(((_sort_key(q.orderby, [r[f] for f, _ in q.orderby], r["id"]), r) for r in rows),
                       key=lambda kr: kr[0])
        start = 0
        if q.token:
            keys = [k for k, _ in keyed]
            start = bisect.bisect_right(keys, _sort_key(q.orderby, q.token.last_keys, q.token.last_id))
        out = [r for _, r in keyed[start + skip:start + skip + size + 1]]
    else:
        order, records = table.order, table.records
        start = bisect.bisect_right(order, q.token.last_id) if q.token else 0
        if pred is None:
            out = [records[i] for i in order[start + skip:start + skip + size + 1]]
        else:
            out = []
            for record_id in order[start:]:
                rec = records[record_id]
                if pred(rec):
                    if skip:
                        skip -= 1
                        continue
                    out.append(rec)
                    if len(out) > size:
                        break
    if len(out) <= size or (q.top is not None and returned + size >= q.top):
        return Page(out[:size], None, count)
    out = out[:size]
    last = out[-1]
    token = SkipToken(last["id"], [last[f] for f, _ in q.orderby], returned + len(out))
    return Page(out, token.encode(), count)


def project(records: list[dict[str, Any]], select: list[str] | None) -> list[dict[str, Any]]:
    """`$select`: the ETag plus the chosen properties; the stored dicts themselves otherwise."""
    if not select:
        return records
    names = ["@odata.etag", *select]
    return [{n: r[n] for n in names} for r in records]
