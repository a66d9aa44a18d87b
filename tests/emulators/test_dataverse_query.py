"""Dataverse emulator queries (api-facts §A.3, §A.4): options, paging, change tracking with tombstones."""
from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from emulators.stack import Stack
from tests.conftest import bearer


class Client:
    def __init__(self, stack: Stack):
        self.stack = stack
        self.url = f"{stack.info.dataverse_url}/api/data/v9.2"
        self.admin = f"{stack.info.dataverse_url}/_admin"
        self.session = requests.Session()
        self.session.headers.update(bearer(stack, stack.info.dataverse_scope))

    def get(self, path_or_url: str, prefer: str | None = None) -> requests.Response:
        url = path_or_url if path_or_url.startswith("https://") else f"{self.url}/{path_or_url}"
        return self.session.get(url, headers={"Prefer": prefer} if prefer else {}, timeout=30)

    def seed(self, entity: str, count: int, seed: int = 1) -> list[str]:
        resp = requests.post(f"{self.admin}/seed", json={"entity": entity, "count": count, "seed": seed}, timeout=60)
        resp.raise_for_status()
        ids: list[str] = resp.json()["ids"]
        return ids

    def pages(self, first: str, prefer: str) -> Iterator[dict[str, object]]:
        resp = self.get(first, prefer)
        while True:
            assert resp.status_code == 200, resp.text
            body = resp.json()
            yield body
            if "@odata.nextLink" not in body:
                return
            resp = self.get(str(body["@odata.nextLink"]), prefer)


@pytest.fixture(name="dv")
def _dv(fresh_stack: Stack) -> Iterator[Client]:
    """A client of the reset Dataverse emulator."""
    client = Client(fresh_stack)
    yield client
    client.session.close()


class TestOptions:
    def test_skip_is_refused(self, dv: Client) -> None:
        resp = dv.get("accounts?$skip=10")
        assert resp.status_code == 400
        assert resp.json()["error"]["message"] == "The query parameter $skip is not supported"

    @pytest.mark.parametrize("query", [
        "accounts?fetchXml=%3Cfetch%2F%3E", "accounts?sql=SELECT%20name%20FROM%20account", "accounts?savedQuery=x",
        "accounts?$expand=primarycontactid", "accounts?$apply=groupby((name))", "accounts?$search=a",
        "accounts(2e0d8a4c-1b3f-4e5d-9c7a-6b8d0f2e4a1c)?$expand=primarycontactid", "accounts?$filter=name%20eq%20@p&@p='a'",
    ])
    def test_options_not_emulated_are_refused_not_ignored(self, dv: Client, query: str) -> None:
        dv.seed("accounts", 2)
        resp = dv.get(query)
        assert resp.status_code == 400, resp.text
        assert "not supported by this emulator" in resp.json()["error"]["message"]

    def test_option_names_are_case_sensitive(self, dv: Client) -> None:
        assert dv.get("accounts?$Select=name").status_code == 400

    def test_unknown_column_in_select_or_filter_is_400_with_dataverse_message(self, dv: Client) -> None:
        for query in ("$select=nope", "$filter=nope eq 'x'", "$orderby=nope"):
            resp = dv.get(f"accounts?{query}")
            assert resp.status_code == 400
            assert resp.json()["error"]["message"] == (
                "Could not find a property named 'nope' on type 'Microsoft.Dynamics.CRM.account'.")

    def test_filter_select_orderby_top_count(self, dv: Client) -> None:
        dv.seed("accounts", 50)
        body = dv.get("accounts?$select=name,creditlimit&$filter=creditlimit ge 25000&$orderby=creditlimit desc"
                      "&$top=5&$count=true").json()
        rows = body["value"]
        assert len(rows) == 5
        assert [r["creditlimit"] for r in rows] == sorted((r["creditlimit"] for r in rows), reverse=True)
        assert all(set(r) == {"@odata.etag", "name", "creditlimit", "accountid"} for r in rows)
        everything = requests.get(f"{dv.admin}/records/accounts", timeout=10).json()["value"]
        assert body["@odata.count"] == sum(1 for r in everything if r["creditlimit"] >= 25000)

    def test_filter_on_modifiedon_takes_unquoted_datetimes(self, dv: Client) -> None:
        dv.seed("accounts", 3)
        assert len(dv.get("accounts?$filter=modifiedon ge 2000-01-01T00:00:00Z").json()["value"]) == 3
        assert dv.get("accounts?$filter=modifiedon ge 2999-01-01T00:00:00Z").json()["value"] == []


