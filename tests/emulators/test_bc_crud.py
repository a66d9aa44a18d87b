"""BC emulator conformance: URLs, CRUD and concurrency, field rules (api-facts §B.1–B.3, §E.2)."""
from __future__ import annotations

import base64
import re

import pytest

from tests.emulators.test_bc_support import Bc, bc_client

__all__ = ["bc_client"]

MS_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def _code(resp: object) -> str:
    return str(resp.json()["error"]["code"])  # type: ignore[attr-defined]


class TestUrls:
    def test_companies_lists_the_one_company(self, bc: Bc) -> None:
        resp = bc.get(f"{bc.root}/companies")
        assert resp.status_code == 200
        [company] = resp.json()["value"]
        assert company["id"] == bc.stack.info.bc_company_id
        assert {"systemVersion", "timestamp", "name", "displayName", "businessProfileId"} <= set(company)

    def test_company_can_be_given_as_query_parameter(self, bc: Bc) -> None:
        created = bc.create("customers", {"displayName": "Query company"})
        resp = bc.get(f"{bc.root}/customers({created['id']})?company={bc.stack.info.bc_company_id}")
        assert resp.status_code == 200
        assert resp.json()["displayName"] == "Query company"

    @pytest.mark.parametrize("path, code", [
        ("{root}/companies(00000000-0000-0000-0000-000000000001)/customers", "Internal_CompanyNotFound"),
        ("{root}/companies({cid})/widgets", "BadRequest_ResourceNotFound"),
        ("{bc_url}/v2.0/other-tenant/production/api/v2.0/companies", "BadRequest_NotFound"),
        ("{bc_url}/v2.0/{tenant}/sandbox/api/v2.0/companies", "BadRequest_NotFound"),
        ("{root}/companies({cid})/customers(00000000-0000-0000-0000-0000000000aa)", "Internal_RecordNotFound"),
    ], ids=["company", "entity", "tenant", "environment", "record"])
    def test_unknown_parts_answer_404_in_bc_shape(self, bc: Bc, path: str, code: str) -> None:
        i = bc.stack.info
        url = path.format(root=bc.root, cid=i.bc_company_id, bc_url=i.bc_url, tenant=i.tenant)
        resp = bc.get(url)
        assert resp.status_code == 404
        assert _code(resp) == code
        assert "CorrelationId" in resp.json()["error"]["message"]

    def test_malformed_key_is_a_400_not_a_trace(self, bc: Bc) -> None:
        resp = bc.get("customers(not-a-guid)")
        assert resp.status_code == 400
        assert _code(resp) == "BadRequest_NotFound"


class TestCrud:
    def test_post_answers_201_with_the_full_entity_and_etag(self, bc: Bc) -> None:
        resp = bc.post("customers", {"displayName": "Adatum", "city": "Utrecht"})
        assert resp.status_code == 201
        body = resp.json()
        assert body["displayName"] == "Adatum" and body["city"] == "Utrecht"
        assert {"id", "number", "balanceDue", "currencyCode", "blocked", "lastModifiedDateTime"} <= set(body)
        assert body["@odata.etag"] == resp.headers["ETag"]
        assert body["@odata.etag"].startswith('W/"')
        assert base64.b64decode(body["@odata.etag"][3:-1]).startswith(b"'")
        assert "@odata.context" in body

    def test_patch_answers_200_with_the_full_entity_and_a_new_etag(self, bc: Bc) -> None:
        created = bc.create("customers", {"displayName": "Before"})
        resp = bc.patch(f"customers({created['id']})", {"displayName": "After"}, created["@odata.etag"])
        assert resp.status_code == 200
        body = resp.json()
        assert body["displayName"] == "After" and body["number"] == created["number"]
        assert body["@odata.etag"] != created["@odata.etag"]
        assert body["lastModifiedDateTime"] >= created["lastModifiedDateTime"]

    @pytest.mark.parametrize("method", ["PATCH", "DELETE"])
    def test_write_without_if_match_is_400_invalid_token(self, bc: Bc, method: str) -> None:
        created = bc.create("customers", {"displayName": "No token"})
        path = f"customers({created['id']})"
        resp = bc.patch(path, {"displayName": "x"}, None) if method == "PATCH" else bc.delete(path, None)
        assert resp.status_code == 400
        assert _code(resp) == "BadRequest_InvalidToken"
        assert resp.json()["error"]["message"].startswith("Could not validate the client concurrency token")
        assert bc.get(path).json()["displayName"] == "No token"

    @pytest.mark.parametrize("method", ["PATCH", "DELETE"])
    def test_stale_etag_is_409_entity_changed(self, bc: Bc, method: str) -> None:
        created = bc.create("customers", {"displayName": "v1"})
        path = f"customers({created['id']})"
        assert bc.patch(path, {"displayName": "v2"}, created["@odata.etag"]).status_code == 200
        stale = created["@odata.etag"]
        resp = bc.patch(path, {"displayName": "v3"}, stale) if method == "PATCH" else bc.delete(path, stale)
        assert resp.status_code == 409
        assert _code(resp) == "Request_EntityChanged"
        assert resp.json()["error"]["message"].startswith("Another user has already changed the record.")
        assert bc.get(path).json()["displayName"] == "v2"

    def test_if_match_star_is_accepted(self, bc: Bc) -> None:
        created = bc.create("customers", {"displayName": "Star"})
        assert bc.patch(f"customers({created['id']})", {"city": "Aarhus"}, "*").status_code == 200
        assert bc.delete(f"customers({created['id']})", "*").status_code == 204

    def test_delete_answers_204_then_404(self, bc: Bc) -> None:
        created = bc.create("items", {"displayName": "Bolt"})
        path = f"items({created['id']})"
        assert bc.delete(path, created["@odata.etag"]).status_code == 204
        assert bc.get(path).status_code == 404
        assert bc.delete(path, "*").status_code == 404

    def test_last_modified_has_millisecond_precision(self, bc: Bc) -> None:
        created = bc.create("vendors", {"displayName": "Timely"})
        assert MS_RE.match(created["lastModifiedDateTime"]), created["lastModifiedDateTime"]


