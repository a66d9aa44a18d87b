"""Change tracking (api-facts §A.4): the initial read with `Prefer: odata.track-changes`, delta links,
`$deletedEntity` tombstones, and paging of either when larger than a page.

A delta token is `<version>!<MM/dd/yyyy HH:mm:ss>`; the version is the org's row version when the
read started, so changes made while a client pages through land in its next delta, never lost.
A token older than `EXPIRE_DAYS` (`ExpireChangeTrackingInDays`, api-facts §F.4) by the emulator's
clock, which tests move with `POST /_admin/clock`, fails: the client must start again with a full read.
"""
from __future__ import annotations

import calendar
import re
import time
from dataclasses import dataclass
from typing import Any

from emulators.dataverse.errors import BadRequest, ExpiredVersionStamp
from emulators.dataverse.query import cookie_of, parse_cookie, shape
from emulators.dataverse.schema import Table
from emulators.dataverse.state import Store

__all__ = ["EXPIRE_DAYS", "DeltaPage", "parse_delta_token", "delta_token", "read_changes", "count_changes"]

_ROWS, _DELETES = 0, 1
EXPIRE_DAYS = 7
_STAMP = "%m/%d/%Y %H:%M:%S"


@dataclass(frozen=True, slots=True)
class DeltaPage:
    items: list[dict[str, Any]]
    next_cookie: str | None  # a `$skiptoken` when more changes follow
    token: str | None  # the new `$deltatoken` on the last page


def parse_delta_token(text: str, now: float) -> int:
    """The token's row version; raises ExpiredVersionStamp when it was issued too long before `now`."""
    m = re.fullmatch(r"(\d+)!(.*)", text.strip())
    if not m:
        raise BadRequest(f"The delta token '{text}' is not valid.")
    try:
        issued = calendar.timegm(time.strptime(m.group(2).strip(), _STAMP))
    except ValueError as err:
        raise BadRequest(f"The delta token '{text}' is not valid.") from err
    if now - issued > EXPIRE_DAYS * 86_400:
        raise ExpiredVersionStamp("Version stamp associated with the client has expired. Please perform a full sync.")
    return int(m.group(1))


def delta_token(version: int, now: float) -> str:
    return f"{version}!{time.strftime(_STAMP, time.gmtime(now))}"


def _sequence(store: Store, table: Table, since: int | None, upto: int) -> list[tuple[int, int, Any]]:
    with store.lock:
        rows, deleted = store.changes_between(table, since or 0, upto)
    seq: list[tuple[int, int, Any]] = [(_ROWS, r["versionnumber"], r) for r in rows]
    if since is not None:  # the first read of a tracking session returns rows only
        seq.extend((_DELETES, v, i) for v, i in deleted)
    return seq


def count_changes(store: Store, table: Table, since: int) -> int:
    return len(_sequence(store, table, since, store.version))


def read_changes(store: Store, table: Table, base: str, select: tuple[str, ...] | None, since: int | None,
                 skiptoken: str | None, size: int, now: float) -> DeltaPage:
    """One page of changes since the token's version (all rows when `since` is None), rows then deletes."""
    after = (-1, -1)
    if skiptoken:
        page, inner = parse_cookie(skiptoken)
        m = re.search(r'last="(\d+)" upto="(\d+)" phase="(\d)"', inner)
        if not m:
            raise BadRequest("The $skiptoken is not a valid paging cookie.")
        upto, after = int(m.group(2)), (int(m.group(3)), int(m.group(1)))
    else:
        page, upto = 1, store.version
    seq = [s for s in _sequence(store, table, since, upto) if (s[0], s[1]) > after]
    chunk, rest = seq[:size], seq[size:]
    context = f"{base}/$metadata#{table.entity_set}/$deletedEntity"
    items = [shape(table, p, select) if phase == _ROWS else {"@odata.context": context, "id": p, "reason": "deleted"}
             for phase, _, p in chunk]
    if rest:
        phase, version, _ = chunk[-1]
        inner = f'<cookie page="{page}"><versionnumber last="{version}" upto="{upto}" phase="{phase}" /></cookie>'
        return DeltaPage(items, cookie_of(page + 1, inner, True), None)
    return DeltaPage(items, None, delta_token(upto, now))