class TestPaging:
    def test_maxpagesize_is_capped_at_5000(self, dv: Client) -> None:
        dv.seed("accounts", 5001)
        resp = dv.get("accounts?$select=name", "odata.maxpagesize=9000")
        assert len(resp.json()["value"]) == 5000
        assert resp.headers["Preference-Applied"] == "odata.maxpagesize=5000"
        assert "$skiptoken=%3Ccookie%20pagenumber%3D%222%22" in resp.json()["@odata.nextLink"]

    def test_default_page_is_5000(self, dv: Client) -> None:
        dv.seed("accounts", 5001)
        assert len(dv.get("accounts?$select=name").json()["value"]) == 5000

    def test_pages_cover_every_row_once_even_with_writes_between(self, dv: Client) -> None:
        ids = dv.seed("accounts", 95)
        seen: list[str] = []
        for n, body in enumerate(dv.pages("accounts?$select=name&$orderby=name", "odata.maxpagesize=10")):
            seen += [str(r["accountid"]) for r in body["value"]]  # type: ignore[attr-defined]
            if n == 2:  # rows already read go away and a new one sorts before the cursor: offsets would skip rows
                for ident in seen[:5]:
                    requests.delete(f"{dv.admin}/records/accounts/{ident}", timeout=10).raise_for_status()
                dv.session.post(f"{dv.url}/accounts", json={"name": "AAA"}, timeout=10).raise_for_status()
        assert sorted(seen) == sorted(ids)
        assert len(seen) == len(set(seen))

    def test_paging_repeats_fault_mode_returns_a_row_on_two_pages(self, dv: Client) -> None:
        ids = dv.seed("accounts", 25)
        requests.post(f"{dv.admin}/paging", json={"repeat": 1, "maxPage": 10}, timeout=10).raise_for_status()
        pages = [[str(r["accountid"]) for r in body["value"]]  # type: ignore[attr-defined]
                 for body in dv.pages("accounts?$select=name&$orderby=name", "odata.maxpagesize=5000")]
        assert [len(p) for p in pages] == [10, 10, 7]  # capped at 10, each later page repeating one row
        assert pages[1][0] == pages[0][-1] and pages[2][0] == pages[1][-1]
        assert sorted(set(sum(pages, []))) == sorted(ids)

    def test_top_is_ignored_when_maxpagesize_is_given(self, dv: Client) -> None:
        dv.seed("accounts", 30)
        assert len(dv.get("accounts?$top=3").json()["value"]) == 3
        rows = [r for body in dv.pages("accounts?$top=3", "odata.maxpagesize=10") for r in body["value"]]  # type: ignore[attr-defined]
        assert len(rows) == 30


class TestChangeTracking:
    def test_initial_read_then_changes_then_deletes_as_tombstones(self, dv: Client) -> None:
        ids = dv.seed("accounts", 12)
        pages = list(dv.pages("accounts?$select=name", "odata.track-changes,odata.maxpagesize=5"))
        assert sum(len(p["value"]) for p in pages) == 12  # type: ignore[arg-type]
        delta = str(pages[-1]["@odata.deltaLink"])
        assert "$deltatoken=" in delta and "$select=name" in delta
        requests.post(f"{dv.admin}/edit", json={"entity": "accounts", "id": ids[3], "fields": {"name": "Renamed"}},
                      timeout=10).raise_for_status()
        requests.delete(f"{dv.admin}/records/accounts/{ids[5]}", timeout=10).raise_for_status()
        body = dv.get(delta).json()
        assert body["@odata.context"].endswith("/$delta")
        changed, deleted = body["value"]
        assert (changed["accountid"], changed["name"]) == (ids[3], "Renamed")
        assert deleted == {"@odata.context": f"{dv.url}/$metadata#accounts/$deletedEntity",
                           "id": ids[5], "reason": "deleted"}
        assert dv.get(str(body["@odata.deltaLink"])).json()["value"] == []

    def test_created_then_deleted_between_polls_is_a_delete(self, dv: Client) -> None:
        delta = str(dv.get("accounts", "odata.track-changes").json()["@odata.deltaLink"])
        ident = dv.seed("accounts", 1, seed=9)[0]
        requests.delete(f"{dv.admin}/records/accounts/{ident}", timeout=10).raise_for_status()
        assert [v.get("reason") for v in dv.get(delta).json()["value"]] == ["deleted"]

    def test_a_delta_token_expires_after_seven_days(self, dv: Client) -> None:
        delta = str(dv.get("accounts", "odata.track-changes").json()["@odata.deltaLink"])
        clock = f"{dv.admin}/clock"
        requests.post(clock, json={"advanceS": 7 * 86_400 - 60}, timeout=10).raise_for_status()
        assert dv.get(delta).status_code == 200  # still young enough
        requests.post(clock, json={"advanceS": 120}, timeout=10).raise_for_status()
        resp = dv.get(delta)
        assert resp.status_code == 400 and resp.json()["error"]["code"] == "0x80044352"
        assert "full sync" in resp.json()["error"]["message"]
        fresh = dv.get("accounts", "odata.track-changes").json()["@odata.deltaLink"]  # a full read starts over
        assert dv.get(str(fresh)).status_code == 200

    def test_large_delta_is_paged(self, dv: Client) -> None:
        delta = str(dv.get("accounts", "odata.track-changes").json()["@odata.deltaLink"])
        dv.seed("accounts", 25)
        pages = list(dv.pages(delta, "odata.maxpagesize=10"))
        assert [len(p["value"]) for p in pages] == [10, 10, 5]  # type: ignore[arg-type]
        assert "@odata.deltaLink" in pages[-1]

    @pytest.mark.parametrize("option", ["$filter=name eq 'a'", "$orderby=name", "$top=1"])
    def test_options_refused_with_track_changes(self, dv: Client, option: str) -> None:
        resp = dv.get(f"accounts?{option}", "odata.track-changes")
        assert resp.status_code == 400
        assert resp.json()["error"]["message"] == (
            f'The "{option.split("=")[0]}" query parameter isn\'t supported when Change Tracking is enabled.')

    def test_count_of_changes(self, dv: Client) -> None:
        delta = str(dv.get("accounts", "odata.track-changes").json()["@odata.deltaLink"])
        dv.seed("accounts", 4)
        token = delta.split("$deltatoken=")[1]
        assert dv.get(f"accounts/$count?$deltatoken={token}").text == "4"
