"""core.rules.defaults: the five default mappings are valid and name only fields both emulators serve."""
from __future__ import annotations

from collections import Counter

import pytest

from core.rules.defaults import default_mappings
from core.rules.fields import parse_lookup, validate_lookup
from core.model import Direction, FieldMapping, Mapping, Schedule
from core.rules.transforms import validate_transform

bc_entities = pytest.importorskip("emulators.bc.entities")
dv_schema = pytest.importorskip("emulators.dataverse.schema")
odata_query = pytest.importorskip("emulators.odata_query")

MAPPINGS = default_mappings()
BY_NAME = {m.name: m for m in MAPPINGS}
IDS = [m.name for m in MAPPINGS]


def directions(m: Mapping) -> list[Direction]:
    return [d for d in (Direction.TO_CRM, Direction.FROM_CRM) if m.direction.allows(d)]


def crm_readable(m: Mapping) -> set[str]:
    table = dv_schema.BY_SET[m.crm_entity]
    return {*table.columns, *table.computed, *(lk.attribute for lk in table.lookups)}


def crm_writable(m: Mapping) -> set[str]:
    table = dv_schema.BY_SET[m.crm_entity]
    return {*table.columns, *(lk.attribute for lk in table.lookups)}


class TestDefaultMappings:
    def test_the_five_mappings_in_dependency_order(self) -> None:
        assert IDS == ["CURRENCY", "CUSTOMER", "VENDOR", "CONTACT", "ITEM-PRODUCT"]
        for i, m in enumerate(MAPPINGS):
            assert set(m.depends_on) <= set(IDS[:i]), m.name
        assert BY_NAME["CONTACT"].depends_on == ("CUSTOMER", "VENDOR")

    def test_directions_and_schedules(self) -> None:
        assert {m.name: m.direction for m in MAPPINGS} == {
            "CURRENCY": Direction.TO_CRM, "CUSTOMER": Direction.BIDIRECTIONAL, "VENDOR": Direction.BIDIRECTIONAL,
            "CONTACT": Direction.BIDIRECTIONAL, "ITEM-PRODUCT": Direction.BIDIRECTIONAL}
        assert {m.name: m.schedule for m in MAPPINGS} == {
            **{n: Schedule(30, 720) for n in IDS}, "ITEM-PRODUCT": Schedule(30, 720)}  # SPEC: 720 for every default
        assert all(m.sync_only_coupled for m in MAPPINGS)

    def test_currency_matches_on_iso_code_and_creates_new(self) -> None:
        currency = BY_NAME["CURRENCY"]
        assert currency.create_new_on_no_match
        assert [(f.erp_field, f.crm_field) for f in currency.field_mappings if f.match_priority == 0] == [
            ("code", "isocurrencycode")]

    @pytest.mark.parametrize("m", MAPPINGS, ids=IDS)
    def test_every_allowed_direction_has_fields_and_no_field_is_written_twice(self, m: Mapping) -> None:
        for d in directions(m):
            fields = m.fields_for(d)
            assert fields, (m.name, d)
            targets = Counter(f.crm_field if d is Direction.TO_CRM else f.erp_field for f in fields)
            assert max(targets.values()) == 1, targets
        assert len({f.key for f in m.field_mappings}) == len(m.field_mappings)

    @pytest.mark.parametrize("m", MAPPINGS, ids=IDS)
    def test_transforms_and_lookups_are_valid(self, m: Mapping) -> None:
        for f in m.field_mappings:
            assert validate_transform(f.transform) is None
            assert validate_lookup(f.lookup, m.name) is None
            if f.lookup:
                assert set(parse_lookup(f.lookup).mappings) <= set(m.depends_on)

    @pytest.mark.parametrize("m", MAPPINGS, ids=IDS)
    def test_fields_exist_in_the_bc_emulator(self, m: Mapping) -> None:
        spec = bc_entities.ENTITIES[m.erp_entity].field_map()
        for f in m.field_mappings:
            if f.erp_field is None:
                continue
            assert f.erp_field in spec, (m.name, f.erp_field)
            if f.flows(Direction.FROM_CRM):
                assert not spec[f.erp_field].read_only, (m.name, f.erp_field)

    @pytest.mark.parametrize("m", MAPPINGS, ids=IDS)
    def test_fields_exist_in_the_dataverse_emulator(self, m: Mapping) -> None:
        assert dv_schema.BY_SET[m.crm_entity].logical_name == m.crm_table
        assert dv_schema.BY_SET[m.crm_entity].primary_id == m.crm_id_field
        for f in m.field_mappings:
            if f.crm_field is None:
                continue
            assert f.crm_field in crm_readable(m), (m.name, f.crm_field)
            if f.flows(Direction.TO_CRM):
                assert f.crm_field in crm_writable(m), (m.name, f.crm_field)

    @pytest.mark.parametrize("m", MAPPINGS, ids=IDS)
    def test_constants_are_valid_option_values(self, m: Mapping) -> None:
        options = dv_schema.BY_SET[m.crm_entity].options
        for f in m.field_mappings:
            if f.constant is not None and f.crm_field in options:
                assert f.constant in options[f.crm_field], (m.name, f)

    @pytest.mark.parametrize("m", MAPPINGS, ids=IDS)
    def test_filters_parse_in_each_service_dialect(self, m: Mapping) -> None:
        if m.erp_filter:
            fields = odata_query.filter_fields(m.erp_filter, "bc")
            assert fields <= set(bc_entities.ENTITIES[m.erp_entity].field_map())
        if m.crm_filter:
            fields = odata_query.filter_fields(m.crm_filter, "dataverse")
            assert fields <= set(dv_schema.BY_SET[m.crm_entity].readable)

    def test_accounts_are_split_by_customer_type(self) -> None:
        def type_constant(m: Mapping) -> FieldMapping:
            return next(f for f in m.field_mappings if f.crm_field == "customertypecode")

        assert (type_constant(BY_NAME["CUSTOMER"]).constant, type_constant(BY_NAME["VENDOR"]).constant) == (3, 11)
        assert "customertypecode eq 3" in (BY_NAME["CUSTOMER"].crm_filter or "")
        assert "customertypecode eq 11" in (BY_NAME["VENDOR"].crm_filter or "")
        assert any(f.erp_field == "creditLimit" for f in BY_NAME["CUSTOMER"].field_mappings)
        assert not any(f.erp_field == "creditLimit" for f in BY_NAME["VENDOR"].field_mappings)
