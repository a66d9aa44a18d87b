"""Comparison closures (`eq ne gt ge lt le`) over plain-dict records, specialised once per literal type.

OData null rules: `null eq null` holds, `x ne null` holds for any non-null x, and an ordering against
null is false. A value of another type than the literal never equals it (only `ne` holds).
"""
from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from emulators.odata_query._syntax import Literal, QueryError, Record, instant_of

__all__ = ["OPERATORS", "SWAPPED", "compare_to_literal", "compare_values", "incompatible", "Predicate", "Getter"]

Predicate = Callable[[Record], bool]
Getter = Callable[[Record], Any]

OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq, "ne": operator.ne, "gt": operator.gt,
    "ge": operator.ge, "lt": operator.lt, "le": operator.le,
}
# `5 lt f` is `f gt 5`: the literal always ends up on the right.
SWAPPED = {"eq": "eq", "ne": "ne", "gt": "lt", "ge": "le", "lt": "gt", "le": "ge"}
_KIND = {
    "eq": "Equal", "ne": "NotEqual", "gt": "GreaterThan",
    "ge": "GreaterThanOrEqual", "lt": "LessThan", "le": "LessThanOrEqual", "and": "And", "or": "Or",
}
_NUMERIC = {"Edm.Int32", "Edm.Int64", "Edm.Decimal"}


def incompatible(left: str, right: str, op: str) -> QueryError:
    return QueryError(
        "A binary operator with incompatible types was detected. "
        f"Found operand types '{left}' and '{right}' for operator kind '{_KIND[op]}'."
    )


def compare_to_literal(op: str, get: Getter, lit: Literal, *, fold_case: bool) -> Predicate:
    """A predicate for `<get> <op> <lit>`, with the literal's conversions done here, once."""
    cmp = OPERATORS[op]
    other = op == "ne"  # the answer for null or a value of another type
    if lit.edm == "null":
        if op == "eq":
            return lambda r: get(r) is None
        if op == "ne":
            return lambda r: get(r) is not None
        return lambda r: False
    if lit.edm in ("Edm.String", "Edm.Guid"):
        # api-facts §A.3: Dataverse compares strings case-insensitively; GUIDs are case-insensitive anywhere.
        if fold_case or lit.edm == "Edm.Guid":
            folded = lit.value.lower()

            def string_folded(r: Record) -> bool:
                v = get(r)
                return cmp(v.lower(), folded) if isinstance(v, str) else other

            return string_folded
        text = lit.value

        def string_exact(r: Record) -> bool:
            v = get(r)
            return cmp(v, text) if isinstance(v, str) else other

        return string_exact
    if lit.edm in _NUMERIC:
        number = lit.value

        def numeric(r: Record) -> bool:
            v = get(r)
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                return cmp(v, number)
            return other

        return numeric
    if lit.edm == "Edm.Boolean":
        flag = lit.value

        def boolean(r: Record) -> bool:
            v = get(r)
            return cmp(v, flag) if isinstance(v, bool) else other

        return boolean
    if lit.edm == "Edm.DateTimeOffset":
        # The field holds ISO text (BC with milliseconds, Dataverse to the second): compare instants.
        target = lit.instant

        def moment(r: Record) -> bool:
            v = get(r)
            if isinstance(v, str):
                instant = instant_of(v)
                if instant is not None:
                    return cmp(instant, target)
            return other

        return moment
    if lit.edm == "Edm.Date":
        day = lit.value

        def date(r: Record) -> bool:
            v = get(r)
            return cmp(v[:10], day) if isinstance(v, str) and instant_of(v) is not None else other

        return date
    raise AssertionError(f"unhandled literal type {lit.edm}")


def compare_values(op: str, left: Any, right: Any, *, fold_case: bool) -> bool:
    """`left <op> right` for two values only known per record (property against property, functions)."""
    if left is None or right is None:
        if op == "eq":
            return left is right
        return op == "ne" and left is not right
    if isinstance(left, bool) or isinstance(right, bool):
        same = isinstance(left, bool) and isinstance(right, bool)
    elif isinstance(left, (int, float)) and isinstance(right, (int, float)):
        same = True
    elif isinstance(left, str) and isinstance(right, str):
        if fold_case:
            left, right = left.lower(), right.lower()
        same = True
    else:
        same = False
    if not same:
        return op == "ne"
    return OPERATORS[op](left, right)
