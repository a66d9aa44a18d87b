"""Tokens, literals, error texts and value helpers of the OData URL-conventions subset the emulators accept.

Error texts copy the OData library (Microsoft.OData.Core) both services run on, so the emulators' 400
answers read like the real ones (api-facts §A.3, §B.4).
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from enum import Enum
from functools import lru_cache
from typing import Any

__all__ = [
    "QueryError", "TokenKind", "Token", "Literal", "tokenize", "syntax_error", "expected_error",
    "instant_of", "make_getter", "PATH_RE", "Record", "Node",
]

Record = dict[str, Any]

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND = timedelta(microseconds=1)


class QueryError(ValueError):
    """A $filter/$orderby/$select the service refuses; str(err) is the text of its 400 answer."""


def syntax_error(text: str, pos: int) -> QueryError:
    return QueryError(f"Syntax error at position {pos} in '{text}'.")


def expected_error(what: str, text: str, pos: int) -> QueryError:
    """ODL's "<what> expected at position N in '<text>'." family (Expression, ')' or ',', ...)."""
    return QueryError(f"{what} expected at position {pos} in '{text}'.")


class TokenKind(Enum):
    STRING = "string"
    DATETIME = "datetime"
    GUID = "guid"
    DATE = "date"
    NUMBER = "number"
    IDENT = "ident"
    PUNCT = "punct"
    END = "end"


@dataclass(frozen=True, slots=True)
class Literal:
    """A constant from the filter text. `edm` is its OData type name, `value` what a record would hold.

    Datetimes keep their text in `value` and the exact instant, in integer microseconds since the
    epoch, in `instant`: comparisons use the integer, never float seconds.
    """

    edm: str
    value: Any
    instant: int | None = None


@dataclass(frozen=True, slots=True)
class Token:
    kind: TokenKind
    text: str
    pos: int
    literal: Literal | None = None


@dataclass(frozen=True, slots=True)
class Node:
    """A compiled sub-expression: `fn(record)` gives its value; `fields` are the properties it reads.

    `is_bool` marks a boolean-typed expression (comparison, and/or/not, contains, …), so `not name`
    and `contains(a,'x') eq 'y'` can be refused the way the services refuse them.
    """

    fn: Callable[[Record], Any]
    is_bool: bool
    fields: frozenset[str]
    literal: Literal | None = None

    def as_predicate(self) -> Callable[[Record], bool]:
        """A boolean view: a plain property (`blocked`) holds only when it is true; null is false."""
        if self.is_bool:
            return self.fn
        get = self.fn
        return lambda r: get(r) is True


# Order matters: a datetime or GUID starts like a number, and a GUID may start like a name.
_TOKEN_RE = re.compile(
    r"""
     (?P<ws>\s+)
    |(?P<string>'(?:[^']|'')*')
    |(?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2}))
    |(?P<guid>[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}(?![\w-]))
    |(?P<date>\d{4}-\d{2}-\d{2}(?![\w:-]))
    |(?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?(?![\w.]))
    |(?P<ident>[^\W\d]\w*(?:\.[^\W\d]\w*)*)
    |(?P<punct>[()\[\],/:=])
    """,
    re.VERBOSE,
)
_INT32 = range(-(2**31), 2**31)
_KEYWORD_LITERALS = {
    "true": Literal("Edm.Boolean", True),
    "false": Literal("Edm.Boolean", False),
    "null": Literal("null", None),
}
PATH_RE = re.compile(r"[^\W\d]\w*(?:/[^\W\d]\w*)*")


def tokenize(text: str) -> list[Token]:
    """Split a filter into tokens; the last one is END at len(text).

    Raises:
        QueryError: an unterminated string, a bad datetime/date, or a character no token starts with.
    """
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN_RE.match(text, pos)
        if match is None:
            if text[pos] == "'":
                raise QueryError(f"There is an unterminated string literal at position {pos} in '{text}'.")
            raise QueryError(f"Syntax error: character '{text[pos]}' is not valid at position {pos} in '{text}'.")
        kind_name = match.lastgroup
        raw = match.group()
        if kind_name != "ws":
            kind = TokenKind(kind_name)
            tokens.append(Token(kind, raw, pos, _literal_of(kind, raw, text, pos)))
        pos = match.end()
    tokens.append(Token(TokenKind.END, "", len(text)))
    return tokens


def _literal_of(kind: TokenKind, raw: str, text: str, pos: int) -> Literal | None:
    if kind is TokenKind.STRING:
        return Literal("Edm.String", raw[1:-1].replace("''", "'"))
    if kind is TokenKind.GUID:
        return Literal("Edm.Guid", raw.lower())
    if kind is TokenKind.NUMBER:
        if any(ch in raw for ch in ".eE"):
            return Literal("Edm.Decimal", float(raw))
        number = int(raw)
        return Literal("Edm.Int32" if number in _INT32 else "Edm.Int64", number)
    if kind is TokenKind.DATETIME:
        instant = instant_of(raw)
        if instant is None:
            raise QueryError(f"Unrecognized 'Edm.DateTimeOffset' literal '{raw}' at '{pos}' in '{text}'.")
        return Literal("Edm.DateTimeOffset", raw, instant)
    if kind is TokenKind.DATE:
        if instant_of(raw) is None:
            raise QueryError(f"Unrecognized 'Edm.Date' literal '{raw}' at '{pos}' in '{text}'.")
        return Literal("Edm.Date", raw)
    if kind is TokenKind.IDENT:
        return _KEYWORD_LITERALS.get(raw)
    return None


@lru_cache(maxsize=1 << 18)
def instant_of(text: str) -> int | None:
    """Microseconds since the epoch of an ISO-8601 datetime/date string, or None if it is not one.

    Cached: the emulators compare the same `lastModifiedDateTime`/`modifiedon` values on every page
    request, and parsing is the cost of a datetime filter over 100,000 records.
    """
    if len(text) < 10 or not text[0].isdigit():
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:  # records and literals are UTC (…Z); a bare date means UTC midnight
        moment = moment.replace(tzinfo=timezone.utc)
    return (moment - _EPOCH) // _MICROSECOND


def make_getter(path: tuple[str, ...], *, in_lambda: bool = False) -> Callable[[Record], Any]:
    """Read a property, or a `nav/property` path through nested dicts; missing → None.

    Inside a lambda the item may be a primitive (`tags/any(t: t eq 'x')`), so nothing is assumed.
    """
    if len(path) == 1 and not in_lambda:
        name = path[0]
        return lambda record: record.get(name)

    def get(record: Record) -> Any:
        value: Any = record
        for segment in path:
            if not isinstance(value, dict):
                return None
            value = value.get(segment)
        return value

    return get
