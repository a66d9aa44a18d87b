"""mapping_to_json / mapping_from_json: round trip, and every refusal names the exact field at fault (F7)."""
from __future__ import annotations

import copy
from typing import Any

import pytest

from core.errors import InvalidInput
from core.model import (
    DeletePolicy,
    DeletionConflictPolicy,
    Direction,
    FieldMapping,
    Mapping,
    Schedule,
    UpdateConflictPolicy,
)
from core.store.mapping_codec import mapping_from_json, mapping_to_json, validate_for_write


def _mapping() -> Mapping:
    return Mapping(
        name="CUSTOMER", erp_entity="customers", crm_entity="accounts", crm_table="account",
        crm_id_field="accountid", direction=Direction.BIDIRECTIONAL,
        field_mappings=(
            FieldMapping("displayName", "name", match_priority=1),
            FieldMapping("city", "address1_city", Direction.TO_CRM, transform="upper"),
            FieldMapping(None, "customertypecode", Direction.TO_CRM, constant=3),
            FieldMapping("currencyId", "transactioncurrencyid", lookup="CURRENCY", clear_on_failure=True),
            FieldMapping("email", "emailaddress1", Direction.FROM_CRM, enabled=False, not_null=True,
                         case_sensitive=True),
        ),
        erp_filter="blocked eq ' '", crm_filter="statecode eq 0", sync_only_coupled=False,
        update_conflict=UpdateConflictPolicy.ERP_WINS, deletion_conflict=DeletionConflictPolicy.RESTORE,
        delete_policy=DeletePolicy.DEACTIVATE, create_new_on_no_match=True,
        schedule=Schedule(interval_min=5, inactivity_timeout_min=60), depends_on=("CURRENCY",), paused=True,
        version=7,
    )


def _body(**changes: Any) -> dict[str, Any]:
    body = mapping_to_json(_mapping())
    body.update(changes)
    return body


