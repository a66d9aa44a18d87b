"""BC emulator conformance: webhook subscriptions, handshake, notifications and delivery rules (api-facts §B.6)."""
from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest

from tests.emulators.test_bc_support import Bc, Receiver, bc_client, receiver_fixture

__all__ = ["bc_client", "receiver_fixture"]


def _subscribe(bc: Bc, receiver: Receiver, entity: str = "customers", client_state: str = "s3cret") -> Any:
    body = {"notificationUrl": receiver.url, "clientState": client_state,
            "resource": f"/api/v2.0/companies({bc.stack.info.bc_company_id})/{entity}"}
    return bc.post(f"{bc.root}/subscriptions", body)


def _subscriptions(bc: Bc) -> list[dict[str, Any]]:
    return list(bc.get(f"{bc.root}/subscriptions").json()["value"])


def _flush(bc: Bc) -> None:
    bc.admin("POST", "webhooks/flush").raise_for_status()


@pytest.fixture(name="fast_retries")
def _fast_retries(bc: Bc, monkeypatch: pytest.MonkeyPatch) -> None:
    """Retry delays of 10 ms so retry tests stay fast."""
    monkeypatch.setattr(bc.stack.bc.webhooks, "retry_delays_s", (0.01, 0.01, 0.01))


class TestSubscriptions:
    def test_create_runs_the_handshake_and_answers_201(self, bc: Bc, receiver: Receiver) -> None:
        resp = _subscribe(bc, receiver)
        assert resp.status_code == 201, resp.text
        sub = resp.json()
        assert receiver.handshakes == 1
        assert {"subscriptionId", "notificationUrl", "resource", "userId", "lastModifiedDateTime", "clientState",
                "expirationDateTime"} <= set(sub)
        assert sub["userId"] == bc.stack.info.client_id
        assert [s["subscriptionId"] for s in _subscriptions(bc)] == [sub["subscriptionId"]]

    def test_a_receiver_that_does_not_echo_the_token_gets_no_subscription(self, bc: Bc, receiver: Receiver) -> None:
        receiver.echo = False
        resp = _subscribe(bc, receiver)
        assert resp.status_code == 400
        assert receiver.handshakes == 1
        assert _subscriptions(bc) == []

    def test_contacts_are_not_a_supported_resource(self, bc: Bc, receiver: Receiver) -> None:
        assert _subscribe(bc, receiver, "contacts").status_code == 400
        assert receiver.handshakes == 0

    def test_renewal_repeats_the_handshake_and_needs_if_match(self, bc: Bc, receiver: Receiver) -> None:
        sub = _subscribe(bc, receiver).json()
        path = f"{bc.root}/subscriptions('{sub['subscriptionId']}')"
        assert bc.patch(path, {}, None).json()["error"]["code"] == "BadRequest_InvalidToken"
        renewed = bc.patch(path, {}, sub["@odata.etag"])
        assert renewed.status_code == 200
        assert receiver.handshakes == 2
        assert renewed.json()["expirationDateTime"] >= sub["expirationDateTime"]
        assert bc.delete(path, renewed.json()["@odata.etag"]).status_code == 204
        assert _subscriptions(bc) == []

    def test_at_most_200_subscriptions(self, bc: Bc, receiver: Receiver) -> None:
        hub = bc.stack.bc.webhooks
        for i in range(200):  # fill directly: 200 handshakes over HTTP would only slow the test
            hub.subscriptions[f"filler{i}"] = {"subscriptionId": f"filler{i}"}
        assert _subscribe(bc, receiver).status_code == 400


