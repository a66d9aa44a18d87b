"""BC emulator conformance: $filter dialect, $select/$top/$orderby/$skip, server-driven paging (api-facts §B.4)."""
from __future__ import annotations

from typing import Any

import pytest

from tests.emulators.test_bc_support import Bc, bc_client

__all__ = ["bc_client"]


def _read_all(bc: Bc, path: str, page_size: int) -> tuple[list[dict[str, Any]], int]:
    url: str | None = path
    rows: list[dict[str, Any]] = []
    calls = 0
    while url:
        resp = bc.get(url, headers={"Prefer": f"odata.maxpagesize={page_size}"})
        assert resp.status_code == 200, resp.text
        assert resp.headers["Preference-Applied"] == f"odata.maxpagesize={page_size}"
        page = resp.json()
        assert "@odata.deltaLink" not in page  # api-facts §E.2: BC has no delta links
        rows.extend(page["value"])
        calls += 1
        url = page.get("@odata.nextLink")
    return rows, calls


class TestFilter:
    def test_options_not_emulated_are_refused(self, bc: Bc) -> None:
        resp = bc.get("customers?$expand=paymentTerm")
        assert resp.status_code == 400 and "not supported by this emulator" in resp.json()["error"]["message"]

    def test_or_across_distinct_fields_is_refused(self, bc: Bc) -> None:
        resp = bc.get("customers?$filter=displayName eq 'a' or city eq 'b'")
        assert resp.status_code == 400
        assert "The 'OR' operator is not supported on distinct fields" in resp.json()["error"]["message"]

    def test_or_on_the_same_field_is_allowed(self, bc: Bc) -> None:
        for name in ("Alpha", "Beta", "Gamma"):
            bc.create("customers", {"displayName": name})
        resp = bc.get("customers?$filter=displayName eq 'Alpha' or displayName eq 'Gamma'")
        assert resp.status_code == 200
        assert sorted(r["displayName"] for r in resp.json()["value"]) == ["Alpha", "Gamma"]

    def test_lambda_operators_are_silently_ignored(self, bc: Bc) -> None:
        bc.seed("customers", 3)
        resp = bc.get("customers?$filter=addresses/any(a: a/city eq 'Nowhere')")
        assert resp.status_code == 200
        assert len(resp.json()["value"]) == 3

    def test_filter_on_an_unknown_field_is_400(self, bc: Bc) -> None:
        resp = bc.get("customers?$filter=shoeSize eq 42")
        assert resp.status_code == 400
        assert "shoeSize" in resp.json()["error"]["message"]

    def test_incremental_pull_by_last_modified(self, bc: Bc) -> None:
        ids = bc.seed("customers", 5)
        edited = bc.admin("POST", "edit", {"entity": "customers", "id": ids[2], "fields": {"city": "Aarhus"},
                                           "by": "Ida", "at": "2030-01-01T00:00:00.123Z"}).json()
        assert edited["lastModifiedDateTime"] == "2030-01-01T00:00:00.123Z"
        resp = bc.get("customers?$filter=lastModifiedDateTime gt 2030-01-01T00:00:00.122Z")
        assert [r["id"] for r in resp.json()["value"]] == [ids[2]]
        resp = bc.get("customers?$filter=lastModifiedDateTime gt 2030-01-01T00:00:00.123Z")
        assert resp.json()["value"] == []


class TestOptions:
    def test_select_returns_the_etag_and_the_chosen_fields(self, bc: Bc) -> None:
        bc.seed("customers", 2)
        page = bc.get("customers?$select=id,displayName").json()
        assert all(set(r) == {"@odata.etag", "id", "displayName"} for r in page["value"])
        assert page["@odata.context"].endswith("customers(id,displayName)")

    def test_select_of_an_unknown_field_is_400(self, bc: Bc) -> None:
        assert bc.get("customers?$select=id,shoeSize").status_code == 400

    def test_top_and_orderby(self, bc: Bc) -> None:
        for name in ("b", "c", "a", "d"):
            bc.create("customers", {"displayName": name})
        page = bc.get("customers?$orderby=displayName desc&$top=3").json()
        assert [r["displayName"] for r in page["value"]] == ["d", "c", "b"]
        assert "@odata.nextLink" not in page

    def test_skip_is_allowed(self, bc: Bc) -> None:
        for name in ("a", "b", "c"):
            bc.create("customers", {"displayName": name})
        page = bc.get("customers?$orderby=displayName&$skip=1").json()
        assert [r["displayName"] for r in page["value"]] == ["b", "c"]

    def test_count(self, bc: Bc) -> None:
        bc.seed("items", 7)
        page = bc.get("items?$count=true&$top=2").json()
        assert page["@odata.count"] == 7 and len(page["value"]) == 2


class TestPaging:
    def test_maxpagesize_pages_cover_every_row_exactly_once(self, bc: Bc) -> None:
        ids = bc.seed("customers", 250)
        rows, calls = _read_all(bc, "customers", 100)
        assert calls == 3
        assert sorted(r["id"] for r in rows) == sorted(ids)
        assert len({r["id"] for r in rows}) == 250

    def test_paging_with_filter_and_orderby_resumes_after_the_last_row(self, bc: Bc) -> None:
        bc.seed("customers", 120)
        expected = [r for r in bc.admin("GET", "records/customers").json()["value"] if r["country"] != "NL"]
        expected.sort(key=lambda r: (r["city"].lower(), r["id"]))
        rows, calls = _read_all(bc, "customers?$filter=country ne 'NL'&$orderby=city", 25)
        assert [r["id"] for r in rows] == [r["id"] for r in expected]
        assert calls == -(-len(expected) // 25)  # no trailing empty page

    def test_rows_added_between_pages_do_not_repeat_earlier_rows(self, bc: Bc) -> None:
        bc.seed("customers", 30)
        first = bc.get("customers", headers={"Prefer": "odata.maxpagesize=10"}).json()
        bc.create("customers", {"displayName": "Late arrival"})
        seen = [r["id"] for r in first["value"]]
        url = first["@odata.nextLink"]
        while url:
            page = bc.get(url, headers={"Prefer": "odata.maxpagesize=10"}).json()
            seen.extend(r["id"] for r in page["value"])
            url = page.get("@odata.nextLink")
        assert len(seen) == len(set(seen))

    def test_default_page_is_twenty_thousand(self, bc: Bc) -> None:
        bc.seed("customers", 20_001)
        page = bc.get("customers?$select=id").json()
        assert len(page["value"]) == 20_000
        assert "$skiptoken=" in page["@odata.nextLink"]
        rest = bc.get(page["@odata.nextLink"]).json()
        assert len(rest["value"]) == 1 and "@odata.nextLink" not in rest

    @pytest.mark.parametrize("prefer, status", [("odata.maxpagesize=20001", 413), ("odata.maxpagesize=0", 400)],
                             ids=["too-large", "zero"])
    def test_bad_page_sizes_are_refused(self, bc: Bc, prefer: str, status: int) -> None:
        assert bc.get("customers", headers={"Prefer": prefer}).status_code == status

    def test_a_mangled_skiptoken_is_400(self, bc: Bc) -> None:
        assert bc.get("customers?$skiptoken=%%%garbage").status_code == 400
