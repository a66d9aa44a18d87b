"""The functions a $filter may call: OData string functions (both services, BC also tolower/toupper/substring)
and Dataverse's `Microsoft.Dynamics.CRM.*` query functions (api-facts §A.3, §B.4).
"""
from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from emulators.odata_query._syntax import Node, QueryError, Record, instant_of, make_getter

__all__ = ["STRING_FUNCTIONS", "CRM_PREFIX", "unknown_function", "call_string_function", "call_crm_function"]

# Which plain (non-namespaced) functions each service accepts; anything else is an unknown function.
STRING_FUNCTIONS = {
    "bc": frozenset({"contains", "startswith", "endswith", "tolower", "toupper", "substring"}),
    "dataverse": frozenset({"contains", "startswith", "endswith"}),
}
CRM_PREFIX = "Microsoft.Dynamics.CRM."
_TESTS: dict[str, Callable[[str, str], bool]] = {
    "contains": operator.contains, "startswith": str.startswith, "endswith": str.endswith,
}


def unknown_function(name: str) -> QueryError:
    return QueryError(
        f"An unknown function with name '{name}' was found. This may also be a function import "
        "or a key lookup on a navigation property, which is not allowed."
    )


def _no_signature(name: str) -> QueryError:
    return QueryError(f"No function signature for the function with name '{name}' matches the specified arguments.")


def call_string_function(name: str, args: Sequence[Node], *, fold_case: bool) -> Node:
    """Compile `name(args…)`; `name` is already known to be allowed for the dialect."""
    if any(arg.is_bool for arg in args):
        raise _no_signature(name)
    fields = frozenset().union(*(arg.fields for arg in args))
    if name in _TESTS:
        if len(args) != 2:
            raise _no_signature(name)
        return Node(_string_test(name, args[0], args[1], fold_case), True, fields)
    if name in ("tolower", "toupper"):
        if len(args) != 1:
            raise _no_signature(name)
        subject = args[0].fn
        convert = str.lower if name == "tolower" else str.upper
        return Node(lambda r: convert(v) if isinstance(v := subject(r), str) else None, False, fields)
    if name == "substring" and len(args) in (2, 3):
        return Node(_substring(args), False, fields)
    raise _no_signature(name)


def _string_test(name: str, subject: Node, needle: Node, fold_case: bool) -> Callable[[Record], bool]:
    test, get = _TESTS[name], subject.fn
    if needle.literal is not None:
        if needle.literal.edm != "Edm.String":
            raise _no_signature(name)
        text: str = needle.literal.value.lower() if fold_case else needle.literal.value
        if fold_case:
            return lambda r: isinstance(v := get(r), str) and test(v.lower(), text)
        return lambda r: isinstance(v := get(r), str) and test(v, text)
    get_needle = needle.fn

    def dynamic(r: Record) -> bool:
        v, n = get(r), get_needle(r)
        if not (isinstance(v, str) and isinstance(n, str)):
            return False
        return test(v.lower(), n.lower()) if fold_case else test(v, n)

    return dynamic


def _substring(args: Sequence[Node]) -> Callable[[Record], Any]:
    get, get_start = args[0].fn, args[1].fn
    get_length = args[2].fn if len(args) == 3 else None

    def substring(r: Record) -> str | None:
        v, start = get(r), get_start(r)
        if not isinstance(v, str) or not isinstance(start, int):
            return None
        start = max(start, 0)
        if get_length is None:
            return v[start:]
        length = get_length(r)
        return v[start:start + length] if isinstance(length, int) else None

    return substring


