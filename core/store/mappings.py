"""MappingStore: the Mappings table, current mappings plus every version they have had (X15).

One partition ("mapping"): `m|<name>` is the current mapping, `v|<name>|<000001>` one row per version ever saved.
A put writes both rows in one transaction, so a version is never lost and never half-written.
"""
from __future__ import annotations

import builtins
import json
from collections.abc import Iterable
from dataclasses import replace
from typing import Any, Literal

from core.errors import Conflict, NotFound, StaleWrite
from core.model import Mapping
from core.store._tables import (
    STORAGE_ERRORS,
    TableClient,
    TableTransactionError,
    UpdateMode,
    failed_op,
    if_match,
    key,
    range_filter,
    translate,
    translated,
)
from core.store.mapping_codec import mapping_from_json, mapping_to_json

__all__ = ["MappingStore"]

_PK = "mapping"
# A string property holds at most 64 KiB (32 K UTF-16 chars); a big mapping's JSON is spread over columns.
_PART = 30_000


def _current_key(name: str) -> str:
    return "m|" + key(name)


def _version_key(name: str, version: int) -> str:
    return f"v|{key(name)}|{version:06d}"


def _to_entity(m: Mapping, row_key: str) -> dict[str, Any]:
    text = _dumps(mapping_to_json(m))
    parts = {f"Json{n}": text[i:i + _PART] for n, i in enumerate(range(0, len(text), _PART))}
    return {"PartitionKey": _PK, "RowKey": row_key, "Name": m.name, "Version": m.version, "Parts": len(parts),
            **parts}


def _from_entity(e: Any, *, current: bool) -> Mapping:
    text = "".join(e[f"Json{n}"] for n in range(int(e["Parts"])))
    # Stored JSON was validated when written; re-validating on read keeps one decoder for store and wire.
    m = mapping_from_json(json.loads(text))
    return replace(m, etag=e.metadata["etag"] if current else None)


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


class MappingStore:
    """Mappings as data (F7): get, list, put (versioned), delete, and the first-start defaults."""

    def __init__(self, table: TableClient):
        self._table = table

    def get(self, name: str) -> Mapping:
        """Raises: NotFound: no mapping of that name."""
        with translated("read mapping"):
            rows = list(self._table.query_entities("PartitionKey eq @pk and RowKey eq @rk",
                                                   parameters={"pk": _PK, "rk": _current_key(name)}))
        if not rows:
            raise NotFound(f"There is no mapping named {name}.", field="name")
        return _from_entity(rows[0], current=True)

    def _find(self, name: str) -> Mapping | None:
        try:
            return self.get(name)
        except NotFound:
            return None

    def list(self) -> list[Mapping]:
        """Every current mapping, by name."""
        with translated("list mappings"):
            rows = list(self._table.query_entities(range_filter(), parameters={"pk": _PK, "lo": "m|", "hi": "m}"}))
        return sorted((_from_entity(e, current=True) for e in rows), key=lambda m: m.name)

    def versions(self, name: str) -> builtins.list[Mapping]:
        """Every version the mapping has had, oldest first; the last is the current one (unless it was deleted)."""
        prefix = f"v|{key(name)}|"
        with translated("list mapping versions"):
            rows = list(self._table.query_entities(range_filter(), parameters={
                "pk": _PK, "lo": prefix, "hi": prefix[:-1] + "}"}))
        return [_from_entity(e, current=False) for e in rows if e["Name"] == name]

    def put(self, mapping: Mapping, *, expected_etag: str | Literal["new"] | None = None) -> Mapping:
        """Create or replace a mapping, keeping every version; answers it with its new version and etag.

        Args:
            mapping: the new content; its `version` is ignored (the store numbers versions).
            expected_etag: "new" to create only; an etag to replace only that state; None to create or replace.

        Raises:
            Conflict: "new" was asked and the mapping exists.
            NotFound: an etag was given and the mapping does not exist.
            StaleWrite: the mapping changed since `expected_etag` was read (or during an unconditional put).
        """
        current = None if expected_etag == "new" else self._find(mapping.name)
        if expected_etag not in (None, "new"):
            if current is None:
                raise NotFound(f"There is no mapping named {mapping.name}.", field="name")
            if current.etag != expected_etag:
                raise StaleWrite(f"The mapping {mapping.name} changed since it was read.")
        if current is None:
            # Versions outlive a deleted mapping, so a re-created one continues after the highest kept.
            history = self.versions(mapping.name)
            new = replace(mapping, version=(history[-1].version + 1) if history else 1)
            ops: builtins.list[Any] = [("create", _to_entity(new, _current_key(new.name)))]
        else:
            new = replace(mapping, version=current.version + 1)
            ops = [("update", _to_entity(new, _current_key(new.name)),
                    {"mode": UpdateMode.REPLACE, **if_match(current.etag)})]
        ops.append(("create", _to_entity(new, _version_key(new.name, new.version))))
        try:
            replies = self._table.submit_transaction(ops)
        except TableTransactionError as err:
            index, code = failed_op(err)
            if index == 0 and code == "EntityAlreadyExists" and expected_etag == "new":
                raise Conflict(f"The mapping {mapping.name} already exists.", reason="exists", field="name") from err
            # Someone else created, changed, deleted or versioned it between our read and this write.
            if code in ("UpdateConditionNotSatisfied", "ResourceNotFound", "EntityAlreadyExists"):
                raise StaleWrite(f"The mapping {mapping.name} changed while it was saved.") from err
            raise translate("save mapping", err) from err
        except STORAGE_ERRORS as err:
            raise translate("save mapping", err) from err
        return replace(new, etag=replies[0]["etag"])

    def delete(self, name: str) -> None:
        """Remove the current mapping; its versions stay (X15: nothing is lost silently).

        Raises:
            NotFound: no mapping of that name.
        """
        current = self.get(name)
        with translated("delete mapping"):
            # Conditional, so a change saved meanwhile is not deleted unseen (412 → StaleWrite).
            self._table.delete_entity(_PK, _current_key(name), **if_match(current.etag))

    def ensure_defaults(self, mappings: Iterable[Mapping]) -> builtins.list[str]:
        """Insert the defaults that don't exist yet (first start); never overwrites. Answers the names inserted."""
        existing = {m.name for m in self.list()}
        inserted = []
        for m in mappings:
            if m.name in existing:
                continue
            try:
                self.put(m, expected_etag="new")
            except Conflict:
                continue  # another instance inserted it first: theirs stands
            inserted.append(m.name)
        return inserted
