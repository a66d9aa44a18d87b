"""Parsing change notifications (X2): BC webhook payloads and Dataverse execution contexts."""
from __future__ import annotations

from typing import Any

import pytest

from core.errors import InvalidInput
from core.model import Side
from core.actions.notifications import parse_crm_context, parse_erp_notifications

COMPANY = "5a0c2b1e-9d8f-4e7a-8b6c-1d2e3f4a5b6c"
RECORD = "6f9619ff-8b86-d011-b42d-00c04fc964ff"


def bc_item(**over: Any) -> dict[str, Any]:
    item = {"subscriptionId": "sub1", "clientState": "s3cret", "changeType": "updated",
            "resource": f"api/v2.0/companies({COMPANY})/customers({RECORD})",
            "lastModifiedDateTime": "2026-11-23T10:00:00.123Z"}
    return {**item, **over}


class TestErpNotifications:
    def test_an_update_names_entity_record_company_and_client_state(self) -> None:
        [change], states = parse_erp_notifications({"value": [bc_item()]})
        assert (change.side, change.entity, change.record_id, change.kind, change.company_id) == (
            Side.ERP, "customers", RECORD, "updated", COMPANY)
        assert states == ["s3cret"]

    def test_a_collection_names_the_entity_set_only(self) -> None:
        item = bc_item(changeType="collection",
                       resource=f"api/v2.0/companies({COMPANY})/customers?$filter=lastModifiedDateTime gt 2026-11-23T10:00:00Z")
        [change], _ = parse_erp_notifications({"value": [item]})
        assert (change.kind, change.record_id) == ("collection", None)

    def test_the_same_notification_twice_has_the_same_key_a_later_change_another(self) -> None:
        [a], _ = parse_erp_notifications({"value": [bc_item()]})
        [b], _ = parse_erp_notifications({"value": [bc_item()]})
        [c], _ = parse_erp_notifications({"value": [bc_item(lastModifiedDateTime="2026-11-23T10:05:00.000Z")]})
        assert a.key == b.key != c.key

    @pytest.mark.parametrize(("body", "field"), [
        ({}, "value"),
        ({"value": []}, "value"),
        ({"value": ["x"]}, "value[0]"),
        ({"value": [bc_item(changeType="renamed")]}, "value[0].changeType"),
        ({"value": [bc_item(resource="api/v2.0/customers")]}, "value[0].resource"),
    ], ids=["no-value", "empty", "not-an-object", "unknown-change", "bad-resource"])
    def test_garbage_is_invalid_input_naming_the_field(self, body: Any, field: str) -> None:
        with pytest.raises(InvalidInput) as err:
            parse_erp_notifications(body)
        assert err.value.field == field


class TestCrmContext:
    def context(self, **over: Any) -> dict[str, Any]:
        return {"MessageName": "Update", "PrimaryEntityName": "account", "PrimaryEntityId": RECORD,
                "OperationId": "op-1", **over}

    def test_an_update_is_a_change_of_that_row(self) -> None:
        change = parse_crm_context(self.context())
        assert change is not None
        assert (change.side, change.entity, change.record_id, change.kind) == (Side.CRM, "account", RECORD, "updated")

    def test_messages_koppel_does_not_act_on_are_ignored(self) -> None:
        assert parse_crm_context(self.context(MessageName="Assign")) is None

    def test_a_redelivery_keeps_its_key(self) -> None:
        first, again = parse_crm_context(self.context()), parse_crm_context(self.context())
        other = parse_crm_context(self.context(OperationId="op-2"))
        assert first is not None and again is not None and other is not None
        assert first.key == again.key != other.key

    def test_a_bad_row_id_is_invalid_input(self) -> None:
        with pytest.raises(InvalidInput) as err:
            parse_crm_context(self.context(PrimaryEntityId="42"))
        assert err.value.field == "PrimaryEntityId"
