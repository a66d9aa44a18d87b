"""The OData query engine the emulators share: filter semantics per dialect, error texts, orderby, select."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from emulators.odata_query import (
    QueryError, filter_fields, parse_filter, parse_orderby, parse_select, sort_records,
)

GUID_A = "6f9619ff-8b86-d011-b42d-00c04fc964ff"
GUID_B = "00000000-0000-0000-0000-000000000002"

RECORDS: list[dict[str, Any]] = [
    {"id": "a", "number": "10000", "displayName": "Adatum Corporation", "balance": 1500.5, "count": 3,
     "blocked": " ", "active": True, "lastModifiedDateTime": "2019-08-18T20:05:51.603Z", "accountid": GUID_A,
     "parent": None, "big": 5_000_000_000, "address": {"city": "Oslo"},
     "lines": [{"amount": 10}, {"amount": 7}], "tags": ["x", "y"]},
    {"id": "b", "number": "20000", "displayName": "Trey Research", "balance": 0, "count": 10,
     "blocked": "Ship", "active": False, "lastModifiedDateTime": "2019-08-18T20:05:51.604Z", "accountid": GUID_B,
     "parent": "a", "big": 1, "address": {"city": "Bergen"},
     "lines": [{"amount": 1}, {"amount": 9}], "tags": []},
    {"id": "c", "number": "30000", "displayName": "O'Brien Ltd", "balance": -20, "count": 2,
     "blocked": "All", "active": None, "lastModifiedDateTime": "2024-01-01T00:00:00Z", "accountid": None,
     "parent": "a", "big": None, "address": None, "lines": [], "tags": None},
    {"id": "d", "number": "40000", "displayName": None, "balance": None, "count": None,
     "blocked": " ", "active": True, "lastModifiedDateTime": None, "accountid": None,
     "parent": None, "big": None, "address": {"city": None}, "lines": None, "tags": ["z"]},
]


def matching(text: str, dialect: str) -> set[str]:
    predicate = parse_filter(text, dialect)
    return {record["id"] for record in RECORDS if predicate(record)}


BOTH = ("bc", "dataverse")

# (id, filter, expected ids) — the same answer in both dialects.
COMMON_CASES = [
    ("string-eq", "number eq '10000'", {"a"}),
    ("string-ne-includes-null", "displayName ne 'Trey Research'", {"a", "c", "d"}),
    ("string-gt", "number gt '20000'", {"c", "d"}),
    ("string-ge", "number ge '20000'", {"b", "c", "d"}),
    ("string-lt", "number lt '20000'", {"a"}),
    ("string-le", "number le '20000'", {"a", "b"}),
    ("string-quote-escape", "displayName eq 'O''Brien Ltd'", {"c"}),
    ("string-blank", "blocked eq ' '", {"a", "d"}),
    ("int-eq", "count eq 10", {"b"}),
    ("int-gt-skips-null", "count gt 2", {"a", "b"}),
    ("int-le", "count le 3", {"a", "c"}),
    ("int-vs-float-field", "balance ge 0", {"a", "b"}),
    ("negative-number", "balance lt -1", {"c"}),
    ("decimal", "balance eq 1500.5", {"a"}),
    ("exponent", "balance gt 1.5e3", {"a"}),
    ("int64", "big eq 5000000000", {"a"}),
    ("literal-on-left-swaps", "5 lt count", {"b"}),
    ("property-vs-property", "count gt balance", {"b", "c"}),
    ("bool-eq-true", "active eq true", {"a", "d"}),
    ("bool-ne-true-includes-null", "active ne true", {"b", "c"}),
    ("bare-bool-property", "active", {"a", "d"}),
    ("not-bool-property-null-unknown", "not active", {"b"}),
    ("eq-null", "parent eq null", {"a", "d"}),
    ("ne-null", "parent ne null", {"b", "c"}),
    ("null-on-left", "null eq parent", {"a", "d"}),
    ("gt-null-never", "count gt null", set()),
    ("guid-unquoted", f"accountid eq {GUID_A}", {"a"}),
    ("guid-uppercase-literal", f"accountid eq {GUID_A.upper()}", {"a"}),
    ("guid-ne", f"accountid ne {GUID_A}", {"b", "c", "d"}),
    ("datetime-ms-gt-exact", "lastModifiedDateTime gt 2019-08-18T20:05:51.603Z", {"b", "c"}),
    ("datetime-ms-eq-exact", "lastModifiedDateTime eq 2019-08-18T20:05:51.603Z", {"a"}),
    ("datetime-ms-ge", "lastModifiedDateTime ge 2019-08-18T20:05:51.603Z", {"a", "b", "c"}),
    ("datetime-ms-lt", "lastModifiedDateTime lt 2019-08-18T20:05:51.604Z", {"a"}),
    ("datetime-ms-le", "lastModifiedDateTime le 2019-08-18T20:05:51.604Z", {"a", "b"}),
    ("datetime-ne", "lastModifiedDateTime ne 2024-01-01T00:00:00Z", {"a", "b", "d"}),
    ("datetime-no-fraction-vs-ms-field", "lastModifiedDateTime gt 2019-08-18T20:05:51Z", {"a", "b", "c"}),
    ("datetime-seconds-field-vs-ms-literal", "lastModifiedDateTime eq 2024-01-01T00:00:00.000Z", {"c"}),
    ("datetime-offset", "lastModifiedDateTime eq 2019-08-18T22:05:51.603+02:00", {"a"}),
    ("datetime-seven-digits", "lastModifiedDateTime gt 2019-08-18T20:05:51.6030001Z", {"b", "c"}),
    ("datetime-no-seconds", "lastModifiedDateTime ge 2024-01-01T00:00Z", {"c"}),
    ("date-literal", "lastModifiedDateTime ge 2020-01-01", {"c"}),
    ("path", "address/city eq 'Oslo'", {"a"}),
    ("path-through-null", "address/city eq null", {"c", "d"}),
    ("contains", "contains(displayName,'Research')", {"b"}),
    ("startswith", "startswith(displayName,'Adatum')", {"a"}),
    ("endswith", "endswith(displayName,'Ltd')", {"c"}),
    ("function-eq-true", "contains(displayName,'Ltd') eq true", {"c"}),
    ("not-function", "not startswith(displayName,'A')", {"b", "c", "d"}),
    ("not-parenthesised", "not (count eq 10)", {"a", "c", "d"}),
    ("and", "blocked eq ' ' and active eq true and count eq 3", {"a"}),
    ("or-same-field", "number eq '10000' or number eq '30000'", {"a", "c"}),
    ("and-binds-tighter-than-or", "number eq '10000' or number eq '20000' and number eq '30000'", {"a"}),
    ("parentheses-override", "(number eq '10000' or number eq '20000') and blocked eq 'Ship'", {"b"}),
    ("not-binds-tighter-than-and", "not active and count eq 10", {"b"}),
    ("whitespace", "  count   eq 3  ", {"a"}),
    ("blank-matches-all", "   ", {"a", "b", "c", "d"}),
    ("literal-true", "true", {"a", "b", "c", "d"}),
    ("literal-false-in-or", "false or count eq 3", {"a"}),
]


class TestFilterCommon:
    @pytest.mark.parametrize("dialect", BOTH)
    @pytest.mark.parametrize(("text", "expected"), [c[1:] for c in COMMON_CASES], ids=[c[0] for c in COMMON_CASES])
    def test_filter_selects_expected_records(self, text: str, expected: set[str], dialect: str) -> None:
        assert matching(text, dialect) == expected


BC_CASES = [
    ("string-eq-case-sensitive", "displayName eq 'trey research'", set()),
    ("contains-case-sensitive", "contains(displayName,'research')", set()),
    ("tolower", "tolower(displayName) eq 'trey research'", {"b"}),
    ("toupper", "toupper(displayName) eq 'TREY RESEARCH'", {"b"}),
    ("substring-start", "substring(displayName,5) eq 'Research'", {"b"}),
    ("substring-start-length", "substring(displayName,0,4) eq 'Trey'", {"b"}),
    ("contains-of-tolower", "contains(tolower(displayName),'adatum')", {"a"}),
    ("lambda-any-ignored", "lines/any(l: l/amount gt 100)", {"a", "b", "c", "d"}),
    ("lambda-all-ignored-in-and", "count eq 3 and lines/all(l: l/amount gt 100)", {"a"}),
    ("or-with-ignored-lambda", "number eq '10000' or lines/any(l: l/amount gt 100)", {"a", "b", "c", "d"}),
    ("or-same-field-through-function", "tolower(displayName) eq 'o''brien ltd' or displayName eq 'Trey Research'",
     {"b", "c"}),
    ("or-nested-same-field", "(count eq 3 or count eq 2) or count eq 10", {"a", "b", "c"}),
]

DATAVERSE_CASES = [
    ("string-eq-case-insensitive", "displayName eq 'trey research'", {"b"}),
    ("string-ne-case-insensitive", "displayName ne 'TREY RESEARCH'", {"a", "c", "d"}),
    ("string-gt-case-insensitive", "displayName gt 'p'", {"b"}),
    ("contains-case-insensitive", "contains(displayName,'RESEARCH')", {"b"}),
    ("startswith-case-insensitive", "startswith(displayName,'o''b')", {"c"}),
    ("endswith-case-insensitive", "endswith(displayName,'CORPORATION')", {"a"}),
    ("or-distinct-fields", "count eq 3 or blocked eq 'All'", {"a", "c"}),
    ("lambda-any", "lines/any(l: l/amount gt 9)", {"a"}),
    ("lambda-all", "lines/all(l: l/amount gt 5)", {"a", "c", "d"}),
    ("lambda-any-empty-body", "lines/any()", {"a", "b"}),
    ("lambda-primitive-collection", "tags/any(t: t eq 'Z')", {"d"}),
    ("crm-in-strings", "Microsoft.Dynamics.CRM.In(PropertyName='number',PropertyValues=['10000','30000'])",
     {"a", "c"}),
    ("crm-in-numbers-as-strings", "Microsoft.Dynamics.CRM.In(PropertyName='count',PropertyValues=['3','10'])",
     {"a", "b"}),
    ("crm-in-case-insensitive", "Microsoft.Dynamics.CRM.In(PropertyName='blocked',PropertyValues=['SHIP'])",
     {"b"}),
    ("crm-in-guid", f"Microsoft.Dynamics.CRM.In(PropertyName='accountid',PropertyValues=['{GUID_A.upper()}'])",
     {"a"}),
    ("crm-in-bool", "Microsoft.Dynamics.CRM.In(PropertyName='active',PropertyValues=['true'])", {"a", "d"}),
    ("crm-notin-skips-null", "Microsoft.Dynamics.CRM.NotIn(PropertyName='count',PropertyValues=['3','10'])",
     {"c"}),
    ("crm-between-numbers", "Microsoft.Dynamics.CRM.Between(PropertyName='count',PropertyValues=['2','3'])",
     {"a", "c"}),
    ("crm-between-datetimes",
     "Microsoft.Dynamics.CRM.Between(PropertyName='lastModifiedDateTime',"
     "PropertyValues=['2019-08-18T20:05:51.604Z','2024-01-01T00:00:00Z'])", {"b", "c"}),
    ("crm-notbetween", "Microsoft.Dynamics.CRM.NotBetween(PropertyName='count',PropertyValues=['2','3'])", {"b"}),
    ("crm-null", "Microsoft.Dynamics.CRM.Null(PropertyName='parent')", {"a", "d"}),
    ("crm-notnull", "Microsoft.Dynamics.CRM.NotNull(PropertyName='parent')", {"b", "c"}),
    ("crm-combined", "Microsoft.Dynamics.CRM.NotNull(PropertyName='parent') and not (count eq 10)", {"c"}),
]


class TestFilterDialects:
    @pytest.mark.parametrize(("text", "expected"), [c[1:] for c in BC_CASES], ids=[c[0] for c in BC_CASES])
    def test_bc_rules(self, text: str, expected: set[str]) -> None:
        assert matching(text, "bc") == expected

    @pytest.mark.parametrize(("text", "expected"), [c[1:] for c in DATAVERSE_CASES],
                             ids=[c[0] for c in DATAVERSE_CASES])
    def test_dataverse_rules(self, text: str, expected: set[str]) -> None:
        assert matching(text, "dataverse") == expected

    def test_crm_last_x_days_counts_back_from_today(self) -> None:
        now = datetime.now(timezone.utc)
        records: list[dict[str, Any]] = [
            {"id": "recent", "modifiedon": (now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")},
            {"id": "old", "modifiedon": (now - timedelta(days=10)).strftime("%Y-%m-%dT%H:%M:%SZ")},
            {"id": "future", "modifiedon": (now + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")},
            {"id": "null", "modifiedon": None},
        ]
        predicate = parse_filter("Microsoft.Dynamics.CRM.LastXDays(PropertyName='modifiedon',PropertyValue=3)",
                                 "dataverse")
        assert [r["id"] for r in records if predicate(r)] == ["recent"]

    def test_unknown_dialect_is_a_programming_error_not_a_400(self) -> None:
        with pytest.raises(ValueError, match="dialect") as info:
            parse_filter("a eq 1", "sql")
        assert not isinstance(info.value, QueryError)


ERROR_CASES = [
    ("unexpected-token", "name eqq 'x'", "bc", "Syntax error at position 5 in 'name eqq 'x''."),
    ("missing-operand", "name eq", "dataverse", "Expression expected at position 7 in 'name eq'."),
    ("empty-parens", "()", "bc", "Syntax error at position 1 in '()'."),
    ("unclosed-paren", "(a eq 1", "bc", "')' or operator expected at position 7 in '(a eq 1'."),
    ("missing-comma", "contains(a 'x')", "bc", "')' or ',' expected at position 11 in 'contains(a 'x')'."),
    ("unterminated-string", "name eq 'abc", "dataverse",
     "There is an unterminated string literal at position 8 in 'name eq 'abc'."),
    ("invalid-character", "a eq 1 & b eq 2", "bc",
     "Syntax error: character '&' is not valid at position 7 in 'a eq 1 & b eq 2'."),
    ("trailing-and", "a eq 1 and", "bc", "Expression expected at position 10 in 'a eq 1 and'."),
    ("bad-datetime", "a gt 2024-13-01T00:00:00Z", "bc",
     "Unrecognized 'Edm.DateTimeOffset' literal '2024-13-01T00:00:00Z' at '5' in 'a gt 2024-13-01T00:00:00Z'."),
    ("bc-or-distinct-fields", "number eq '1' or displayName eq 'x'", "bc",
     "The 'OR' operator is not supported on distinct fields."),
    ("bc-or-distinct-fields-nested", "(number eq '1' or number eq '2') or displayName eq 'x'", "bc",
     "The 'OR' operator is not supported on distinct fields."),
    ("bc-or-property-vs-property", "count eq balance or count eq 1", "bc",
     "The 'OR' operator is not supported on distinct fields."),
    ("unknown-function", "foo(a) eq 1", "bc",
     "An unknown function with name 'foo' was found. This may also be a function import or a key lookup "
     "on a navigation property, which is not allowed."),
    ("function-names-case-sensitive", "Contains(a,'x')", "dataverse",
     "An unknown function with name 'Contains' was found. This may also be a function import or a key lookup "
     "on a navigation property, which is not allowed."),
    ("dataverse-no-tolower", "tolower(a) eq 'x'", "dataverse",
     "An unknown function with name 'tolower' was found. This may also be a function import or a key lookup "
     "on a navigation property, which is not allowed."),
    ("bc-no-crm-functions", "Microsoft.Dynamics.CRM.Null(PropertyName='a')", "bc",
     "An unknown function with name 'Microsoft.Dynamics.CRM.Null' was found. This may also be a function "
     "import or a key lookup on a navigation property, which is not allowed."),
    ("unknown-crm-function", "Microsoft.Dynamics.CRM.Tomorrow(PropertyName='a')", "dataverse",
     "An unknown function with name 'Microsoft.Dynamics.CRM.Tomorrow' was found. This may also be a function "
     "import or a key lookup on a navigation property, which is not allowed."),
    ("contains-arity", "contains(a)", "bc",
     "No function signature for the function with name 'contains' matches the specified arguments."),
    ("contains-number-needle", "contains(a,5)", "dataverse",
     "No function signature for the function with name 'contains' matches the specified arguments."),
    ("crm-missing-parameter", "Microsoft.Dynamics.CRM.In(PropertyName='a')", "dataverse",
     "No function signature for the function with name 'Microsoft.Dynamics.CRM.In' matches the specified "
     "arguments."),
    ("crm-between-three-values", "Microsoft.Dynamics.CRM.Between(PropertyName='a',PropertyValues=['1','2','3'])",
     "dataverse", "No function signature for the function with name 'Microsoft.Dynamics.CRM.Between' matches "
     "the specified arguments."),
    ("crm-unclosed-list", "Microsoft.Dynamics.CRM.In(PropertyName='a',PropertyValues=['1' '2'])", "dataverse",
     "']' or ',' expected at position 63 in "
     "'Microsoft.Dynamics.CRM.In(PropertyName='a',PropertyValues=['1' '2'])'."),
    ("bool-vs-string", "contains(a,'x') eq 'y'", "bc",
     "A binary operator with incompatible types was detected. Found operand types 'Edm.Boolean' and "
     "'Edm.String' for operator kind 'Equal'."),
    ("not-binds-before-comparison", "not count eq 10", "dataverse",
     "A binary operator with incompatible types was detected. Found operand types 'Edm.Boolean' and "
     "'Edm.Int32' for operator kind 'Equal'."),
    ("not-on-string", "not 'x'", "bc", "The 'not' operator requires a boolean operand, found 'Edm.String'."),
    ("and-number", "count eq 3 and 5", "dataverse",
     "A binary operator with incompatible types was detected. Found operand types 'Edm.Boolean' and "
     "'Edm.Int32' for operator kind 'And'."),
    ("or-string", "'x' or count eq 3", "bc",
     "A binary operator with incompatible types was detected. Found operand types 'Edm.Boolean' and "
     "'Edm.String' for operator kind 'Or'."),
    ("not-boolean-filter", "42", "bc", "The $filter expression must evaluate to a single boolean value."),
]


class TestFilterErrors:
    @pytest.mark.parametrize(("text", "dialect", "message"), [c[1:] for c in ERROR_CASES],
                             ids=[c[0] for c in ERROR_CASES])
    def test_refused_filter_names_the_problem(self, text: str, dialect: str, message: str) -> None:
        with pytest.raises(QueryError) as info:
            parse_filter(text, dialect)
        assert str(info.value) == message

    def test_query_error_is_a_value_error(self) -> None:
        assert issubclass(QueryError, ValueError)


FIELD_CASES = [
    ("comparison", "number eq '1'", "bc", {"number"}),
    ("both-sides-and-functions", "count gt balance and contains(tolower(displayName),'x')", "bc",
     {"count", "balance", "displayName"}),
    ("path-first-segment", "address/city eq 'Oslo'", "dataverse", {"address"}),
    ("bc-lambda-ignored", "lines/any(l: l/amount gt 5) and number eq '1'", "bc", {"number"}),
    ("dataverse-lambda-collection-only", "lines/any(l: l/amount gt 5)", "dataverse", {"lines"}),
    ("crm-property-name", "Microsoft.Dynamics.CRM.In(PropertyName='statecode',PropertyValues=['0'])",
     "dataverse", {"statecode"}),
    ("literals-only", "1 eq 1", "bc", set()),
]


class TestFilterFields:
    @pytest.mark.parametrize(("text", "dialect", "expected"), [c[1:] for c in FIELD_CASES],
                             ids=[c[0] for c in FIELD_CASES])
    def test_reports_referenced_properties(self, text: str, dialect: str, expected: set[str]) -> None:
        assert filter_fields(text, dialect) == expected

    def test_refuses_what_parse_filter_refuses(self) -> None:
        with pytest.raises(QueryError, match="distinct fields"):
            filter_fields("a eq 1 or b eq 1", "bc")


class TestFilterAtScale:
    def test_compiled_filter_is_exact_over_100k_records(self) -> None:
        # The emulators' hot path (api-facts §B.4 incremental pull); timing is checked by hand, not asserted.
        base = datetime(2024, 1, 1, tzinfo=timezone.utc)
        records = [
            {"blocked": " " if i % 3 else "Ship",
             "lastModifiedDateTime": (base + timedelta(milliseconds=i * 7)).isoformat(timespec="milliseconds")
             .replace("+00:00", "Z")}
            for i in range(100_000)
        ]
        predicate = parse_filter("lastModifiedDateTime gt 2024-01-01T00:05:50.003Z and blocked eq ' '", "bc")
        matched = sum(1 for record in records if predicate(record))
        # 00:05:50.003 is i = 50_000.43 → i ≥ 50_001; two in three of those are unblocked.
        assert matched == sum(1 for i in range(50_001, 100_000) if i % 3)


ORDERBY_CASES = [
    ("single", "name", [("name", False)]),
    ("desc", "name desc", [("name", True)]),
    ("asc-explicit", "name asc", [("name", False)]),
    ("several-with-spaces", " name desc , number,modifiedon asc ", [("name", True), ("number", False),
                                                                  ("modifiedon", False)]),
    ("path", "address/city desc", [("address/city", True)]),
    ("empty", "", []),
]
ORDERBY_ERRORS = [
    ("bad-direction", "name down", "Syntax error at position 5 in 'name down'."),
    ("three-words", "name asc x", "Syntax error at position 9 in 'name asc x'."),
    ("empty-item", "name,,number", "Expression expected at position 5 in 'name,,number'."),
    ("trailing-comma", "name,", "Expression expected at position 5 in 'name,'."),
    ("not-a-name", "1name", "Syntax error at position 0 in '1name'."),
]


class TestOrderby:
    @pytest.mark.parametrize(("text", "expected"), [c[1:] for c in ORDERBY_CASES], ids=[c[0] for c in ORDERBY_CASES])
    def test_parses(self, text: str, expected: list[tuple[str, bool]]) -> None:
        assert parse_orderby(text) == expected

    @pytest.mark.parametrize(("text", "message"), [c[1:] for c in ORDERBY_ERRORS], ids=[c[0] for c in ORDERBY_ERRORS])
    def test_refuses(self, text: str, message: str) -> None:
        with pytest.raises(QueryError) as info:
            parse_orderby(text)
        assert str(info.value) == message


SELECT_CASES = [
    ("list", "name,accountid", ["name", "accountid"]),
    ("spaces-and-duplicates", " name , accountid,name", ["name", "accountid"]),
    ("star", "*", ["*"]),
    ("empty", "", []),
]


class TestSelect:
    @pytest.mark.parametrize(("text", "expected"), [c[1:] for c in SELECT_CASES], ids=[c[0] for c in SELECT_CASES])
    def test_parses(self, text: str, expected: list[str]) -> None:
        assert parse_select(text) == expected

    @pytest.mark.parametrize("text", ["name,,x", "name x", "na-me"], ids=["empty-item", "two-words", "dash"])
    def test_refuses(self, text: str) -> None:
        with pytest.raises(QueryError):
            parse_select(text)


def ids_sorted(orderby: str, records: list[dict[str, Any]] = RECORDS) -> list[str]:
    return [record["id"] for record in sort_records(records, parse_orderby(orderby))]


SORT_CASES = [
    ("string-asc-null-first", "displayName", ["d", "a", "c", "b"]),
    ("string-desc-null-last", "displayName desc", ["b", "c", "a", "d"]),
    ("number-asc", "balance", ["d", "c", "b", "a"]),
    ("datetime-mixed-precision", "lastModifiedDateTime desc", ["c", "b", "a", "d"]),
    ("ties-keep-input-order", "blocked", ["a", "d", "c", "b"]),
    ("ties-keep-input-order-desc", "blocked desc", ["b", "c", "a", "d"]),
    ("multi-key", "blocked desc,count desc", ["b", "c", "a", "d"]),
    ("multi-key-second-breaks-tie", "active desc,number desc", ["d", "a", "b", "c"]),
    ("path", "address/city", ["c", "d", "b", "a"]),
    ("no-orderby-keeps-order", "", ["a", "b", "c", "d"]),
]


class TestSortRecords:
    @pytest.mark.parametrize(("orderby", "expected"), [c[1:] for c in SORT_CASES], ids=[c[0] for c in SORT_CASES])
    def test_sorts(self, orderby: str, expected: list[str]) -> None:
        assert ids_sorted(orderby) == expected

    def test_datetimes_order_by_instant_not_text(self) -> None:
        # "…51Z" sorts after "…51.500Z" as text ('Z' > '.'), but is half a second earlier.
        records = [{"id": "late", "t": "2024-01-01T00:00:51.500Z"}, {"id": "early", "t": "2024-01-01T00:00:51Z"}]
        assert ids_sorted("t", records) == ["early", "late"]

    def test_mixed_types_do_not_raise(self) -> None:
        records: list[dict[str, Any]] = [{"id": "s", "v": "x"}, {"id": "n", "v": 2}, {"id": "b", "v": True}, {"id": "z", "v": None}]
        assert ids_sorted("v", records) == ["z", "b", "n", "s"]

    def test_input_list_is_not_mutated(self) -> None:
        records = list(RECORDS)
        sort_records(records, [("displayName", True)])
        assert records == RECORDS
