"""Dataverse emulator conformance (api-facts §A.2, §A.7, §A.8, §E.1): auth, create, upsert PATCH, ETags, keys, lookups."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests

from emulators.server import Faults
from emulators.stack import Stack
from tests.conftest import bearer

EUR = "b1e4c2a0-7f3d-4e6b-9a8c-5d2f1e0a3b4c"
NEW_ID = "6f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"


@dataclass
class Api:
    stack: Stack
    session: requests.Session
    url: str  # …/api/data/v9.2

    def __call__(self, method: str, path: str, **kwargs: object) -> requests.Response:
        return self.session.request(method, f"{self.url}/{path}", timeout=30, **kwargs)  # type: ignore[arg-type]


@pytest.fixture(name="api")
def _api(fresh_stack: Stack) -> Iterator[Api]:
    """The Dataverse Web API with the stack's app token, after a reset."""
    session = requests.Session()
    session.headers.update(bearer(fresh_stack, fresh_stack.info.dataverse_scope))
    session.headers.update({"Accept": "application/json", "OData-Version": "4.0", "OData-MaxVersion": "4.0"})
    yield Api(fresh_stack, session, f"{fresh_stack.info.dataverse_url}/api/data/v9.2")
    session.close()


def _create(api: Api, body: dict[str, object]) -> str:
    resp = api("POST", "accounts", json=body)
    assert resp.status_code == 204, resp.text
    return resp.headers["OData-EntityId"].rsplit("(", 1)[1].rstrip(")")