def call_crm_function(name: str, params: dict[str, Any], *, now: datetime) -> Node:
    """Compile `Microsoft.Dynamics.CRM.<Fn>(PropertyName='f',PropertyValues=[…])` and friends.

    Values come as strings (`['1','2']`) and are read in the record value's type: numbers, booleans,
    datetimes, or case-insensitive text. A null property matches only `Null`.
    """
    short = name.removeprefix(CRM_PREFIX)
    wanted = _CRM_PARAMS.get(short)
    if wanted is None:
        raise unknown_function(name)
    prop = params.get("PropertyName")
    if set(params) != wanted or not isinstance(prop, str):
        raise _no_signature(name)
    get = make_getter((prop,))
    fields = frozenset({prop})
    if short in ("Null", "NotNull"):
        if short == "Null":
            return Node(lambda r: get(r) is None, True, fields)
        return Node(lambda r: get(r) is not None, True, fields)
    if short == "LastXDays":
        return Node(_last_x_days(get, params["PropertyValue"], now, name), True, fields)
    values = params["PropertyValues"]
    if not isinstance(values, list) or not values or (short.endswith("Between") and len(values) != 2):
        raise _no_signature(name)
    test = _in_values(values) if short.endswith("In") else _between(values[0], values[1])
    if short.startswith("Not"):
        return Node(lambda r: (v := get(r)) is not None and not test(v), True, fields)
    return Node(lambda r: (v := get(r)) is not None and test(v), True, fields)


_CRM_PARAMS = {
    "In": {"PropertyName", "PropertyValues"},
    "NotIn": {"PropertyName", "PropertyValues"},
    "Between": {"PropertyName", "PropertyValues"},
    "NotBetween": {"PropertyName", "PropertyValues"},
    "Null": {"PropertyName"},
    "NotNull": {"PropertyName"},
    "LastXDays": {"PropertyName", "PropertyValue"},
}


def _as_number(raw: Any) -> float | None:
    if isinstance(raw, bool):
        return None
    try:
        return float(raw)
    except (TypeError, ValueError):
        return None


def _as_flag(raw: Any) -> bool | None:
    if isinstance(raw, bool):
        return raw
    return {"true": True, "1": True, "false": False, "0": False}.get(str(raw).lower())


def _in_values(values: list[Any]) -> Callable[[Any], bool]:
    texts = frozenset(str(raw).lower() for raw in values)
    numbers = frozenset(n for n in map(_as_number, values) if n is not None)
    flags = frozenset(f for f in map(_as_flag, values) if f is not None)
    instants = frozenset(i for raw in values if isinstance(raw, str) and (i := instant_of(raw)) is not None)

    def test(v: Any) -> bool:
        if isinstance(v, bool):
            return v in flags
        if isinstance(v, (int, float)):
            return v in numbers
        if isinstance(v, str):
            return v.lower() in texts or (bool(instants) and instant_of(v) in instants)
        return False

    return test


def _between(low: Any, high: Any) -> Callable[[Any], bool]:
    low_n, high_n = _as_number(low), _as_number(high)
    low_t, high_t = str(low).lower(), str(high).lower()
    low_i = instant_of(low) if isinstance(low, str) else None
    high_i = instant_of(high) if isinstance(high, str) else None

    def test(v: Any) -> bool:
        if isinstance(v, bool):
            return False
        if isinstance(v, (int, float)):
            return low_n is not None and high_n is not None and low_n <= v <= high_n
        if isinstance(v, str):
            instant = instant_of(v) if low_i is not None and high_i is not None else None
            if instant is not None and low_i is not None and high_i is not None:
                return low_i <= instant <= high_i
            return low_t <= v.lower() <= high_t
        return False

    return test


def _last_x_days(get: Callable[[Record], Any], days: Any, now: datetime, name: str) -> Callable[[Record], bool]:
    count = int(days) if isinstance(days, (int, str)) and str(days).isdigit() else None
    if count is None:
        raise _no_signature(name)
    # Dataverse counts whole days back from the start of today (UTC here), up to now.
    start_day = (now - timedelta(days=count)).replace(hour=0, minute=0, second=0, microsecond=0)
    start, end = instant_of(start_day.isoformat()), instant_of(now.isoformat())
    assert start is not None and end is not None

    def recent(r: Record) -> bool:
        v = get(r)
        instant = instant_of(v) if isinstance(v, str) else None
        return instant is not None and start <= instant <= end

    return recent
