"""Collection reads (api-facts §A.3): query options, server-driven paging with paging cookies, `$count`.

Pages follow keyset semantics, as Dataverse's paging cookie does: the next page starts after
the last row of the previous one, so rows written between pages neither repeat nor go missing.
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

from emulators.dataverse.body import unknown_property
from emulators.dataverse.errors import BadRequest, QueryNotSupported
from emulators.dataverse.schema import Table
from emulators.dataverse.state import Store
from emulators.odata_query import QueryError, parse_filter, parse_orderby, parse_select, sort_records

__all__ = ["MAX_PAGE", "Prefer", "ListQuery", "parse_prefer", "parse_list_query", "refuse_unemulated", "shape",
           "Lister", "strip_option", "cookie_of", "parse_cookie"]

MAX_PAGE = 5000  # §A.3: rows per page, default and cap
_KNOWN = {"$select", "$filter", "$orderby", "$top", "$count", "$skiptoken", "$deltatoken"}
_KEYWORDS = {"eq", "ne", "gt", "ge", "lt", "le", "and", "or", "not", "null", "true", "false", "in", "has",
             "add", "sub", "mul", "div", "mod", "any", "all"}
_STRIP_RE = re.compile(
    r"'(?:[^']|'')*'|\b\d{4}-\d{2}-\d{2}(?:T[0-9:.]+(?:Z|[+-]\d{2}:\d{2})?)?\b"
    r"|\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b")
_NAME_RE = re.compile(r"(?<![\w./])([A-Za-z_][A-Za-z0-9_]*)(?![\w./:(=])(?!\s*[(=:])")
Row = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Prefer:
    """The Prefer header's values Dataverse honours (§A.1)."""

    max_page: int | None = None  # as asked, before the cap
    track_changes: bool = False
    representation: bool = False
    continue_on_error: bool = False


def parse_prefer(values: list[str]) -> Prefer:
    max_page, track, rep, cont = None, False, False, False
    for part in (p.strip() for v in values for p in v.split(",")):
        name, _, value = part.partition("=")
        name = name.strip().lower()
        if name == "odata.maxpagesize":
            try:
                max_page = int(value.strip().strip('"'))
            except ValueError:
                raise BadRequest(f"Invalid value '{value}' for the odata.maxpagesize preference.") from None
            if max_page <= 0:
                raise BadRequest("The odata.maxpagesize preference must be a positive integer.")
        track |= name == "odata.track-changes"
        rep |= name == "return" and value.strip() == "representation"
        cont |= name == "odata.continue-on-error"
    return Prefer(max_page, track, rep, cont)


@dataclass(frozen=True, slots=True)
class ListQuery:
    select: tuple[str, ...] | None
    filter_text: str
    predicate: Callable[[Row], bool] | None
    orderby_text: str
    orderby: list[tuple[str, bool]]
    top: int | None
    count: bool


def parse_select_option(table: Table, text: str | None) -> tuple[str, ...] | None:
    if text is None:
        return None
    try:
        names = parse_select(text)
    except QueryError as err:
        raise BadRequest(str(err)) from err
    for name in names:
        if name not in table.readable:
            raise unknown_property(table, name)
    return tuple(dict.fromkeys((*names, table.primary_id)))


# Options real Dataverse answers and this emulator does not: refuse them, so no test passes on a
# silently wrong answer (api-facts §F; issue 9.6). Names are case-sensitive, as in Dataverse.
UNEMULATED = ("$expand", "$apply", "$search", "$compute", "fetchXml", "savedQuery", "userQuery", "sql")


def refuse_unemulated(query: dict[str, str]) -> None:
    for name in query:
        if name in UNEMULATED or name.startswith("@"):  # `@p` parameter aliases are not emulated either
            raise QueryNotSupported(f"The query option '{name}' is not supported by this emulator.")


def parse_list_query(table: Table, query: dict[str, str], *, tracking: bool) -> ListQuery:
    """Check and parse the options; names are case-sensitive and $skip is refused (§A.3)."""
    for name in query:
        if name.startswith("$") and name not in _KNOWN:
            raise QueryNotSupported(f"The query parameter {name} is not supported")
    if tracking:
        for name in ("$filter", "$orderby", "$expand", "$top"):
            if name in query:  # §A.4
                raise QueryNotSupported(
                    f'The "{name}" query parameter isn\'t supported when Change Tracking is enabled.')
    select = parse_select_option(table, query.get("$select"))
    filter_text = query.get("$filter", "")
    predicate = None
    if filter_text:
        for name in _NAME_RE.findall(_STRIP_RE.sub(" ", filter_text)):
            if name not in _KEYWORDS and name not in table.readable:
                raise unknown_property(table, name)
        try:
            predicate = parse_filter(filter_text, "dataverse")
        except QueryError as err:
            raise BadRequest(str(err)) from err
    orderby_text = query.get("$orderby", "")
    try:
        orderby = parse_orderby(orderby_text) if orderby_text else []
    except QueryError as err:
        raise BadRequest(str(err)) from err
    for name, _ in orderby:
        if name not in table.readable:
            raise unknown_property(table, name)
    top = None
    if "$top" in query:
        try:
            top = int(query["$top"])
        except ValueError:
            raise BadRequest(f"Invalid value '{query['$top']}' for $top query option found.") from None
        if top < 0:
            raise BadRequest(f"Invalid value '{top}' for $top query option found.")
    count = query.get("$count", "false").lower() == "true"
    return ListQuery(select, filter_text, predicate, orderby_text, orderby, top, count)


