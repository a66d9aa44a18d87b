"""core.rules.fields and core.rules.transforms: equality, hashes, transforms, lookups through couplings, transfer, change sets."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from core.rules.fields import (
    NOT_SYNCED, LookupRef, LookupTable, decode_pair, encode_pair, field_changes, field_hashes, hash_value,
    lookup_requests, normalize, parse_lookup, same_value, synced_hashes, transfer, validate_lookup,
)
from core.model import Direction, ErrorCategory, FieldMapping, Mapping, Record, Side
from core.rules.transforms import TransformContext, apply_transform, compile_transform, validate_transform

T0 = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.timezone.utc)
EUR_ERP = "AAAAAAAA-0000-0000-0000-000000000001"
EUR_CRM = "cccccccc-0000-0000-0000-000000000001"


def mapping(*fms: FieldMapping) -> Mapping:
    return Mapping("CUSTOMER", "customers", "accounts", "account", "accountid", Direction.BIDIRECTIONAL, fms)


def rec(rid: str = "r1", **fields: Any) -> Record:
    return Record(rid, T0, fields)


class TestNormalize:
    @pytest.mark.parametrize(("a", "b", "equal"), [
        ("  Acme ", "Acme", True),
        ("", None, True),
        ("   ", None, True),
        ("nl", "NL", False),
        (1, 1.0, True),
        (Decimal("1.00"), 1, True),
        (Decimal("10"), Decimal("1E+1"), True),
        (0, None, False),
        (True, 1, False),
        (EUR_ERP, EUR_ERP.lower(), True),
        ("00000000-0000-0000-0000-000000000000", None, True),
        (dt.datetime(2026, 1, 1, 13, tzinfo=dt.timezone(dt.timedelta(hours=1))), T0.replace(hour=12), True),
    ], ids=["trim", "empty-is-none", "blank-is-none", "case-kept", "int-float", "decimal-scale", "decimal-exponent",
            "zero-is-not-none", "bool-is-not-int", "guid-case", "bc-blank-guid", "datetime-utc"])
    def test_equality_rule(self, a: Any, b: Any, equal: bool) -> None:
        assert same_value(a, b) is equal
        assert (hash_value(a) == hash_value(b)) is equal

    def test_hash_is_short_and_stable_across_processes(self) -> None:
        # A change of this value re-syncs every coupled field everywhere: change it only on purpose.
        assert hash_value("Acme") == "1Ya3NyV7lhs"
        assert len(hash_value(None)) == 11

    def test_normalize_lowercases_guids_only(self) -> None:
        assert normalize(EUR_ERP) == EUR_ERP.lower()
        assert normalize("ABC") == "ABC"


class TestTransforms:
    @pytest.mark.parametrize(("spec", "direction", "value", "expected"), [
        ("upper", Direction.TO_CRM, "nl", "NL"),
        ("lower", Direction.FROM_CRM, "NL", "nl"),
        ("trim", Direction.TO_CRM, "  x ", "x"),
        ("truncate:3", Direction.TO_CRM, "abcdef", "abc"),
        ("prefix:BC-", Direction.TO_CRM, "10000", "BC-10000"),
        ("prefix:BC-", Direction.TO_CRM, "BC-10000", "BC-10000"),
        ("prefix:BC-", Direction.FROM_CRM, "BC-10000", "10000"),
        ("prefix:BC-", Direction.FROM_CRM, "10000", "10000"),
        ("prefix:BC-", Direction.TO_CRM, None, None),
        ("map:Ship=1;All=2", Direction.TO_CRM, "All", "2"),
        ("map:Ship=1;All=2", Direction.FROM_CRM, "1", "Ship"),
        ("map:Ship=1;All=2", Direction.TO_CRM, "Other", "Other"),
        ("trim|upper|prefix:X-", Direction.TO_CRM, " ab ", "X-AB"),
        ("trim|upper|prefix:X-", Direction.FROM_CRM, "X-AB", "AB"),
        ("upper", Direction.TO_CRM, 12, 12),
    ], ids=["upper", "lower", "trim", "truncate", "prefix-adds", "prefix-idempotent", "prefix-removed-fromCrm",
            "prefix-absent-fromCrm", "prefix-none", "map-forward", "map-backward", "map-passthrough",
            "chain-forward", "chain-reversed", "non-string-passes"])
    def test_transform(self, spec: str, direction: Direction, value: Any, expected: Any) -> None:
        assert apply_transform(compile_transform(spec), value, TransformContext(direction)) == expected

    @pytest.mark.parametrize(("spec", "fragment"), [
        ("shout", "unknown transform 'shout'"),
        ("truncate:0", "positive whole number"),
        ("truncate:x", "positive whole number"),
        ("truncate", "needs an argument"),
        ("prefix:", "prefix needs"),
        ("map:a", "a=b"),
        ("map:a=1;b=1", "distinct"),
        ("upper:1", "unknown transform 'upper'"),
    ], ids=["unknown", "truncate-zero", "truncate-nan", "missing-arg", "empty-prefix", "map-malformed",
            "map-not-reversible", "arg-on-simple"])
    def test_validate_transform_names_the_problem(self, spec: str, fragment: str) -> None:
        assert fragment in (validate_transform(spec) or "")

    @pytest.mark.parametrize("spec", [None, "", "upper", "trim|truncate:10", "map:a=b"])
    def test_valid_specs(self, spec: str | None) -> None:
        assert validate_transform(spec) is None


class TestLookups:
    @pytest.mark.parametrize(("text", "expected"), [
        ("CURRENCY", LookupRef(("CURRENCY",))),
        ("CUSTOMER|VENDOR", LookupRef(("CUSTOMER", "VENDOR"))),
        ("CUSTOMER|VENDOR:number", LookupRef(("CUSTOMER", "VENDOR"), "number")),
    ], ids=["one", "several", "by-key"])
    def test_parse(self, text: str, expected: LookupRef) -> None:
        assert parse_lookup(text) == expected

    @pytest.mark.parametrize(("text", "own", "fragment"), [
        ("A||B", None, "one or more mappings"),
        ("CUSTOMER:", None, "no ERP key"),
        ("CUSTOMER", "CUSTOMER", "its own couplings"),
    ], ids=["empty-name", "empty-key", "self"])
    def test_validate_lookup(self, text: str, own: str | None, fragment: str) -> None:
        assert fragment in (validate_lookup(text, own) or "")

    def test_resolve_normalizes_guid_case_and_tries_mappings_in_order(self) -> None:
        table = LookupTable.of({("CUSTOMER:number", Side.ERP): {"C1": "acc-1"},
                                ("VENDOR:number", Side.ERP): {"V1": "acc-2", "C1": "never"},
                                ("CURRENCY", Side.ERP): {EUR_ERP.lower(): EUR_CRM}})
        ref = parse_lookup("CUSTOMER|VENDOR:number")
        assert table.resolve(ref, Side.ERP, "C1") == (True, "acc-1")
        assert table.resolve(ref, Side.ERP, " V1 ") == (True, "acc-2")
        assert table.resolve(ref, Side.ERP, "X") == (False, None)
        assert table.resolve(parse_lookup("CURRENCY"), Side.ERP, EUR_ERP) == (True, EUR_CRM)
        assert table.resolve(parse_lookup("CURRENCY"), Side.CRM, EUR_ERP) == (False, None)

    def test_lookup_requests_lists_source_values_per_target(self) -> None:
        m = mapping(FieldMapping("currencyId", "transactioncurrencyid", lookup="CURRENCY"),
                    FieldMapping("companyNumber", "parentcustomerid", lookup="CUSTOMER|VENDOR:number"))
        wanted = lookup_requests(m, Direction.TO_CRM, [rec(currencyId=EUR_ERP, companyNumber="C1"),
                                                       rec("r2", currencyId=None, companyNumber="C2")])
        assert wanted == {("CURRENCY", Side.ERP): {EUR_ERP.lower()}, ("CUSTOMER:number", Side.ERP): {"C1", "C2"},
                          ("VENDOR:number", Side.ERP): {"C1", "C2"}}


class TestTransfer:
    def test_constants_transforms_and_directions(self) -> None:
        m = mapping(FieldMapping(None, "customertypecode", Direction.TO_CRM, constant=3),
                    FieldMapping("type", None, Direction.FROM_CRM, constant="Person"),
                    FieldMapping("displayName", "name", transform="trim|upper"),
                    FieldMapping("creditLimit", "creditlimit", Direction.TO_CRM),
                    FieldMapping("email", "emailaddress1", enabled=False))
        to_crm = transfer(rec(displayName=" acme ", creditLimit=5, email="a@b"), m, Direction.TO_CRM, LookupTable())
        assert to_crm.values == {"customertypecode": 3, "name": "ACME", "creditlimit": 5}
        from_crm = transfer(rec(name="ACME", creditlimit=9), m, Direction.FROM_CRM, LookupTable())
        assert from_crm.values == {"type": "Person", "displayName": "ACME"}
        assert not to_crm.failures and not from_crm.failures

    def test_lookup_found_missing_and_cleared(self) -> None:
        plain = FieldMapping("currencyId", "transactioncurrencyid", lookup="CURRENCY")
        clear = FieldMapping("currencyId", "transactioncurrencyid", lookup="CURRENCY", clear_on_failure=True)
        table = LookupTable.of({("CURRENCY", Side.ERP): {EUR_ERP: EUR_CRM}})
        assert transfer(rec(currencyId=EUR_ERP), mapping(plain), Direction.TO_CRM, table).values == \
            {"transactioncurrencyid": EUR_CRM}
        missing = transfer(rec(currencyId="dddddddd-0000-0000-0000-000000000009"), mapping(plain), Direction.TO_CRM, table)
        assert missing.values == {}
        assert [(f.field, f.category) for f in missing.failures] == [("transactioncurrencyid", ErrorCategory.DEPENDENCY)]
        cleared = transfer(rec(currencyId="dddddddd-0000-0000-0000-000000000009"), mapping(clear), Direction.TO_CRM, table)
        assert cleared.values == {"transactioncurrencyid": None} and cleared.fields[0].cleared and not cleared.failures

    def test_blank_lookup_needs_no_translation(self) -> None:
        m = mapping(FieldMapping("currencyId", "transactioncurrencyid", lookup="CURRENCY"))
        out = transfer(rec(currencyId="00000000-0000-0000-0000-000000000000"), m, Direction.TO_CRM, LookupTable())
        # Dataverse has nulls, BC has the zero GUID: a blank reference is written as each side spells blank.
        assert out.failures == () and out.values == {"transactioncurrencyid": None}
        back = transfer(Record("c", T0, {"transactioncurrencyid": None}), m, Direction.FROM_CRM, LookupTable())
        assert back.failures == () and back.values == {"currencyId": "00000000-0000-0000-0000-000000000000"}

    def test_not_null_skips_a_none_value(self) -> None:
        m = mapping(FieldMapping("salespersonCode", "ownerid", Direction.TO_CRM, not_null=True))
        assert transfer(rec(salespersonCode=""), m, Direction.TO_CRM, LookupTable()).values == {}
        assert transfer(rec(salespersonCode="JO"), m, Direction.TO_CRM, LookupTable()).values == {"ownerid": "JO"}

    def test_bad_transform_fails_the_field_as_config(self) -> None:
        out = transfer(rec(displayName="x"), mapping(FieldMapping("displayName", "name", transform="shout")),
                       Direction.TO_CRM, LookupTable())
        assert out.values == {} and out.failures[0].category is ErrorCategory.CONFIG


class TestChangeSets:
    M = mapping(FieldMapping("displayName", "name"), FieldMapping("city", "address1_city"),
                FieldMapping("currencyId", "transactioncurrencyid", lookup="CURRENCY"),
                FieldMapping(None, "customertypecode", Direction.TO_CRM, constant=3))
    ERP = {"displayName": "Acme", "city": "Utrecht", "currencyId": EUR_ERP}
    CRM = {"name": "Acme", "address1_city": "Utrecht", "transactioncurrencyid": EUR_CRM, "customertypecode": 3}

    def test_koppel_own_write_is_not_a_change(self) -> None:
        stored = synced_hashes(self.M, self.ERP, self.CRM)
        changes = field_changes(self.M, stored, self.ERP, self.CRM)
        # Lookup ids differ per side by nature, yet neither side counts as changed.
        assert not any(c.erp_changed or c.crm_changed for c in changes.values())

    def test_each_side_change_is_attributed(self) -> None:
        stored = synced_hashes(self.M, self.ERP, self.CRM)
        changes = field_changes(self.M, stored, {**self.ERP, "displayName": "Acme BV"},
                                {**self.CRM, "address1_city": "Delft", "customertypecode": 1})
        assert [(k, c.erp_changed, c.crm_changed) for k, c in changes.items()] == [
            ("displayName|name", True, False), ("city|address1_city", False, True),
            ("currencyId|transactioncurrencyid", False, False), ("=|customertypecode", False, True)]

    def test_missing_or_unsynced_baseline_counts_as_changed(self) -> None:
        stored = synced_hashes(self.M, self.ERP, self.CRM)
        key = "displayName|name"
        stored[key] = encode_pair(NOT_SYNCED, decode_pair(stored[key])[1])  # type: ignore[index]
        del stored["city|address1_city"]
        changes = field_changes(self.M, stored, self.ERP, self.CRM)
        assert (changes[key].erp_changed, changes[key].crm_changed) == (True, False)
        assert (changes["city|address1_city"].erp_changed, changes["city|address1_city"].crm_changed) == (True, True)

    def test_field_hashes_of_one_side(self) -> None:
        hashes = field_hashes(Record("r", T0, self.ERP), self.M, Side.ERP)
        assert hashes["displayName|name"] == hash_value("Acme") and hashes["=|customertypecode"] == ""

    def test_synced_hashes_only_touches_the_given_keys(self) -> None:
        base = {"displayName|name": "old:old", "city|address1_city": "keep:keep"}
        out = synced_hashes(self.M, self.ERP, self.CRM, keys=["displayName|name"], base=base)
        assert out["city|address1_city"] == "keep:keep"
        assert out["displayName|name"] == encode_pair(hash_value("Acme"), hash_value("Acme"))