class TestNotifications:
    def test_changes_are_notified_after_the_debounce(self, bc: Bc, receiver: Receiver) -> None:
        sub = _subscribe(bc, receiver).json()
        created = bc.create("customers", {"displayName": "Watched"})
        updated = bc.patch(f"customers({created['id']})", {"city": "Aarhus"}, "*").json()
        other = bc.create("customers", {"displayName": "Short-lived"})
        bc.delete(f"customers({other['id']})", "*")
        bc.create("contacts", {"displayName": "Not watched"})
        _flush(bc)
        items = {i["resource"]: i for i in receiver.items()}
        base = f"api/v2.0/companies({bc.stack.info.bc_company_id})/customers"
        assert set(items) == {f"{base}({created['id']})", f"{base}({other['id']})"}
        first = items[f"{base}({created['id']})"]
        assert first["changeType"] == "created"
        assert first["lastModifiedDateTime"] == updated["lastModifiedDateTime"]
        assert first["subscriptionId"] == sub["subscriptionId"] and first["clientState"] == "s3cret"
        assert items[f"{base}({other['id']})"]["changeType"] == "deleted"

    def test_one_post_carries_several_subscriptions_notifications(self, bc: Bc, receiver: Receiver) -> None:
        customers = _subscribe(bc, receiver, "customers").json()["subscriptionId"]
        vendors = _subscribe(bc, receiver, "vendors").json()["subscriptionId"]
        bc.create("customers", {"displayName": "C"})
        bc.create("vendors", {"displayName": "V"})
        _flush(bc)
        assert len(receiver.notifications) == 1  # BC batches by notification URL (api-facts §F.9)
        assert sorted(i["subscriptionId"] for i in receiver.items()) == sorted([customers, vendors])

    def test_a_subscription_expires_three_days_after_creation(self, bc: Bc, receiver: Receiver) -> None:
        sub = _subscribe(bc, receiver).json()
        made = dt.datetime.fromisoformat(sub["lastModifiedDateTime"].replace("Z", "+00:00"))
        expires = dt.datetime.fromisoformat(sub["expirationDateTime"].replace("Z", "+00:00"))
        assert abs((expires - made) - dt.timedelta(days=3)) < dt.timedelta(seconds=5)

    def test_admin_edits_and_deletes_notify_like_a_person(self, bc: Bc, receiver: Receiver) -> None:
        [cid] = bc.seed("customers", 1)
        _subscribe(bc, receiver)
        bc.admin("POST", "edit", {"entity": "customers", "id": cid, "fields": {"city": "Paris"}, "by": "Kim"})
        _flush(bc)
        assert [i["changeType"] for i in receiver.items()] == ["updated"]
        assert bc.admin("DELETE", f"records/customers/{cid}").status_code == 204
        _flush(bc)
        assert [i["changeType"] for i in receiver.items()] == ["updated", "deleted"]

    def test_the_background_thread_delivers_without_a_flush(self, bc: Bc, receiver: Receiver) -> None:
        _subscribe(bc, receiver)
        bc.create("customers", {"displayName": "Auto"})
        deadline = time.monotonic() + 5  # the test stack's debounce is 0.2 s
        while not receiver.notifications and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [i["changeType"] for i in receiver.items()] == ["created"]

    def test_more_than_1000_changes_become_one_collection_notification(
        self, bc: Bc, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(bc.stack.bc.webhooks, "debounce_s", 60.0)  # one window for all 1,001 edits
        ids = bc.seed("customers", 1001)
        _subscribe(bc, receiver)
        for n, cid in enumerate(ids):  # through the state directly: 1,001 HTTP edits would only slow the test
            bc.stack.bc.state.update("customers", cid, {"displayName": f"Renamed {n}"}, None, "bulk", person=True)
        _flush(bc)
        [item] = receiver.items()
        assert item["changeType"] == "collection"
        assert "?$filter=lastModifiedDateTime%20gt%20" in item["resource"]

    def test_expired_subscriptions_stay_silent(self, bc: Bc, receiver: Receiver) -> None:
        sub = _subscribe(bc, receiver).json()
        bc.admin("POST", "webhooks/expire", {"subscriptionId": sub["subscriptionId"]}).raise_for_status()
        bc.create("customers", {"displayName": "Nobody hears"})
        _flush(bc)
        assert receiver.notifications == []


class TestDelivery:
    def test_a_non_retryable_answer_deletes_the_subscription(self, bc: Bc, receiver: Receiver) -> None:
        _subscribe(bc, receiver)
        receiver.statuses.extend([410])
        bc.create("customers", {"displayName": "Bounced"})
        _flush(bc)
        assert len(receiver.notifications) == 1  # not retried
        assert _subscriptions(bc) == []

    @pytest.mark.usefixtures("fast_retries")
    @pytest.mark.parametrize("status", [408, 429, 503])
    def test_a_retryable_answer_is_retried_and_keeps_the_subscription(
        self, bc: Bc, receiver: Receiver, status: int
    ) -> None:
        _subscribe(bc, receiver)
        receiver.statuses.extend([status, status])
        bc.create("customers", {"displayName": "Retried"})
        _flush(bc)
        assert len(receiver.notifications) == 3  # two refusals, then 200
        assert len(_subscriptions(bc)) == 1

    @pytest.mark.usefixtures("fast_retries")
    def test_retries_are_bounded_and_the_subscription_survives(self, bc: Bc, receiver: Receiver) -> None:
        _subscribe(bc, receiver)
        receiver.statuses.extend([503] * 10)
        bc.create("customers", {"displayName": "Down"})
        _flush(bc)
        assert len(receiver.notifications) == 4  # one try and three retries
        assert len(_subscriptions(bc)) == 1
