"""The Dataverse organisation's rows: writes, keys, row versions, tombstones and transactions.

Rows are plain dicts in wire form (`_x_value` lookups, ISO 'Z' timestamps), replaced (never
mutated) on write, so a reader holding one sees a consistent row and undo is keeping the old one.
One version counter for the whole org: it is every row's `versionnumber` and its ETag (§A.2).
"""
from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from emulators.dataverse.errors import (
    ConcurrencyVersionMismatch, DuplicateRecord, InvalidArgument, ObjectDoesNotExist, UnknownProperty,
)
from emulators.dataverse.schema import GUID_RE, TABLES, Table

__all__ = ["Change", "Txn", "Store", "KeySpec", "now_iso", "check_if_match", "check_value"]

KeySpec = str | dict[str, Any]  # a primary key GUID, or alternate key column → value
_STATUS_FOR_STATE = {0: 1, 1: 2, 2: 0, 3: 3}


def now_iso() -> str:
    """UTC to the second, as Dataverse writes createdon/modifiedon (§A.2)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


@dataclass(frozen=True, slots=True)
class Change:
    """One committed create/update/delete, for webhooks."""

    message: str  # Create | Update | Delete
    table: str  # logical name
    id: str
    user_id: str
    at: str
    version: int
    attributes: dict[str, Any]


@dataclass(slots=True)
class Txn:
    """What a transaction did, to undo on failure and to publish on commit."""

    undo: list[tuple[Table, str, dict[str, Any] | None]] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)


def check_if_match(table: Table, row: dict[str, Any] | None, if_match: str | None, ident: str) -> None:
    """`If-Match: *` needs a row; `If-Match: W/"n"` needs that version (§A.2: 412 0x80060882)."""
    if not if_match:
        return
    if row is None:
        raise ObjectDoesNotExist(f"{table.logical_name} With Id = {ident} Does Not Exist")
    if if_match.strip() == "*":
        return
    wanted = {t.strip().removeprefix("W/").strip('"') for t in if_match.split(",")}
    if str(row["versionnumber"]) not in wanted:
        raise ConcurrencyVersionMismatch(
            "The version of the existing record doesn't match the RowVersion property provided.")


class Store:
    """All rows of the organisation, guarded by one re-entrant lock (the server is threaded)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.on_commit: Callable[[list[Change]], None] | None = None
        self.watched: frozenset[str] = frozenset()  # logical names a webhook listens to
        self.base_currency_id: str | None = None
        self._txn: Txn | None = None
        self.clear()

    def clear(self) -> None:
        with self.lock:
            self.rows: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in TABLES}
            self.keys: dict[str, dict[str, dict[Any, str]]] = {
                name: {k: {} for k in t.alternate_keys} for name, t in TABLES.items()}
            self.tombstones: dict[str, list[tuple[int, str]]] = {name: [] for name in TABLES}
            self.version = 1_000_000

    # -- transactions ----------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[Txn]:
        """All writes inside commit together or not at all (changesets, bulk actions §A.5, §A.6).

        Nested use is a savepoint: an inner failure undoes the inner writes and re-raises; only the
        outermost commit publishes changes to webhooks.
        """
        with self.lock:
            outer = self._txn
            txn = outer or Txn()
            undo_mark, changes_mark = len(txn.undo), len(txn.changes)
            tomb_marks = {name: len(t) for name, t in self.tombstones.items()}
            self._txn = txn
            try:
                yield txn
            except BaseException:
                for table, ident, previous in reversed(txn.undo[undo_mark:]):
                    self._put(table, ident, previous)
                del txn.undo[undo_mark:], txn.changes[changes_mark:]
                for name, length in tomb_marks.items():
                    del self.tombstones[name][length:]
                raise
            finally:
                self._txn = outer
        if outer is None and txn.changes and self.on_commit is not None:
            self.on_commit(txn.changes)

    def next_version(self) -> int:
        self.version += 1
        return self.version

    def _put(self, table: Table, ident: str, row: dict[str, Any] | None) -> dict[str, Any] | None:
        rows = self.rows[table.logical_name]
        old = rows.pop(ident, None) if row is None else rows.get(ident)
        if row is not None:
            rows[ident] = row
        for attr, index in self.keys[table.logical_name].items():
            before = _key_of(old.get(attr)) if old else None
            after = _key_of(row.get(attr)) if row else None
            if before != after:
                if before is not None and index.get(before) == ident:
                    del index[before]
                if after is not None:
                    index[after] = ident
        return old

    def _write(self, txn: Txn, table: Table, ident: str, row: dict[str, Any] | None) -> None:
        for attr, index in self.keys[table.logical_name].items():
            value = _key_of(row.get(attr)) if row else None
            if value is not None and index.get(value, ident) != ident:
                raise DuplicateRecord("A record with matching key values already exists.")
        old = self._put(table, ident, row)
        txn.undo.append((table, ident, old))

    # -- reads -------------------------------------------------------------------------------
    def get(self, table: Table, ident: str) -> dict[str, Any] | None:
        return self.rows[table.logical_name].get(ident.lower())

    def resolve(self, table: Table, key: KeySpec) -> str | None:
        """The id of the row a primary or alternate key names, or None."""
        if isinstance(key, str):
            return key.lower() if key.lower() in self.rows[table.logical_name] else None
        if len(key) != 1 or next(iter(key)) not in table.alternate_keys:
            names = ",".join(sorted(key))
            raise UnknownProperty(f"Invalid key: the alternate key '{names}' is not defined on entity "
                                  f"'{table.logical_name}'.")
        attr, value = next(iter(key.items()))
        return self.keys[table.logical_name][attr].get(_key_of(value))

    def describe(self, key: KeySpec) -> str:
        return key if isinstance(key, str) else ",".join(f"{k}:{v}" for k, v in key.items())

    # -- writes (inside a transaction) -------------------------------------------------------
    def create(self, txn: Txn, table: Table, fields: dict[str, Any], user_id: str, at: str | None = None,
               ident: str | None = None) -> dict[str, Any]:
        pid = table.primary_id
        ident = (ident or fields.get(pid) or str(uuid.uuid4())).lower()
        if ident in self.rows[table.logical_name]:
            raise DuplicateRecord("A record with matching key values already exists.")
        at = at or now_iso()
        row = dict(table.defaults)
        row.update(fields)
        if table.default_currency and row.get("_transactioncurrencyid_value") is None:
            row["_transactioncurrencyid_value"] = self.base_currency_id
        _derive(table, row, fields)
        row[pid] = ident
        row["createdon"] = row["modifiedon"] = at
        row["_createdby_value"] = row["_modifiedby_value"] = user_id
        row["versionnumber"] = self.next_version()
        self._write(txn, table, ident, row)
        if table.logical_name in self.watched:
            txn.changes.append(Change("Create", table.logical_name, ident, user_id, at, row["versionnumber"], fields))
        return row

    def update(self, txn: Txn, table: Table, ident: str, fields: dict[str, Any], user_id: str,
               at: str | None = None) -> dict[str, Any]:
        ident = ident.lower()
        old = self.rows[table.logical_name].get(ident)
        if old is None:
            raise ObjectDoesNotExist(f"{table.logical_name} With Id = {ident} Does Not Exist")
        at = at or now_iso()
        row = {**old, **fields}
        _derive(table, row, fields)
        row[table.primary_id] = ident
        row["modifiedon"] = at
        row["_modifiedby_value"] = user_id
        row["versionnumber"] = self.next_version()
        self._write(txn, table, ident, row)
        if table.logical_name in self.watched:
            txn.changes.append(Change("Update", table.logical_name, ident, user_id, at, row["versionnumber"], fields))
        return row

    def delete(self, txn: Txn, table: Table, ident: str, user_id: str) -> None:
        ident = ident.lower()
        if ident not in self.rows[table.logical_name]:
            raise ObjectDoesNotExist(f"{table.logical_name} With Id = {ident} Does Not Exist")
        self._write(txn, table, ident, None)
        version = self.next_version()
        self.tombstones[table.logical_name].append((version, ident))
        if table.logical_name in self.watched:
            txn.changes.append(Change("Delete", table.logical_name, ident, user_id, now_iso(), version, {}))

    def upsert(self, txn: Txn, table: Table, key: KeySpec, fields: dict[str, Any], user_id: str, *,
               if_match: str | None = None, if_none_match: str | None = None,
               at: str | None = None) -> tuple[dict[str, Any], bool]:
        """PATCH semantics (§A.2): update if the key names a row, else create; (row, created)."""
        ident = self.resolve(table, key)
        row = self.rows[table.logical_name].get(ident) if ident else None
        check_if_match(table, row, if_match, self.describe(key))
        if if_none_match and if_none_match.strip() == "*" and row is not None:
            raise DuplicateRecord("A record with matching key values already exists.")
        if row is not None and ident is not None:
            return self.update(txn, table, ident, fields, user_id, at), False
        if isinstance(key, dict):
            fields = {**fields, **key}
            return self.create(txn, table, fields, user_id, at), True
        return self.create(txn, table, fields, user_id, at, ident=key), True

    # -- change tracking (§A.4) ----------------------------------------------------------------
    def changes_between(self, table: Table, since: int, upto: int) -> tuple[list[dict[str, Any]], list[tuple[int, str]]]:
        """Rows changed in (since, upto] by version, then (version, id) of rows deleted in that range."""
        rows = [r for r in self.rows[table.logical_name].values() if since < r["versionnumber"] <= upto]
        rows.sort(key=lambda r: r["versionnumber"])
        deleted = [(v, i) for v, i in self.tombstones[table.logical_name] if since < v <= upto]
        return rows, deleted


