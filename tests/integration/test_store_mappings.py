"""MappingStore on Azurite: versioned puts (X15), etag-conditional replace, defaults that never overwrite."""
from __future__ import annotations

import dataclasses
import uuid

import pytest

from core.errors import Conflict, NotFound, StaleWrite
from core.model import Direction, FieldMapping, Mapping
from core.store import Storage


@pytest.fixture(name="storage")
def _storage(azurite: str) -> Storage:
    """A Storage whose tables no other test sees (unique prefix)."""
    return Storage.from_connection_string(azurite, prefix="t" + uuid.uuid4().hex[:12])


def _m(name: str = "CUSTOMER", field: str = "name", **kw: object) -> Mapping:
    return Mapping(name=name, erp_entity="customers", crm_entity="accounts", crm_table="account",
                   crm_id_field="accountid", direction=Direction.BIDIRECTIONAL,
                   field_mappings=(FieldMapping("displayName", field),), **kw)  # type: ignore[arg-type]


class TestMappingStore:
    def test_put_new_then_get_and_list(self, storage: Storage) -> None:
        created = storage.mappings.put(_m(), expected_etag="new")
        assert created.version == 1 and created.etag
        assert storage.mappings.get("CUSTOMER") == created
        storage.mappings.put(_m("CONTACT"), expected_etag="new")
        assert [m.name for m in storage.mappings.list()] == ["CONTACT", "CUSTOMER"]

    def test_put_new_on_an_existing_name_conflicts(self, storage: Storage) -> None:
        storage.mappings.put(_m(), expected_etag="new")
        with pytest.raises(Conflict):
            storage.mappings.put(_m(field="other"), expected_etag="new")
        assert storage.mappings.get("CUSTOMER").field_mappings[0].crm_field == "name"

    def test_every_version_is_kept_and_versions_increment(self, storage: Storage) -> None:
        v1 = storage.mappings.put(_m(), expected_etag="new")
        v2 = storage.mappings.put(_m(field="v2"), expected_etag=v1.etag)
        v3 = storage.mappings.put(_m(field="v3"))  # unconditional replace
        assert (v2.version, v3.version) == (2, 3)
        history = storage.mappings.versions("CUSTOMER")
        assert [(m.version, m.field_mappings[0].crm_field) for m in history] == [(1, "name"), (2, "v2"), (3, "v3")]
        assert storage.mappings.get("CUSTOMER") == v3

    def test_a_stale_etag_is_refused_and_keeps_the_newer_version(self, storage: Storage) -> None:
        v1 = storage.mappings.put(_m(), expected_etag="new")
        storage.mappings.put(_m(field="theirs"), expected_etag=v1.etag)
        with pytest.raises(StaleWrite):
            storage.mappings.put(_m(field="mine"), expected_etag=v1.etag)
        assert storage.mappings.get("CUSTOMER").field_mappings[0].crm_field == "theirs"
        assert len(storage.mappings.versions("CUSTOMER")) == 2

    def test_put_with_an_etag_of_a_missing_mapping_is_not_found(self, storage: Storage) -> None:
        with pytest.raises(NotFound):
            storage.mappings.put(_m(), expected_etag='W/"datetime\'2026-01-01T00%3A00%3A00Z\'"')

    def test_delete_keeps_versions_and_a_recreated_mapping_continues_numbering(self, storage: Storage) -> None:
        v1 = storage.mappings.put(_m(), expected_etag="new")
        storage.mappings.put(_m(field="v2"), expected_etag=v1.etag)
        storage.mappings.delete("CUSTOMER")
        with pytest.raises(NotFound):
            storage.mappings.get("CUSTOMER")
        with pytest.raises(NotFound):
            storage.mappings.delete("CUSTOMER")
        again = storage.mappings.put(_m(field="v3"), expected_etag="new")
        assert again.version == 3
        assert [m.version for m in storage.mappings.versions("CUSTOMER")] == [1, 2, 3]

    def test_versions_of_one_name_exclude_names_sharing_its_prefix(self, storage: Storage) -> None:
        storage.mappings.put(_m("A"), expected_etag="new")
        storage.mappings.put(_m("A-B"), expected_etag="new")
        assert [m.name for m in storage.mappings.versions("A")] == ["A"]

    def test_ensure_defaults_inserts_only_missing_and_never_overwrites(self, storage: Storage) -> None:
        storage.mappings.put(_m(field="customized"), expected_etag="new")
        inserted = storage.mappings.ensure_defaults([_m(), _m("VENDOR")])
        assert inserted == ["VENDOR"]
        assert storage.mappings.get("CUSTOMER").field_mappings[0].crm_field == "customized"
        assert storage.mappings.ensure_defaults([_m(), _m("VENDOR")]) == []

    def test_a_mapping_larger_than_one_string_column_round_trips(self, storage: Storage) -> None:
        fields = tuple(FieldMapping(f"erpField{i:04d}", f"crm_field_{i:04d}", transform="upper")
                       for i in range(400))  # ~80 KB of JSON: over one 64 KiB property
        big = dataclasses.replace(_m(), field_mappings=fields)
        stored = storage.mappings.put(big, expected_etag="new")
        assert storage.mappings.get("CUSTOMER").field_mappings == fields == stored.field_mappings
