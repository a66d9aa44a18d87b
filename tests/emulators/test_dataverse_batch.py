"""Dataverse emulator `$batch` (api-facts §A.5) and bulk actions (§A.6): atomicity, errors, references."""
from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
import requests

from emulators.stack import Stack
from tests.conftest import bearer

TYPE = "Microsoft.Dynamics.CRM.account"


class Api:
    def __init__(self, stack: Stack):
        self.url = f"{stack.info.dataverse_url}/api/data/v9.2"
        self.admin = f"{stack.info.dataverse_url}/_admin"
        self.session = requests.Session()
        self.session.headers.update(bearer(stack, stack.info.dataverse_scope))

    def rows(self) -> list[dict[str, object]]:
        rows: list[dict[str, object]] = requests.get(f"{self.admin}/records/accounts", timeout=10).json()["value"]
        return rows

    def batch(self, items: list[object], prefer: str | None = None) -> requests.Response:
        """Post a multipart batch: an item is (method, url, body) or a list of those (a changeset)."""
        lines: list[str] = []

        def request(method: str, url: str, body: object, content_id: int | None) -> list[str]:
            out = ["Content-Type: application/http", "Content-Transfer-Encoding: binary"]
            out += [f"Content-ID: {content_id}"] if content_id else []
            out += ["", f"{method} {url} HTTP/1.1", "Content-Type: application/json; type=entry", ""]
            return out + ([json.dumps(body)] if body is not None else [])

        for item in items:
            lines.append("--batch_b1")
            if isinstance(item, list):
                lines += ["Content-Type: multipart/mixed; boundary=changeset_c1", ""]
                for n, (method, url, body) in enumerate(item, start=1):
                    lines += ["--changeset_c1", *request(method, url, body, n)]
                lines.append("--changeset_c1--")
            else:
                method, url, body = item  # type: ignore[misc]
                lines += request(method, url, body, None)
        lines.append("--batch_b1--")
        headers = {"Content-Type": "multipart/mixed; boundary=batch_b1"}
        if prefer:
            headers["Prefer"] = prefer
        return self.session.post(f"{self.url}/$batch", data="\r\n".join(lines).encode(), headers=headers, timeout=30)

    def bulk(self, action: str, targets: list[dict[str, object]]) -> requests.Response:
        return self.session.post(f"{self.url}/accounts/Microsoft.Dynamics.CRM.{action}", json={"Targets": targets},
                                 timeout=30)


def _statuses(resp: requests.Response) -> list[int]:
    return [int(s) for s in re.findall(r"^HTTP/1\.1 (\d{3})", resp.text, re.M)]


@pytest.fixture(name="api")
def _api(fresh_stack: Stack) -> Iterator[Api]:
    """The reset Dataverse emulator, with a token."""
    api = Api(fresh_stack)
    yield api
    api.session.close()


class TestBatch:
    def test_parts_answer_in_batchresponse_framing(self, api: Api) -> None:
        resp = api.batch([("POST", "/api/data/v9.2/accounts", {"name": "A"}), ("GET", "accounts?$select=name", None)])
        assert resp.status_code == 200
        assert resp.headers["Content-Type"].startswith("multipart/mixed; boundary=batchresponse_")
        assert _statuses(resp) == [204, 200]
        assert "OData-EntityId: " in resp.text

    def test_stops_at_first_error_with_its_status(self, api: Api) -> None:
        resp = api.batch([("POST", "accounts", {"name": "A"}), ("POST", "accounts", {"bad": 1}),
                          ("POST", "accounts", {"name": "C"})])
        assert resp.status_code == 400
        assert _statuses(resp) == [400]  # only the failing part
        assert [r["name"] for r in api.rows()] == ["A"]

    def test_continue_on_error_runs_every_part(self, api: Api) -> None:
        resp = api.batch([("POST", "accounts", {"name": "A"}), ("POST", "accounts", {"bad": 1}),
                          ("POST", "accounts", {"name": "C"})], prefer="odata.continue-on-error")
        assert resp.status_code == 200
        assert _statuses(resp) == [204, 400, 204]
        assert sorted(str(r["name"]) for r in api.rows()) == ["A", "C"]

    def test_changeset_rolls_back_as_a_whole(self, api: Api) -> None:
        resp = api.batch([[("POST", "accounts", {"name": "A"}), ("PATCH", "accounts(accountnumber='K1')", {"name": "B"}),
                           ("POST", "accounts", {"bad": 1})]])
        assert resp.status_code == 400
        assert api.rows() == []

    def test_changeset_answers_in_changesetresponse(self, api: Api) -> None:
        resp = api.batch([[("POST", "accounts", {"name": "A"}), ("POST", "accounts", {"name": "B"})]])
        assert resp.status_code == 200
        assert "boundary=changesetresponse_" in resp.text and _statuses(resp) == [204, 204]

    def test_content_id_reference_inside_changeset(self, api: Api) -> None:
        resp = api.batch([[("POST", "accounts", {"name": "A"}), ("PATCH", "$1", {"telephone1": "555"})]])
        assert resp.status_code == 200, resp.text
        assert [(r["name"], r["telephone1"]) for r in api.rows()] == [("A", "555")]

    def test_undeclared_content_id_is_400(self, api: Api) -> None:
        resp = api.batch([[("PATCH", "$7", {"name": "A"})]])
        assert resp.status_code == 400
        assert "Content-ID Reference: '$7' does not exist in the batch context." in resp.text

    def test_get_inside_changeset_is_refused(self, api: Api) -> None:
        assert api.batch([[("GET", "accounts", None)]]).status_code == 400

    def test_more_than_1000_parts_is_400(self, api: Api) -> None:
        resp = api.batch([("GET", "WhoAmI", None)] * 1001)
        assert resp.status_code == 400 and "1000" in resp.json()["error"]["message"]


