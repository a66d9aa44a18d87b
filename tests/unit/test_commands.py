"""Request parsing: strict, naming the field at fault, never raising anything but InvalidInput."""
from __future__ import annotations

import pytest

from core.commands import parse_page_query, require_guid, require_mapping_name
from core.errors import InvalidInput


@pytest.mark.parametrize("value", ["6f9619ff-8b86-d011-b42d-00c04fc964ff\n", "x6f9619ff-8b86-d011-b42d-00c04fc964ff", 42, None],
                         ids=["trailing-newline", "prefix", "number", "none"])
def test_a_guid_must_be_exactly_a_guid(value: object) -> None:
    with pytest.raises(InvalidInput) as err:
        require_guid(value, "erpId")
    assert err.value.field == "erpId"


@pytest.mark.parametrize("value", ["CUSTOMER\n", "", "A" * 21, "cust omer"], ids=["newline", "empty", "too-long", "space"])
def test_a_mapping_name_must_be_exactly_a_name(value: str) -> None:
    with pytest.raises(InvalidInput):
        require_mapping_name(value)


@pytest.mark.parametrize("top", ["²", "0", "1001", "-1", "ten"], ids=["superscript-two", "zero", "too-many", "negative", "word"])
def test_top_outside_1_to_1000_is_invalid_input_not_a_crash(top: str) -> None:
    with pytest.raises(InvalidInput) as err:
        parse_page_query({"top": top})
    assert err.value.field == "top"
