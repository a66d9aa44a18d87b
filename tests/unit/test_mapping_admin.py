"""Pure helpers of the mapping and errors routes: merge-patch, the reset-defaults diff, suggestions, action bodies."""
from __future__ import annotations

from contextlib import nullcontext
from dataclasses import replace
from typing import Any, ContextManager

import pytest

from core.rules.defaults import default_mappings
from core.errors import InvalidInput
from core.actions.errors_view import parse_action, suggested_action
from core.actions.mappings import diff_default, merge_patch
from core.model import ErrorCategory

GUID = "6f9619ff-8b86-d011-b42d-00c04fc964ff"


class TestMergePatch:
    def test_top_level_keys_replace_and_null_removes(self) -> None:
        merged = merge_patch({"a": 1, "b": {"x": 1}, "c": 3}, {"b": {"y": 2}, "c": None})

        assert merged == {"a": 1, "b": {"y": 2}}

    def test_a_patch_must_be_an_object(self) -> None:
        with pytest.raises(InvalidInput):
            merge_patch({}, [1])


class TestDiffDefault:
    def test_missing_is_create_equal_is_unchanged_and_edits_list_their_keys(self) -> None:
        vendor = next(m for m in default_mappings() if m.name == "VENDOR")

        assert diff_default(vendor, None).change == "create"
        assert diff_default(vendor, replace(vendor, version=7, etag="x")).change == "unchanged"
        edited = diff_default(vendor, replace(vendor, paused=True, erp_filter="number eq 'V1'"))
        assert (edited.change, set(edited.changed_keys)) == ("replace", {"paused", "erpFilter"})


class TestSuggestedAction:
    @pytest.mark.parametrize("category, words", [
        (ErrorCategory.THROTTLED, "retry automatically"), (ErrorCategory.TRANSIENT, "retry automatically"),
        (ErrorCategory.VALIDATION, "Retry"), (ErrorCategory.CONFLICT, "Synchronize"),
        (ErrorCategory.DELETED_COUNTERPART, "Restore"), (ErrorCategory.AUTH, "connection settings"),
        (ErrorCategory.CONFIG, "connection settings"), (None, "Retry"),
    ], ids=["throttled", "transient", "validation", "conflict", "deleted", "auth", "config", "none"])
    def test_each_category_has_words(self, category: ErrorCategory | None, words: str) -> None:
        assert words in suggested_action(category)


class TestParseAction:
    @pytest.mark.parametrize("body, kind, expect", [
        ({"mapping": "customer", "erpIds": [GUID]}, "retry", nullcontext()),
        ({"all": True}, "retry", nullcontext()),
        ({"all": True}, "restore", pytest.raises(InvalidInput)),
        ({"mapping": "CUSTOMER", "erpIds": [GUID], "direction": "bidirectional"}, "synchronize",
         pytest.raises(InvalidInput)),
        ({"mapping": "CUSTOMER", "erpIds": [GUID]}, "synchronize", pytest.raises(InvalidInput)),
        ({"erpIds": [GUID]}, "delete", pytest.raises(InvalidInput)),
        ({"mapping": "CUSTOMER", "erpIds": ["nope"]}, "delete", pytest.raises(InvalidInput)),
    ], ids=["retry-ids", "retry-all", "all-only-for-retry", "sync-needs-one-way", "sync-needs-direction",
            "mapping-required", "ids-are-guids"])
    def test_bodies(self, body: dict[str, Any], kind: str, expect: ContextManager[Any]) -> None:
        with expect:
            cmd = parse_action(body, kind)
            assert cmd.all or cmd.mapping == "CUSTOMER"