def _key_of(value: Any) -> Any:
    # Alternate keys compare like SQL's default collation: case-insensitive.
    return value.casefold() if isinstance(value, str) else value


def _derive(table: Table, row: dict[str, Any], fields: dict[str, Any]) -> None:
    if "fullname" in table.computed:
        row["fullname"] = " ".join(p for p in (row.get("firstname"), row.get("lastname")) if p) or None
    if "statecode" in fields and "statuscode" not in fields and "statecode" in table.columns:
        row["statuscode"] = _STATUS_FOR_STATE.get(row["statecode"], row["statecode"])


_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "int": (int,), "money": (int, float), "bool": (bool,), "option": (int,), "guid": (str,),
}
_EDM = {"string": "Edm.String", "int": "Edm.Int32", "money": "Edm.Decimal", "bool": "Edm.Boolean",
        "option": "Edm.Int32", "guid": "Edm.Guid"}


def check_value(table: Table, column: str, kind: str, value: Any) -> None:
    """Refuse a value its column cannot hold, as Dataverse's OData reader does."""
    if value is None:
        return
    ok = isinstance(value, _TYPES[kind]) and not (kind != "bool" and isinstance(value, bool))
    if ok and kind == "guid":
        ok = GUID_RE.fullmatch(value) is not None
    if not ok:
        raise InvalidArgument(f"Cannot convert the literal '{value}' to the expected type '{_EDM[kind]}'.")
    if kind == "option" and column in table.options and value not in table.options[column]:
        accepted = ",".join(str(v) for v in table.options[column])
        raise InvalidArgument(f"A validation error occurred. The value {value} of '{column}' on record of type "
                              f"'{table.logical_name}' is outside the valid range. Accepted Values: {accepted}")
