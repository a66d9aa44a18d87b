"""BC emulator: authentication, the admin surface, injected faults and the on_request hook."""
from __future__ import annotations

import msal
import pytest

from emulators.server import Request
from tests.emulators.test_bc_support import Bc, bc_client

__all__ = ["bc_client"]


class TestAuth:
    @pytest.mark.parametrize("kind", ["missing", "expired", "wrong-audience", "bad-signature"])
    def test_bad_tokens_are_401_invalid_credentials(self, bc: Bc, kind: str) -> None:
        i = bc.stack.info
        signer = bc.stack.entra.signer
        token = {
            "missing": None,
            "expired": signer.issue(tenant=i.tenant, client_id=i.client_id, audience="https://api.businesscentral"
                                    ".dynamics.com", ttl_s=-5),
            "wrong-audience": signer.issue(tenant=i.tenant, client_id=i.client_id, audience=i.dataverse_url,
                                           ttl_s=600),
            "bad-signature": bc.auth["Authorization"][len("Bearer "):-4] + "AAAA",
        }[kind]
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        resp = bc.http.get(f"{bc.company}/customers", headers=headers, timeout=10)
        assert resp.status_code == 401
        assert resp.json()["error"]["code"] == "Authentication_InvalidCredentials"
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")

    def test_msal_token_for_the_bc_scope_works(self, bc: Bc) -> None:
        i = bc.stack.info
        app = msal.ConfidentialClientApplication(i.client_id, client_credential=i.client_secret,
                                                 authority=f"{i.entra_url}/{i.tenant}", validate_authority=False,
                                                 instance_discovery=False)
        result = app.acquire_token_for_client(scopes=[i.bc_scope])
        resp = bc.http.get(f"{bc.root}/companies", headers={"Authorization": f"Bearer {result['access_token']}"},
                           timeout=10)
        assert resp.status_code == 200


class TestAdmin:
    def test_seed_is_deterministic_and_fast_to_read_back(self, bc: Bc) -> None:
        ids = bc.seed("customers", 5, seed=7)
        records = bc.admin("GET", "records/customers").json()["value"]
        assert sorted(r["id"] for r in records) == sorted(ids)
        first = {r["id"]: r for r in records}[ids[0]]
        bc.admin("POST", "reset").raise_for_status()
        assert bc.seed("customers", 5, seed=7) == ids
        again = {r["id"]: r for r in bc.admin("GET", "records/customers").json()["value"]}[ids[0]]
        varying = {"lastModifiedDateTime", "@odata.etag"}  # ETags stay unique across resets
        assert {k: v for k, v in again.items() if k not in varying} == {
            k: v for k, v in first.items() if k not in varying}
        assert bc.seed("customers", 5, seed=8) != ids

    @pytest.mark.parametrize("entity", ["customers", "vendors", "contacts", "items", "currencies"])
    def test_every_entity_can_be_seeded_and_served(self, bc: Bc, entity: str) -> None:
        ids = bc.seed(entity, 4)
        resp = bc.get(entity)
        assert resp.status_code == 200
        assert sorted(r["id"] for r in resp.json()["value"]) == sorted(ids)

    def test_edit_acts_as_a_person(self, bc: Bc) -> None:
        [cid] = bc.seed("customers", 1)
        before = bc.get(f"customers({cid})").json()
        resp = bc.admin("POST", "edit", {"entity": "customers", "id": cid, "fields": {"city": "Paris"}, "by": "Ida"})
        assert resp.status_code == 200
        after = bc.get(f"customers({cid})").json()
        assert after["city"] == "Paris" and after["@odata.etag"] != before["@odata.etag"]
        assert after["lastModifiedDateTime"] >= before["lastModifiedDateTime"]
        [raw] = bc.admin("GET", "records/customers").json()["value"]
        assert raw["@emulator.modifiedBy"] == "Ida"

    def test_edit_with_at_sets_the_time_for_ties(self, bc: Bc) -> None:
        a, b = bc.seed("customers", 2)
        for cid in (a, b):
            bc.admin("POST", "edit", {"entity": "customers", "id": cid, "fields": {"city": "Tie"}, "by": "x",
                                      "at": "2031-05-05T10:00:00.5Z"}).raise_for_status()
        times = {r["lastModifiedDateTime"] for r in bc.admin("GET", "records/customers").json()["value"]}
        assert times == {"2031-05-05T10:00:00.500Z"}

    def test_edit_refuses_what_bc_would(self, bc: Bc) -> None:
        [cid] = bc.seed("customers", 1)
        resp = bc.admin("POST", "edit", {"entity": "customers", "id": cid, "fields": {"email": "x" * 81}})
        assert resp.status_code == 400

    def test_delete_record_as_a_person(self, bc: Bc) -> None:
        [cid] = bc.seed("items", 1)
        assert bc.admin("DELETE", f"records/items/{cid}").status_code == 204
        assert bc.get(f"items({cid})").status_code == 404

    def test_requests_are_counted_per_route(self, bc: Bc) -> None:
        bc.get("customers")
        bc.get("customers")
        counts = bc.admin("GET", "requests").json()
        route = "GET /v2.0/{id}/production/api/v2.0/companies({id})/customers"
        assert counts["routes"][route] == 2

    def test_reset_clears_records_and_subscriptions(self, bc: Bc) -> None:
        bc.seed("vendors", 3)
        bc.stack.bc.webhooks.subscriptions["x"] = {"subscriptionId": "x"}
        bc.admin("POST", "reset").raise_for_status()
        assert bc.admin("GET", "records/vendors").json()["value"] == []
        assert bc.get(f"{bc.root}/subscriptions").json()["value"] == []
        assert len(bc.get(f"{bc.root}/companies").json()["value"]) == 1


class TestFaults:
    def test_a_spent_budget_answers_429_with_retry_after(self, bc: Bc) -> None:
        bc.admin("POST", "faults", {"throttleAfter": 2, "retryAfterS": 7}).raise_for_status()
        assert [bc.get("customers").status_code for _ in range(2)] == [200, 200]
        resp = bc.get("customers")
        assert resp.status_code == 429
        assert resp.json()["error"]["code"] == "Application_TooManyRequests"
        assert 1 <= int(resp.headers["Retry-After"]) <= 7

    def test_too_many_connections_is_429_too(self, bc: Bc) -> None:
        err = bc.stack.bc.too_many_requests()
        assert (err.status, err.code) == (429, "Application_TooManyRequests")


class TestHook:
    def test_on_request_runs_before_each_request_so_an_edit_can_land_in_between(self, bc: Bc) -> None:
        created = bc.create("customers", {"displayName": "Contested"})
        seen: list[str] = []

        def person_edits(req: Request) -> None:
            seen.append(req.method)
            if req.method == "PATCH":
                bc.stack.bc.state.update("customers", created["id"], {"city": "Sneaky"}, None, "Ida", person=True)

        bc.stack.bc.on_request = person_edits
        resp = bc.patch(f"customers({created['id']})", {"city": "Mine"}, created["@odata.etag"])
        assert resp.status_code == 409
        assert seen == ["PATCH"]