class TestBulk:
    def test_create_multiple_answers_ids(self, api: Api) -> None:
        resp = api.bulk("CreateMultiple", [{"@odata.type": TYPE, "name": f"N{i}"} for i in range(3)])
        assert resp.status_code == 200
        body = resp.json()
        assert body["@odata.context"].endswith("#Microsoft.Dynamics.CRM.CreateMultipleResponse")
        assert sorted(body["Ids"]) == sorted(str(r["accountid"]) for r in api.rows())

    def test_odata_type_is_mandatory(self, api: Api) -> None:
        resp = api.bulk("CreateMultiple", [{"@odata.type": TYPE, "name": "A"}, {"name": "B"}])
        assert resp.status_code == 400 and api.rows() == []

    def test_upsert_multiple_by_key_and_by_id(self, api: Api) -> None:
        first = api.bulk("UpsertMultiple", [{"@odata.type": TYPE, "@odata.id": f"accounts(accountnumber='K{i}')",
                                            "name": f"v1-{i}"} for i in range(3)])
        assert first.status_code == 204
        ident = next(str(r["accountid"]) for r in api.rows() if r["accountnumber"] == "K1")
        second = api.bulk("UpsertMultiple", [
            {"@odata.type": TYPE, "@odata.id": "accounts(accountnumber='K0')", "name": "v2-0"},
            {"@odata.type": TYPE, "@odata.id": f"accounts({ident})", "name": "v2-1"},
            {"@odata.type": TYPE, "accountid": "2e0d8a4c-1b3f-4e5d-9c7a-6b8d0f2e4a1c", "name": "new"}])
        assert second.status_code == 204 and second.content == b""
        assert sorted(str(r["name"]) for r in api.rows()) == ["new", "v1-2", "v2-0", "v2-1"]

    def test_upsert_multiple_is_one_transaction(self, api: Api) -> None:
        api.bulk("UpsertMultiple", [{"@odata.type": TYPE, "@odata.id": "accounts(accountnumber='K0')", "name": "old"}])
        resp = api.bulk("UpsertMultiple", [
            {"@odata.type": TYPE, "@odata.id": "accounts(accountnumber='K0')", "name": "new"},
            {"@odata.type": TYPE, "@odata.id": "accounts(accountnumber='K1')", "name": "x"},
            {"@odata.type": TYPE, "@odata.id": "accounts(accountnumber='K2')", "customertypecode": "not a number"}])
        assert resp.status_code == 400
        assert [(r["accountnumber"], r["name"]) for r in api.rows()] == [("K0", "old")]

    def test_update_multiple_fails_whole_call_for_a_missing_row(self, api: Api) -> None:
        ident = api.bulk("CreateMultiple", [{"@odata.type": TYPE, "name": "A"}]).json()["Ids"][0]
        resp = api.bulk("UpdateMultiple", [{"@odata.type": TYPE, "accountid": ident, "name": "B"},
                                           {"@odata.type": TYPE, "accountid": "2e0d8a4c-1b3f-4e5d-9c7a-6b8d0f2e4a1c",
                                            "name": "C"}])
        assert resp.status_code == 404
        assert [r["name"] for r in api.rows()] == ["A"]
        ok = api.bulk("UpdateMultiple", [{"@odata.type": TYPE, "accountid": ident, "name": "B"}])
        assert ok.status_code == 204 and [r["name"] for r in api.rows()] == ["B"]

    def test_upsert_multiple_with_a_repeated_key_fails_the_whole_call(self, api: Api) -> None:
        ident = "2e0d8a4c-1b3f-4e5d-9c7a-6b8d0f2e4a1c"
        resp = api.bulk("UpsertMultiple", [
            {"@odata.type": TYPE, "@odata.id": "accounts(accountnumber='K0')", "name": "a"},
            {"@odata.type": TYPE, "accountid": ident, "name": "b"},
            {"@odata.type": TYPE, "accountid": ident.upper(), "name": "c"}])
        assert resp.status_code == 400 and "more than once" in resp.json()["error"]["message"]
        assert api.rows() == []
        again = api.bulk("UpsertMultiple", [
            {"@odata.type": TYPE, "@odata.id": "accounts(accountnumber='K0')", "name": "a"},
            {"@odata.type": TYPE, "@odata.id": "accounts(accountnumber='K0')", "name": "b"}])
        assert again.status_code == 400 and api.rows() == []

    def test_update_multiple_with_a_repeated_id_applies_the_first(self, api: Api) -> None:
        ident = api.bulk("CreateMultiple", [{"@odata.type": TYPE, "name": "A"}]).json()["Ids"][0]
        resp = api.bulk("UpdateMultiple", [{"@odata.type": TYPE, "accountid": ident, "name": "First"},
                                           {"@odata.type": TYPE, "accountid": ident, "name": "Second"}])
        assert resp.status_code == 204 and [r["name"] for r in api.rows()] == ["First"]