class TestFieldRules:
    @pytest.mark.parametrize("body, status, code", [
        ({"balanceDue": 5}, 400, "BadRequest_InvalidOperation"),
        ({"id": "00000000-0000-0000-0000-000000000001"}, 400, "BadRequest_InvalidOperation"),
        ({"lastModifiedDateTime": "2020-01-01T00:00:00Z"}, 400, "BadRequest_InvalidOperation"),
        ({"favouriteColour": "blue"}, 400, "BadRequest"),
        ({"displayName": "x" * 101}, 400, "Application_StringExceededLength"),
        ({"email": "a" * 81}, 400, "Application_StringExceededLength"),
        ({"phoneNumber": "1" * 31}, 400, "Application_StringExceededLength"),
        ({"creditLimit": "lots"}, 400, "BadRequest"),
        ({"taxLiable": "yes"}, 400, "BadRequest"),
        ({"blocked": "Sometimes"}, 400, "BadRequest"),
        ({"paymentTermsId": "not-a-guid"}, 400, "BadRequest"),
        ({"currencyCode": "XYZ"}, 400, "Internal_InvalidTableRelation"),
    ], ids=["read-only", "id", "modified", "unknown", "name-length", "email-length", "phone-length",
            "decimal-type", "bool-type", "enum", "guid", "currency"])
    def test_bad_bodies_are_refused(self, bc: Bc, body: dict[str, object], status: int, code: str) -> None:
        resp = bc.post("customers", body)
        assert resp.status_code == status, resp.text
        assert _code(resp) == code
        assert bc.admin("GET", "records/customers").json()["value"] == []

    def test_bad_json_is_400(self, bc: Bc) -> None:
        resp = bc.request("POST", "customers", data=b"{not json", headers={"Content-Type": "application/json"})
        assert resp.status_code == 400
        assert _code(resp) == "BadRequest"

    def test_a_customer_needs_a_display_name(self, bc: Bc) -> None:
        missing = bc.post("customers", {"city": "Aarhus"})
        assert missing.status_code == 400 and _code(missing) == "Application_DialogException"
        assert missing.json()["error"]["message"].startswith('A "displayName" must be provided.')
        assert bc.post("customers", {"displayName": "  "}).status_code == 400
        assert bc.admin("GET", "records/customers").json()["value"] == []
        made = bc.create("customers", {"displayName": "Named"})
        blank = bc.patch(f"customers({made['id']})", {"displayName": ""}, made["@odata.etag"])
        assert blank.status_code == 400 and "blank" in blank.json()["error"]["message"]
        assert bc.create("vendors", {"city": "Aarhus"})["displayName"] == ""  # only the customers page checks

    def test_number_comes_from_the_series_and_must_be_unique(self, bc: Bc) -> None:
        first = bc.create("customers", {"displayName": "One"})
        second = bc.create("customers", {"displayName": "Two"})
        assert first["number"] and second["number"] and first["number"] != second["number"]
        resp = bc.post("customers", {"displayName": "Dup", "number": first["number"]})
        assert resp.status_code == 400
        assert _code(resp) == "Internal_EntityWithSameKeyExists"

    def test_currency_code_and_id_stay_consistent(self, bc: Bc) -> None:
        eur = bc.create("currencies", {"code": "EUR", "displayName": "Euro", "symbol": "€"})
        by_code = bc.create("customers", {"displayName": "Euro buyer", "currencyCode": "eur"})
        assert by_code["currencyCode"] == "EUR" and by_code["currencyId"] == eur["id"]
        by_id = bc.create("vendors", {"displayName": "Euro seller", "currencyId": eur["id"]})
        assert by_id["currencyCode"] == "EUR"
        cleared = bc.patch(f"customers({by_code['id']})", {"currencyCode": ""}, "*").json()
        assert cleared["currencyId"] == "00000000-0000-0000-0000-000000000000"
        resp = bc.post("customers", {"currencyId": "00000000-0000-0000-0000-0000000000ff"})
        assert resp.status_code == 400

    def test_currency_code_is_required(self, bc: Bc) -> None:
        resp = bc.post("currencies", {"displayName": "Nameless"})
        assert resp.status_code == 400
        assert _code(resp) == "BadRequest_RequiredParamNotProvided"

    def test_contacts_belong_to_a_company_contact(self, bc: Bc) -> None:
        company = bc.create("contacts", {"type": "Company", "displayName": "Fabrikam"})
        assert company["companyNumber"] == company["number"] and company["companyName"] == "Fabrikam"
        person = bc.create("contacts", {"type": "Person", "displayName": "Ida Hansen",
                                        "companyNumber": company["number"]})
        assert person["companyName"] == "Fabrikam"
        assert person["searchName"] == "IDA HANSEN"
        resp = bc.post("contacts", {"type": "Person", "companyNumber": person["number"]})
        assert resp.status_code == 400
        assert _code(resp) == "Internal_InvalidTableRelation"
        bc.patch(f"contacts({company['id']})", {"displayName": "Fabrikam Group"}, company["@odata.etag"])
        assert bc.get(f"contacts({person['id']})").json()["companyName"] == "Fabrikam Group"
