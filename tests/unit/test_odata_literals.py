"""OData literals and filters: values can never change a filter's shape; each API gets its datetime form."""
from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import pytest

from core.odata import (
    and_, bc_datetime, compare, dv_datetime, dv_in, field_name, guid, literal, or_same_field, parse_datetime,
    query_string, quote, url_with_query,
)

UTC = dt.timezone.utc
G = "5A0C2B1E-9D8F-4E7A-8B6C-1D2E3F4A5B6C"


class TestLiterals:
    @pytest.mark.parametrize(("value", "expected"), [
        ("O'Brien", "'O''Brien'"), ("", "''"), ("a''b", "'a''''b'"), ("x) or (1 eq 1", "'x) or (1 eq 1'"),
    ], ids=["apostrophe", "empty", "double", "injection-stays-a-string"])
    def test_quote_doubles_apostrophes(self, value: str, expected: str) -> None:
        assert quote(value) == expected

    def test_guid_is_validated_and_lowered(self) -> None:
        assert guid(G) == G.lower()
        assert guid(uuid.UUID(G)) == G.lower()
        for bad in ("", "not-a-guid", G + ")", f"{G} or id eq {G}"):
            with pytest.raises(ValueError):
                guid(bad)

    @pytest.mark.parametrize(("value", "bc", "dv"), [
        (dt.datetime(2019, 8, 18, 20, 5, 51, 603000, UTC), "2019-08-18T20:05:51.603Z", "2019-08-18T20:05:51.603000Z"),
        (dt.datetime(2016, 9, 28, 22, 57, 53, tzinfo=UTC), "2016-09-28T22:57:53.000Z", "2016-09-28T22:57:53Z"),
        (dt.datetime(2024, 1, 1, 1, 0, 0, tzinfo=dt.timezone(dt.timedelta(hours=1))), "2024-01-01T00:00:00.000Z",
         "2024-01-01T00:00:00Z"),
    ], ids=["ms", "whole-seconds", "offset-to-utc"])
    def test_datetime_forms(self, value: dt.datetime, bc: str, dv: str) -> None:
        assert bc_datetime(value) == bc
        assert dv_datetime(value) == dv

    def test_naive_datetimes_are_refused(self) -> None:
        with pytest.raises(ValueError):
            bc_datetime(dt.datetime(2024, 1, 1))

    @pytest.mark.parametrize(("text", "expected"), [
        ("2020-08-21T07:38:44.293Z", dt.datetime(2020, 8, 21, 7, 38, 44, 293000, UTC)),
        ("2016-09-28T22:57:53Z", dt.datetime(2016, 9, 28, 22, 57, 53, tzinfo=UTC)),
        ("2016-09-28T22:57:53.1234567Z", dt.datetime(2016, 9, 28, 22, 57, 53, 123456, UTC)),
        ("2016-09-28T23:57:53+01:00", dt.datetime(2016, 9, 28, 22, 57, 53, tzinfo=UTC)),
    ], ids=["bc-ms", "dv-seconds", "seven-digits", "offset"])
    def test_parse_datetime(self, text: str, expected: dt.datetime) -> None:
        assert parse_datetime(text) == expected

    @pytest.mark.parametrize(("value", "expected"), [
        (None, "null"), (True, "true"), (False, "false"), (3, "3"), (Decimal("1.50"), "1.50"), (2.5, "2.5"),
        ("x", "'x'"), (uuid.UUID(G), G.lower()), (dt.date(2024, 2, 29), "2024-02-29"),
    ], ids=["null", "true", "false", "int", "decimal", "float", "str", "uuid", "date"])
    def test_literal(self, value: Any, expected: str) -> None:
        assert literal(value) == expected


class TestFilters:
    def test_field_names_cannot_inject(self) -> None:
        assert field_name("_transactioncurrencyid_value") == "_transactioncurrencyid_value"
        for bad in ("a b", "a)", "a eq 1 or b", "", "1a"):
            with pytest.raises(ValueError):
                field_name(bad)

    def test_compare_and_and(self) -> None:
        since = compare("lastModifiedDateTime", "ge", bc_datetime(dt.datetime(2024, 1, 1, tzinfo=UTC)))
        assert and_(since, None, "blocked eq ' ' or number eq 'C1'") == (
            "(lastModifiedDateTime ge 2024-01-01T00:00:00.000Z) and (blocked eq ' ' or number eq 'C1')")
        assert and_(None, since) == since
        assert and_(None, "") is None
        with pytest.raises(ValueError):
            compare("a", "eq 1 or", "1")

    def test_or_same_field(self) -> None:
        assert or_same_field("id", [guid(G), "b"]) == f"id eq {G.lower()} or id eq b"

    def test_dv_in(self) -> None:
        assert dv_in("accountid", ["a", "b'c"]) == (
            "Microsoft.Dynamics.CRM.In(PropertyName='accountid',PropertyValues=['a','b''c'])")

    def test_query_string_uses_percent_20_and_encodes_separators(self) -> None:
        text = query_string({"$filter": "name eq 'a&b+c#d'", "$top": None, "$select": "a,b"})
        assert text == "$filter=name%20eq%20'a%26b%2Bc%23d'&$select=a,b"
        assert url_with_query("https://h/x", {"$top": "1"}) == "https://h/x?$top=1"
        assert url_with_query("https://h/x?a=1", {"$top": "1"}) == "https://h/x?a=1&$top=1"
        assert url_with_query("https://h/x", {"$top": None}) == "https://h/x"