class TestAuth:
    def test_missing_token_is_401_with_challenge(self, api: Api) -> None:
        resp = requests.get(f"{api.url}/accounts", timeout=10)
        assert resp.status_code == 401
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")

    def test_expired_token_is_401(self, api: Api) -> None:
        token = api.stack.entra.signer.issue(tenant=api.stack.info.tenant, client_id=api.stack.info.client_id,
                                             audience=api.stack.info.dataverse_url, ttl_s=-60)
        resp = requests.get(f"{api.url}/accounts", headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert resp.status_code == 401

    def test_token_for_business_central_is_401(self, api: Api) -> None:
        resp = requests.get(f"{api.url}/accounts", headers=bearer(api.stack, api.stack.info.bc_scope), timeout=10)
        assert resp.status_code == 401

    def test_whoami_names_the_application_user(self, api: Api) -> None:
        me = api("GET", "WhoAmI").json()
        users = requests.get(f"{api.stack.info.dataverse_url}/_admin/records/systemusers", timeout=10).json()["value"]
        app_user = next(u for u in users if u["systemuserid"] == me["UserId"])
        assert app_user["applicationid"] == api.stack.info.client_id.lower()
        assert set(me) >= {"BusinessUnitId", "UserId", "OrganizationId"}


class TestCreate:
    def test_create_answers_204_with_entity_id(self, api: Api) -> None:
        resp = api("POST", "accounts", json={"name": "Contoso"})
        assert resp.status_code == 204
        assert resp.headers["OData-EntityId"].startswith(f"{api.url}/accounts(")
        assert resp.content == b""

    def test_return_representation_answers_201_with_selected_body(self, api: Api) -> None:
        resp = api("POST", "accounts?$select=name", json={"name": "Contoso", "telephone1": "1"},
                   headers={"Prefer": "return=representation"})
        assert resp.status_code == 201
        assert "OData-EntityId" not in resp.headers
        body = resp.json()
        assert body["name"] == "Contoso" and "telephone1" not in body
        assert body["@odata.etag"].startswith('W/"')

    def test_client_chosen_id_is_kept_and_a_second_create_refused(self, api: Api) -> None:
        assert _create(api, {"accountid": NEW_ID, "name": "A"}) == NEW_ID
        resp = api("POST", "accounts", json={"accountid": NEW_ID, "name": "A"})
        assert resp.status_code == 412 and resp.json()["error"]["code"] == "0x80040237"

    def test_rows_carry_system_columns(self, api: Api) -> None:
        ident = _create(api, {"name": "A"})
        row = api("GET", f"accounts({ident})").json()
        me = api("GET", "WhoAmI").json()["UserId"]
        assert row["_createdby_value"] == row["_modifiedby_value"] == me
        assert len(row["modifiedon"]) == 20 and row["modifiedon"].endswith("Z")
        assert row["@odata.etag"] == f'W/"{row["versionnumber"]}"'

    def test_unknown_column_is_400(self, api: Api) -> None:
        resp = api("POST", "accounts", json={"name": "A", "nosuchcolumn": 1})
        assert resp.status_code == 400 and resp.json()["error"]["code"].startswith("0x")

    def test_wrong_type_is_400(self, api: Api) -> None:
        assert api("POST", "accounts", json={"customertypecode": "Customer"}).status_code == 400
        assert api("POST", "accounts", json={"customertypecode": 99}).status_code == 400

    def test_bad_json_is_400_not_a_trace(self, api: Api) -> None:
        resp = api("POST", "accounts", data=b"{not json", headers={"Content-Type": "application/json"})
        assert resp.status_code == 400 and "error" in resp.json()


class TestUpsertAndEtags:
    def test_patch_without_if_match_creates(self, api: Api) -> None:
        resp = api("PATCH", f"accounts({NEW_ID})", json={"name": "Made by PATCH"})
        assert resp.status_code == 204
        assert api("GET", f"accounts({NEW_ID})").json()["name"] == "Made by PATCH"

    def test_patch_with_if_match_star_does_not_create(self, api: Api) -> None:
        resp = api("PATCH", f"accounts({NEW_ID})", json={"name": "x"}, headers={"If-Match": "*"})
        assert resp.status_code == 404 and resp.json()["error"]["code"] == "0x80040217"

    def test_stale_etag_is_412_version_mismatch(self, api: Api) -> None:
        ident = _create(api, {"name": "A"})
        etag = api("GET", f"accounts({ident})").headers["ETag"]
        assert api("PATCH", f"accounts({ident})", json={"name": "B"}, headers={"If-Match": etag}).status_code == 204
        resp = api("PATCH", f"accounts({ident})", json={"name": "C"}, headers={"If-Match": etag})
        assert resp.status_code == 412
        assert resp.json()["error"] == {
            "code": "0x80060882",
            "message": "The version of the existing record doesn't match the RowVersion property provided."}

    def test_if_none_match_star_on_existing_row_is_412_duplicate(self, api: Api) -> None:
        ident = _create(api, {"name": "A"})
        resp = api("PATCH", f"accounts({ident})", json={"name": "B"}, headers={"If-None-Match": "*"})
        assert resp.status_code == 412 and resp.json()["error"]["code"] == "0x80040237"
        assert api("PATCH", f"accounts({NEW_ID})", json={"name": "B"}, headers={"If-None-Match": "*"}).status_code == 204

    def test_alternate_key_upsert_creates_then_updates(self, api: Api) -> None:
        assert api("PATCH", "accounts(accountnumber='O''Neil-1')", json={"name": "First"}).status_code == 204
        assert api("PATCH", "accounts(accountnumber='O''Neil-1')", json={"name": "Second"}).status_code == 204
        rows = api("GET", "accounts?$select=name,accountnumber").json()["value"]
        assert [(r["name"], r["accountnumber"]) for r in rows] == [("Second", "O'Neil-1")]

    def test_alternate_key_the_table_lacks_is_400(self, api: Api) -> None:
        assert api("PATCH", "accounts(name='x')", json={"name": "x"}).status_code == 400
        assert api("GET", "contacts(emailaddress1='a@b.c')").status_code == 400

    def test_currency_alternate_key_reads(self, api: Api) -> None:
        row = api("GET", "transactioncurrencies(isocurrencycode='EUR')").json()
        assert row["transactioncurrencyid"] == EUR

    def test_unchanged_row_answers_304(self, api: Api) -> None:
        ident = _create(api, {"name": "A"})
        etag = api("GET", f"accounts({ident})").headers["ETag"]
        assert api("GET", f"accounts({ident})", headers={"If-None-Match": etag}).status_code == 304
        api("PATCH", f"accounts({ident})", json={"name": "B"})
        assert api("GET", f"accounts({ident})", headers={"If-None-Match": etag}).status_code == 200

    def test_delete_honours_if_match(self, api: Api) -> None:
        ident = _create(api, {"name": "A"})
        assert api("DELETE", f"accounts({ident})", headers={"If-Match": 'W/"1"'}).status_code == 412
        assert api("DELETE", f"accounts({ident})").status_code == 204
        assert api("DELETE", f"accounts({ident})").status_code == 404
        assert api("GET", f"accounts({ident})").status_code == 404


class TestLookups:
    def test_bind_reads_back_as_value_and_null_clears(self, api: Api) -> None:
        ident = _create(api, {"name": "A", "transactioncurrencyid@odata.bind": "transactioncurrencies(isocurrencycode='USD')"})
        usd = api("GET", "transactioncurrencies(isocurrencycode='USD')").json()["transactioncurrencyid"]
        assert api("GET", f"accounts({ident})").json()["_transactioncurrencyid_value"] == usd
        api("PATCH", f"accounts({ident})", json={"transactioncurrencyid@odata.bind": None})
        assert api("GET", f"accounts({ident})").json()["_transactioncurrencyid_value"] is None

    def test_binding_a_missing_row_is_404(self, api: Api) -> None:
        resp = api("POST", "accounts", json={"name": "A", "transactioncurrencyid@odata.bind": f"/transactioncurrencies({NEW_ID})"})
        assert resp.status_code == 404 and resp.json()["error"]["code"] == "0x80040217"

    def test_contact_parent_customer_is_polymorphic(self, api: Api) -> None:
        account = _create(api, {"name": "A"})
        resp = api("POST", "contacts", json={"firstname": "Jan", "lastname": "Bos",
                                             "parentcustomerid_account@odata.bind": f"/accounts({account})"},
                   headers={"Prefer": "return=representation"})
        assert resp.json()["_parentcustomerid_value"] == account
        assert resp.json()["fullname"] == "Jan Bos"


class TestServiceProtection:
    def test_throttled_answer_is_429_with_retry_after(self, api: Api) -> None:
        api.stack.set_faults("dataverse", Faults(throttle_after=1, retry_after_s=7))
        api("GET", "accounts")
        resp = api("GET", "accounts")
        assert resp.status_code == 429
        assert int(resp.headers["Retry-After"]) >= 1
        assert resp.json()["error"]["code"] == "0x80072322"

    def test_concurrency_refusal_is_its_own_code(self, api: Api) -> None:
        err = api.stack.dataverse.too_many_concurrent()
        assert (err.status, err.code) == (429, "0x80072326") and "Retry-After" in err.headers


class TestEntityDefinitions:
    def test_sdk_hidden_calls_are_served(self, api: Api) -> None:
        resp = api("GET", "EntityDefinitions", params={
            "$select": "LogicalName,EntitySetName,PrimaryIdAttribute", "$filter": "LogicalName eq 'account'"})
        assert [(d["EntitySetName"], d["PrimaryIdAttribute"]) for d in resp.json()["value"]] == [("accounts", "accountid")]
        resp = api("GET", "EntityDefinitions(LogicalName='account')/Attributes/Microsoft.Dynamics.CRM.PicklistAttributeMetadata"
                   "?$select=LogicalName&$expand=OptionSet($select=Options)")
        options = {a["LogicalName"]: a["OptionSet"]["Options"] for a in resp.json()["value"]}
        assert {o["Value"] for o in options["customertypecode"]} >= {3, 11}
