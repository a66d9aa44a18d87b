"""$orderby and $select parsing, and the stable sort the emulators page through."""
from __future__ import annotations

import re
from typing import Any

from emulators.odata_query._syntax import PATH_RE, Record, expected_error, instant_of, make_getter, syntax_error

__all__ = ["parse_orderby", "parse_select", "sort_records"]

_ITEM_RE = re.compile(r"\s*([^,]*?)\s*(?:,|$)")
_WORD_RE = re.compile(r"\S+")
_DATETIME_SHAPE = re.compile(r"\d{4}-\d{2}-\d{2}T")


def _items(text: str) -> list[tuple[str, int]]:
    """Comma-separated items with their positions; an empty item is an error, an empty text is none."""
    if not text.strip():
        return []
    items: list[tuple[str, int]] = []
    pos = 0
    while pos <= len(text):
        match = _ITEM_RE.match(text, pos)
        assert match is not None  # the pattern matches the empty string
        if not match.group(1):
            raise expected_error("Expression", text, match.start(1))
        items.append((match.group(1), match.start(1)))
        if match.end() == len(text) and not match.group().endswith(","):
            break
        pos = match.end()
    return items


def parse_orderby(text: str) -> list[tuple[str, bool]]:
    """`"name desc,number"` → `[("name", True), ("number", False)]`.

    Raises:
        QueryError: an empty item, a bad property path, or a direction other than `asc`/`desc`.
    """
    result: list[tuple[str, bool]] = []
    for item, pos in _items(text):
        words = [(m.group(), pos + m.start()) for m in _WORD_RE.finditer(item)]
        if not PATH_RE.fullmatch(words[0][0]):
            raise syntax_error(text, pos)
        if len(words) == 2 and words[1][0] not in ("asc", "desc"):
            raise syntax_error(text, words[1][1])
        if len(words) > 2:
            raise syntax_error(text, words[2][1])
        result.append((words[0][0], len(words) == 2 and words[1][0] == "desc"))
    return result


def parse_select(text: str) -> list[str]:
    """`"name,accountid"` → `["name", "accountid"]` (duplicates dropped, order kept; `*` passes through).

    Raises:
        QueryError: an empty item or something that is not a property path.
    """
    result: list[str] = []
    for item, pos in _items(text):
        if item != "*" and not PATH_RE.fullmatch(item):
            raise syntax_error(text, pos)
        if item not in result:
            result.append(item)
    return result


def _sort_key(value: Any) -> tuple[Any, ...]:
    # Rank types so mixed columns never raise TypeError; null first, as SQL Server sorts ascending.
    if value is None:
        return (0,)
    if isinstance(value, bool):
        return (1, value)
    if isinstance(value, (int, float)):
        return (2, value)
    if isinstance(value, str):
        if _DATETIME_SHAPE.match(value):
            instant = instant_of(value)  # "…51Z" and "…51.603Z" order by time, not by text
            if instant is not None:
                return (3, instant)
        return (4, value)
    return (5, repr(value))


def sort_records(records: list[Record], orderby: list[tuple[str, bool]]) -> list[Record]:
    """A new list sorted by each (field, descending) in turn; stable, so ties keep their input order."""
    result = list(records)
    for field, descending in reversed(orderby):
        get = make_getter(tuple(field.split("/")))
        result.sort(key=lambda record: _sort_key(get(record)), reverse=descending)
    return result
