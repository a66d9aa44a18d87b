"""The OData $filter/$orderby/$select engine the BC and Dataverse emulators share (api-facts §A.3, §B.4).

A filter compiles once into nested closures over plain-dict records, in the "bc" or "dataverse" dialect.
Not emulated: arithmetic, `in`/`has`, Dataverse LIKE wildcards (`%`, `_`, `[]`) in contains/startswith,
parameter aliases (`@p1`), CRM functions other than In/NotIn/Between/NotBetween/Null/NotNull/LastXDays;
inside a Dataverse lambda every path resolves against the collection item.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from emulators.odata_query._ordering import parse_orderby, parse_select, sort_records
from emulators.odata_query._parser import compile_filter
from emulators.odata_query._syntax import QueryError

__all__ = ["QueryError", "parse_filter", "parse_orderby", "sort_records", "parse_select", "filter_fields"]


def parse_filter(text: str, dialect: str) -> Callable[[dict[str, Any]], bool]:
    """Compile a $filter into a predicate over records.

    Args:
        text: the decoded `$filter` value; blank matches every record.
        dialect: "bc" (`or` on one field only, lambdas ignored, case-sensitive) or "dataverse"
            (case-insensitive strings, `Microsoft.Dynamics.CRM.*` functions).

    Raises:
        QueryError: the text the service puts in its 400 answer.
    """
    return compile_filter(text, dialect, datetime.now(timezone.utc)).as_predicate()


def filter_fields(text: str, dialect: str) -> set[str]:
    """The entity properties a $filter reads (first segment of a path), so a service can 400 unknown ones.

    Raises:
        QueryError: as parse_filter.
    """
    return set(compile_filter(text, dialect, datetime.now(timezone.utc)).fields)