def shape(table: Table, row: Row, select: tuple[str, ...] | None) -> Row:
    """A row as Dataverse answers it: `@odata.etag` (§A.2) and the selected columns."""
    etag = f'W/"{row["versionnumber"]}"'
    if select is None:
        return {"@odata.etag": etag, **row}
    out: Row = {"@odata.etag": etag}
    for name in select:
        out[name] = row[name]
    return out


def strip_option(raw_query: str, *names: str) -> str:
    """The raw query without the given options, for next and delta links."""
    parts = [p for p in raw_query.split("&") if p and unquote(p.split("=", 1)[0]) not in names]
    return "&".join(parts)


def cookie_of(page: int, inner: str, tracking: bool) -> str:
    """§A.3: `<cookie pagenumber="2" pagingcookie="…" istracking="False" />`, the paging cookie twice encoded."""
    paging = quote(quote(inner, safe=""), safe="")
    return f'<cookie pagenumber="{page}" pagingcookie="{paging}" istracking="{tracking}" />'


def parse_cookie(token: str) -> tuple[int, str]:
    """(page number, inner paging cookie) of a `$skiptoken`."""
    m = re.search(r'pagenumber="(\d+)".*pagingcookie="([^"]*)"', token)
    if not m:
        raise BadRequest("The $skiptoken is not a valid paging cookie.")
    return int(m.group(1)), unquote(unquote(m.group(2)))


class Lister:
    """Sorted, filtered row lists cached until the next write, so each page is a slice."""

    def __init__(self, store: Store):
        self.store = store
        self._cache: dict[tuple[str, str, str], tuple[int, list[Row], dict[str, int]]] = {}
        # Fault mode (api-facts §F.6): paging ordered by a non-unique column can return a row on two
        # pages; `repeat` rows of the previous page come again at the top of the next one.
        self.repeat = 0
        self.max_page = MAX_PAGE  # a server may page smaller than the client asks

    def clear(self) -> None:
        self._cache.clear()
        self.repeat, self.max_page = 0, MAX_PAGE

    def matching(self, table: Table, q: ListQuery) -> tuple[list[Row], dict[str, int]]:
        key = (table.logical_name, q.filter_text, q.orderby_text)
        with self.store.lock:
            cached = self._cache.get(key)
            if cached is not None and cached[0] == self.store.version:
                return cached[1], cached[2]
            version = self.store.version
            rows = list(self.store.rows[table.logical_name].values())
        if q.predicate is not None:
            pred = q.predicate
            rows = [r for r in rows if pred(r)]
        pid = table.primary_id
        # Dataverse pages in primary key order when nothing else is asked; it breaks ties by it too.
        rows.sort(key=lambda r: r[pid])
        if q.orderby:
            rows = sort_records(rows, q.orderby)
        index = {r[pid]: i for i, r in enumerate(rows)}
        if len(self._cache) > 16:
            self._cache.clear()
        self._cache[key] = (version, rows, index)
        return rows, index

    def page(self, table: Table, q: ListQuery, skiptoken: str | None, size: int,
             limit: int | None) -> tuple[list[Row], int, int | None]:
        """(page rows, total matching, next page number or None)."""
        rows, index = self.matching(table, q)
        start, number = 0, 1
        if skiptoken:
            number, inner = parse_cookie(skiptoken)
            start = self._resume(table, q, rows, index, inner)
            if q.orderby:
                start = max(0, start - self.repeat)
        end = start + size
        if limit is not None:
            end = min(end, limit)
        chunk = rows[start:end]
        more = end < len(rows) and (limit is None or end < limit)
        return chunk, len(rows), (number + 1 if more and chunk else None)

    def inner_cookie(self, table: Table, q: ListQuery, page: int, chunk: list[Row]) -> str:
        pid = table.primary_id
        values = quote(json.dumps([chunk[-1].get(f) for f, _ in q.orderby]), safe="")
        return (f'<cookie page="{page}"><{pid} last="{{{chunk[-1][pid]}}}" first="{{{chunk[0][pid]}}}" />'
                f'<order last="{values}" /></cookie>')

    def _resume(self, table: Table, q: ListQuery, rows: list[Row], index: dict[str, int], inner: str) -> int:
        m = re.search(r'last="\{([^}]*)\}".*<order last="([^"]*)"', inner)
        if not m:
            raise BadRequest("The $skiptoken is not a valid paging cookie.")
        last_id = m.group(1)
        if last_id in index and [rows[index[last_id]].get(f) for f, _ in q.orderby] == json.loads(
                unquote(m.group(2))):
            return index[last_id] + 1
        # The last row changed or left since the previous page: place a stand-in where it was.
        probe: Row = {table.primary_id: last_id}
        probe.update(zip((f for f, _ in q.orderby), json.loads(unquote(m.group(2)))))
        others = [r for r in rows if r[table.primary_id] != last_id]
        ordered = sorted([*others, probe], key=lambda r: r[table.primary_id])
        if q.orderby:
            ordered = sort_records(ordered, q.orderby)
        at = next(i for i, r in enumerate(ordered) if r is probe)
        return index[ordered[at + 1][table.primary_id]] if at + 1 < len(ordered) else len(rows)
