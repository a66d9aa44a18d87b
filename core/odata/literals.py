"""OData literals and filter building, so no caller string-builds a query with raw values.

Values become literals here (quoted strings, validated GUIDs, each API's datetime form) and
field names are checked as identifiers, so a value can never change the shape of a filter.
"""
from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any
from urllib.parse import quote as _pct

__all__ = [
    "quote", "guid", "bc_datetime", "dv_datetime", "parse_datetime", "literal", "field_name",
    "compare", "and_", "or_same_field", "dv_in", "query_string", "url_with_query",
]

_GUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
# A property path: `name`, `_x_value`, `nav/name`. Nothing else may stand where a field goes.
_FIELD_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(/[A-Za-z_][A-Za-z0-9_]*)*$")
_OPERATORS = frozenset({"eq", "ne", "gt", "ge", "lt", "le"})
# Characters left readable in query strings. Everything else is percent-encoded, including
# space (%20, never `+`: OData parsers differ on `+`), `&`, `#`, `%` and `+`.
_QUERY_SAFE = "$'(),:@!*/"


def quote(value: str) -> str:
    """A string literal: `'O''Brien'` (a quote inside doubles, api-facts §A.1)."""
    return "'" + str(value).replace("'", "''") + "'"


def guid(value: str | uuid.UUID) -> str:
    """A validated GUID, lower case and unquoted as both APIs expect in keys and filters.

    Raises:
        ValueError: `value` is not a GUID (it would otherwise be injected into a URL).
    """
    text = str(value)
    if not _GUID_RE.match(text):
        raise ValueError(f"not a GUID: {text[:40]!r}")
    return text.lower()


def _utc(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        raise ValueError("datetimes sent to an API must be timezone-aware")
    return value.astimezone(dt.timezone.utc)


def bc_datetime(value: dt.datetime) -> str:
    """BC's form, to the millisecond: `2019-08-18T20:05:51.603Z` (api-facts §B.2, §B.4)."""
    utc = _utc(value)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def dv_datetime(value: dt.datetime) -> str:
    """Dataverse's form: seconds (`…:53Z`), fractional digits only when present (api-facts §A.3)."""
    utc = _utc(value)
    if utc.microsecond:
        return utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return utc.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_datetime(text: str) -> dt.datetime:
    """An API timestamp (`…Z` or with an offset, any fraction) as an aware UTC datetime."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    head, sep, rest = value.partition(".")
    if sep:  # Python wants at most 6 fractional digits
        digits = re.match(r"\d*", rest)
        frac = digits.group(0) if digits else ""
        value = f"{head}.{(frac + '000000')[:6]}{rest[len(frac):]}"
    parsed = dt.datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    return parsed.astimezone(dt.timezone.utc)


def literal(value: Any, *, datetime_form: str = "bc") -> str:
    """Any scalar as an OData literal. `datetime_form` is "bc" (ms) or "dv" (seconds)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, Decimal)):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, uuid.UUID):
        return guid(value)
    if isinstance(value, dt.datetime):
        return bc_datetime(value) if datetime_form == "bc" else dv_datetime(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str):
        return quote(value)
    raise TypeError(f"no OData literal for {type(value).__name__}")


def field_name(name: str) -> str:
    """`name` if it is a property path; raises ValueError for anything that could inject."""
    if not _FIELD_RE.match(name):
        raise ValueError(f"not a field name: {name[:40]!r}")
    return name


def compare(name: str, op: str, value_literal: str) -> str:
    """`name op literal`; the literal must come from `literal`/`guid`/`quote`/`*_datetime`."""
    if op not in _OPERATORS:
        raise ValueError(f"unknown operator {op!r}")
    return f"{field_name(name)} {op} {value_literal}"


def and_(*clauses: str | None) -> str | None:
    """Join the non-empty clauses with `and`, each parenthesised when there are several."""
    parts = [c for c in clauses if c]
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    return " and ".join(f"({p})" for p in parts)


def or_same_field(name: str, literals: Iterable[str]) -> str:
    """`f eq a or f eq b …`: BC allows `or` only on one field (api-facts §B.4)."""
    items = [compare(name, "eq", lit) for lit in literals]
    if not items:
        raise ValueError("or_same_field needs at least one value")
    return " or ".join(items)


def dv_in(name: str, values: Sequence[str]) -> str:
    """`Microsoft.Dynamics.CRM.In(PropertyName='accountid',PropertyValues=['a','b'])` (api-facts §A.3)."""
    if not values:
        raise ValueError("dv_in needs at least one value")
    listed = ",".join(quote(v) for v in values)
    return f"Microsoft.Dynamics.CRM.In(PropertyName={quote(field_name(name))},PropertyValues=[{listed}])"


def query_string(params: Mapping[str, str | None]) -> str:
    """`$select=a,b&$filter=x%20eq%201`: percent-encoded with %20 for spaces, None values dropped."""
    return "&".join(f"{_pct(k, safe='$')}={_pct(v, safe=_QUERY_SAFE)}" for k, v in params.items() if v is not None)


def url_with_query(url: str, params: Mapping[str, str | None] | None) -> str:
    """`url?query` (or `url` alone when nothing is left after dropping None values)."""
    query = query_string(params or {})
    if not query:
        return url
    return f"{url}{'&' if '?' in url else '?'}{query}"
