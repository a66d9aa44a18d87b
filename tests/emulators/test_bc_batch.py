"""BC emulator conformance: JSON `$batch`, its 100-operation limit and `Isolation: snapshot` (api-facts §B.5)."""
from __future__ import annotations

from typing import Any

from tests.emulators.test_bc_support import Bc, bc_client

__all__ = ["bc_client"]


def _batch(bc: Bc, ops: list[dict[str, Any]], snapshot: bool = False, keep_going: bool = True) -> Any:
    headers = {"Isolation": "snapshot"} if snapshot else {}
    if keep_going:
        headers["Prefer"] = "odata.continue-on-error"
    return bc.request("POST", f"{bc.root}/$batch", json={"requests": ops}, headers=headers)


class TestBatch:
    def test_operations_run_and_answer_each_their_own_status(self, bc: Bc) -> None:
        company = bc.stack.info.bc_company_id
        existing = bc.create("customers", {"displayName": "Old"})
        ops: list[dict[str, Any]] = [
            {"id": "a", "method": "POST", "url": f"companies({company})/customers", "body": {"displayName": "New"}},
            {"id": "b", "method": "PATCH", "url": f"companies({company})/customers({existing['id']})",
             "headers": {"If-Match": existing["@odata.etag"]}, "body": {"city": "Aarhus"}},
            {"id": "c", "method": "GET", "url": f"{bc.company}/customers?$select=displayName"},
            {"id": "d", "method": "PATCH", "url": f"companies({company})/customers({existing['id']})",
             "body": {"city": "Berlin"}},
        ]
        resp = _batch(bc, ops)
        assert resp.status_code == 200
        answers = {r["id"]: r for r in resp.json()["responses"]}
        assert answers["a"]["status"] == 201 and answers["a"]["body"]["displayName"] == "New"
        assert answers["b"]["status"] == 200 and answers["b"]["body"]["city"] == "Aarhus"
        assert answers["c"]["status"] == 200 and len(answers["c"]["body"]["value"]) == 2
        assert answers["d"]["status"] == 400
        assert answers["d"]["body"]["error"]["code"] == "BadRequest_InvalidToken"

    def test_without_isolation_a_failure_keeps_the_other_changes(self, bc: Bc) -> None:
        company = bc.stack.info.bc_company_id
        ops = [
            {"id": "1", "method": "POST", "url": f"companies({company})/customers", "body": {"displayName": "Kept"}},
            {"id": "2", "method": "POST", "url": f"companies({company})/customers", "body": {"balanceDue": 1}},
        ]
        statuses = [r["status"] for r in _batch(bc, ops).json()["responses"]]
        assert statuses == [201, 400]
        assert [r["displayName"] for r in bc.admin("GET", "records/customers").json()["value"]] == ["Kept"]

    def test_without_the_preference_processing_stops_at_the_first_failure(self, bc: Bc) -> None:
        company = bc.stack.info.bc_company_id
        ops = [
            {"id": "1", "method": "POST", "url": f"companies({company})/customers", "body": {"displayName": "Kept"}},
            {"id": "2", "method": "POST", "url": f"companies({company})/customers", "body": {"balanceDue": 1}},
            {"id": "3", "method": "POST", "url": f"companies({company})/customers", "body": {"displayName": "Never"}},
        ]
        resp = _batch(bc, ops, keep_going=False)
        assert resp.status_code == 200 and "Preference-Applied" not in resp.headers
        assert [(r["id"], r["status"]) for r in resp.json()["responses"]] == [("1", 201), ("2", 400)]
        assert [r["displayName"] for r in bc.admin("GET", "records/customers").json()["value"]] == ["Kept"]

    def test_continue_on_error_runs_every_operation_and_says_so(self, bc: Bc) -> None:
        company = bc.stack.info.bc_company_id
        ops = [
            {"id": "1", "method": "POST", "url": f"companies({company})/customers", "body": {"balanceDue": 1}},
            {"id": "2", "method": "POST", "url": f"companies({company})/customers", "body": {"displayName": "Ran"}},
        ]
        resp = _batch(bc, ops)
        assert resp.headers["Preference-Applied"] == "odata.continue-on-error"
        assert [r["status"] for r in resp.json()["responses"]] == [400, 201]

    def test_more_than_100_operations_are_refused(self, bc: Bc) -> None:
        company = bc.stack.info.bc_company_id
        ops = [{"id": str(i), "method": "POST", "url": f"companies({company})/customers",
                "body": {"displayName": f"c{i}"}} for i in range(101)]
        resp = _batch(bc, ops)
        assert resp.status_code == 400
        assert resp.json()["error"]["code"] == "BadRequest"
        assert bc.admin("GET", "records/customers").json()["value"] == []
        assert _batch(bc, ops[:100]).status_code == 200

    def test_snapshot_isolation_rolls_back_every_change_on_a_failure(self, bc: Bc) -> None:
        company = bc.stack.info.bc_company_id
        existing = bc.create("customers", {"displayName": "Untouched"})
        ops = [
            {"id": "1", "method": "POST", "url": f"companies({company})/customers", "body": {"displayName": "Gone"}},
            {"id": "2", "method": "PATCH", "url": f"companies({company})/customers({existing['id']})",
             "headers": {"If-Match": "*"}, "body": {"displayName": "Changed"}},
            {"id": "3", "method": "POST", "url": f"companies({company})/customers",
             "body": {"displayName": "x" * 101}},
            {"id": "4", "method": "POST", "url": f"companies({company})/customers", "body": {"displayName": "Never"}},
        ]
        resp = _batch(bc, ops, snapshot=True, keep_going=False)
        assert resp.status_code == 200
        answers = resp.json()["responses"]
        # earlier operations their normal status, the failing one its error, later ones not run
        assert [a["status"] for a in answers] == [201, 200, 400]
        assert answers[2]["body"]["error"]["code"] == "Application_StringExceededLength"
        records = bc.admin("GET", "records/customers").json()["value"]
        assert [(r["displayName"], r["@odata.etag"]) for r in records] == [("Untouched", existing["@odata.etag"])]
        # the number series was rolled back too: the next customer gets the number "Gone" had
        assert existing["number"] == "C000001"
        assert bc.create("customers", {"displayName": "Next"})["number"] == "C000002"

    def test_snapshot_isolation_commits_when_all_succeed(self, bc: Bc) -> None:
        company = bc.stack.info.bc_company_id
        ops = [{"id": str(i), "method": "POST", "url": f"companies({company})/customers",
                "body": {"displayName": f"c{i}"}} for i in range(3)]
        answers = _batch(bc, ops, snapshot=True).json()["responses"]
        assert [a["status"] for a in answers] == [201, 201, 201]
        assert len(bc.admin("GET", "records/customers").json()["value"]) == 3

    def test_company_header_selects_the_company(self, bc: Bc) -> None:
        ops = [{"id": "1", "method": "POST", "url": "customers", "headers": {"Company": "CRONUS International Ltd."},
                "body": {"displayName": "Via header"}}]
        assert _batch(bc, ops).json()["responses"][0]["status"] == 201