def _with_field(n: int, **changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(mapping_to_json(_mapping()))
    body["fieldMappings"][n].update(changes)
    return body


class TestRoundTrip:
    def test_every_field_survives_json_and_back(self) -> None:
        m = _mapping()
        assert mapping_from_json(mapping_to_json(m)) == m

    def test_json_uses_camel_case_wire_names_and_enum_values(self) -> None:
        body = mapping_to_json(_mapping())
        assert body["erpEntity"] == "customers" and body["updateConflict"] == "erpWins"
        assert body["schedule"] == {"intervalMin": 5, "inactivityTimeoutMin": 60}
        assert body["fieldMappings"][1] == {
            "erpField": "city", "crmField": "address1_city", "direction": "toCrm", "constant": None,
            "enabled": True, "transform": "upper", "lookup": None, "clearOnFailure": False, "notNull": False,
            "matchPriority": None, "caseSensitive": False}

    def test_optional_keys_take_the_model_defaults(self) -> None:
        body = {"name": "X", "erpEntity": "items", "crmEntity": "products", "crmTable": "product",
                "crmIdField": "productid", "direction": "toCrm", "fieldMappings": [{"erpField": "number", "crmField": "productnumber"}]}
        m = mapping_from_json(body)
        assert (m.sync_only_coupled, m.update_conflict, m.schedule, m.version) == (
            True, UpdateConflictPolicy.MERGE, Schedule(), 1)
        assert m.field_mappings[0].direction is Direction.BIDIRECTIONAL


def _missing(key: str) -> dict[str, Any]:
    body = _body()
    del body[key]
    return body


def _drop_field_key(n: int, key: str) -> dict[str, Any]:
    body = copy.deepcopy(_body())
    del body["fieldMappings"][n][key]
    return body


REFUSALS = [
    ("not-an-object", [1, 2], "body"),
    ("unknown-key", _body(colour="red"), "colour"),
    ("unknown-field-key", _with_field(2, colour="red"), "fieldMappings[2].colour"),
    ("unknown-schedule-key", _body(schedule={"every": 3}), "schedule.every"),
    ("missing-name", _missing("name"), "name"),
    ("missing-direction", _missing("direction"), "direction"),
    ("missing-field-mappings", _missing("fieldMappings"), "fieldMappings"),
    ("missing-crm-id-field", _missing("crmIdField"), "crmIdField"),
    ("name-wrong-type", _body(name=5), "name"),
    ("name-with-slash", _body(name="a/b"), "name"),
    ("empty-erp-entity", _body(erpEntity=""), "erpEntity"),
    ("bool-as-string", _body(paused="yes"), "paused"),
    ("bad-direction", _body(direction="sideways"), "direction"),
    ("bad-update-conflict", _body(updateConflict="newest"), "updateConflict"),
    ("bad-delete-policy", _body(deletePolicy="purge"), "deletePolicy"),
    ("interval-zero", _body(schedule={"intervalMin": 0}), "schedule.intervalMin"),
    ("interval-bool", _body(schedule={"intervalMin": True}), "schedule.intervalMin"),
    ("schedule-not-object", _body(schedule=[]), "schedule"),
    ("field-mappings-not-list", _body(fieldMappings={}), "fieldMappings"),
    ("field-mapping-not-object", _body(fieldMappings=["x"]), "fieldMappings[0]"),
    ("depends-on-itself", _body(dependsOn=["CURRENCY", "CUSTOMER"]), "dependsOn[1]"),
    ("depends-on-not-a-name", _body(dependsOn=[3]), "dependsOn[0]"),
    ("bad-field-direction", _with_field(3, direction="up"), "fieldMappings[3].direction"),
    ("field-enabled-wrong-type", _with_field(0, enabled=1), "fieldMappings[0].enabled"),
    ("match-priority-negative", _with_field(0, matchPriority=-1), "fieldMappings[0].matchPriority"),
    ("neither-field", _with_field(1, erpField=None, crmField=None), "fieldMappings[1].erpField"),
    ("constant-with-both-fields", _with_field(1, constant="x"), "fieldMappings[1].constant"),
    ("constant-not-scalar", _with_field(2, constant={"a": 1}), "fieldMappings[2].constant"),
    ("clear-on-failure-with-not-null", _with_field(3, notNull=True), "fieldMappings[3].clearOnFailure"),
    ("lookup-to-itself", _with_field(3, lookup="CUSTOMER"), "fieldMappings[3].lookup"),
    ("match-without-both-fields", _with_field(2, matchPriority=2), "fieldMappings[2].matchPriority"),
    ("field-direction-against-mapping", _body(direction="toCrm"), "fieldMappings[4].direction"),
    ("no-enabled-field", _body(fieldMappings=[{"erpField": "city", "crmField": "name", "enabled": False}]),
     "fieldMappings"),
    ("no-field-in-mapping-direction",
     _body(direction="fromCrm", fieldMappings=[{"erpField": None, "crmField": "b", "constant": 1}]),
     "fieldMappings"),
    ("unknown-erp-entity", _body(erpEntity="salesOrders"), "erpEntity"),
    ("unknown-crm-entity", _body(crmEntity="leads"), "crmEntity"),
    ("unknown-crm-id-field", _body(crmIdField="contactid"), "crmIdField"),
    ("unknown-erp-field", _with_field(3, erpField="colour"), "fieldMappings[3].erpField"),
    ("unknown-crm-field", _with_field(0, crmField="colour"), "fieldMappings[0].crmField"),
    ("copy-without-crm-field", _with_field(0, crmField=None, matchPriority=None), "fieldMappings[0].crmField"),
    ("copy-without-erp-field", _with_field(1, erpField=None), "fieldMappings[1].erpField"),
    ("constant-on-a-side-never-written", _with_field(2, direction="fromCrm"), "fieldMappings[2].crmField"),
    ("erp-filter-unclosed-string", _body(erpFilter="(blocked eq ' ') or (number ne '"), "erpFilter"),
    ("erp-filter-sql", _body(erpFilter="DROP TABLE customers; --"), "erpFilter"),
    ("erp-filter-unknown-field", _body(erpFilter="colour eq 'red'"), "erpFilter"),
    ("erp-filter-not-a-condition", _body(erpFilter="5"), "erpFilter"),
    ("crm-filter-dangling-and", _body(crmFilter="statecode eq 0 and"), "crmFilter"),
    ("crm-filter-unknown-function", _body(crmFilter="drop(name)"), "crmFilter"),
    ("two-fields-write-one-target", _with_field(1, crmField="name"), "fieldMappings[1].crmField"),
    ("missing-field-key-is-fine-but-type-is-not", _with_field(0, transform=7), "fieldMappings[0].transform"),
]


def test_a_stored_version_from_before_a_write_rule_still_reads() -> None:
    old = _with_field(0, crmField=None, matchPriority=None)  # stored before fields had to name both sides

    assert mapping_from_json(old).field_mappings[0].crm_field is None


class TestFilters:
    @pytest.mark.parametrize("text", [
        "blocked eq ' '", "number eq 'O''Brien' or number eq 'X'", "not (blocked eq ' ') and creditLimit gt 1.5",
        "contains(displayName,'a') and lastModifiedDateTime ge 2024-01-01T00:00:00Z", "currencyId eq null"])
    def test_valid_erp_filters_pass(self, text: str) -> None:
        validate_for_write(mapping_from_json(_body(erpFilter=text)))

    @pytest.mark.parametrize("text", [
        "statecode eq 0 and _transactioncurrencyid_value ne null",
        "Microsoft.Dynamics.CRM.In(PropertyName='name',PropertyValues=['a','b'])"])
    def test_valid_crm_filters_pass(self, text: str) -> None:
        validate_for_write(mapping_from_json(_body(crmFilter=text)))


class TestValidator:
    @pytest.mark.parametrize(("body", "field"), [(b, f) for _, b, f in REFUSALS], ids=[i for i, _, _ in REFUSALS])
    def test_refusal_names_the_exact_field(self, body: Any, field: str) -> None:
        with pytest.raises(InvalidInput) as caught:
            validate_for_write(mapping_from_json(body))
        assert caught.value.field == field

    def test_a_disabled_field_may_write_a_target_an_enabled_one_writes(self) -> None:
        body = _with_field(4, erpField="displayName")  # disabled, fromCrm: no clash with field 0
        assert mapping_from_json(body).field_mappings[4].erp_field == "displayName"

    def test_optional_field_keys_may_be_left_out(self) -> None:
        body = _drop_field_key(0, "transform")
        assert mapping_from_json(body).field_mappings[0].transform is None


class TestDetailTranslations:
    def test_every_template_keeps_its_placeholders_in_every_language(self) -> None:
        import re

        from core.i18n import _DETAILS

        for en, nl, da in _DETAILS:
            want = sorted(re.findall(r"\{[a-z]\}", en))
            assert sorted(re.findall(r"\{[a-z]\}", nl)) == want and sorted(re.findall(r"\{[a-z]\}", da)) == want, en

    def test_a_codec_refusal_is_translated_and_an_unknown_detail_stays_english(self) -> None:
        from core.i18n import detail

        with pytest.raises(InvalidInput) as caught:
            validate_for_write(mapping_from_json(_with_field(3, erpField="colour")))
        assert detail(caught.value.message, "nl") == "customers heeft geen veld colour."
        assert detail("Something new.", "da") == "Something new."


def test_every_default_mapping_passes_the_write_checks() -> None:
    from core.rules.defaults import default_mappings

    for m in default_mappings():
        validate_for_write(m)
