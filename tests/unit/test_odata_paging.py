"""iter_pages: follows @odata.nextLink as given, keeps the Prefer header on every page, stops on a repeat."""
from __future__ import annotations

from urllib.parse import unquote

import pytest
import requests

from core.errors import RemoteError
from core.odata import ODataSession
from tests.unit.test_odata_fakes import fake_session, make_response

BASE = "https://h/api/data/v9.2/accounts"


def session_for(pages: dict[str, dict[str, object]]) -> tuple[ODataSession, list[requests.PreparedRequest]]:
    def answer(request: requests.PreparedRequest) -> requests.Response:
        return make_response(200, pages[unquote(request.url or "")])
    http, adapter = fake_session(answer)
    return ODataSession(service="crm", session=http, sleep=lambda s: None), adapter.requests


class TestPaging:
    def test_all_pages_yielded_with_the_same_prefer(self) -> None:
        first = f"{BASE}?$select=name"
        link2 = f"{BASE}?$select=name&$skiptoken=<cookie page='2'/>"
        link3 = f"{BASE}?$select=name&$skiptoken=<cookie page='3'/>"
        session, sent = session_for({
            first: {"value": [1, 2], "@odata.nextLink": link2},
            link2: {"value": [3], "@odata.nextLink": link3},
            link3: {"value": [4]},
        })
        pages = list(session.iter_pages(BASE, {"$select": "name"}, {"Prefer": "odata.maxpagesize=2"}))
        assert [p["value"] for p in pages] == [[1, 2], [3], [4]]
        assert [r.headers["Prefer"] for r in sent] == ["odata.maxpagesize=2"] * 3
        assert unquote(sent[1].url or "") == link2  # the link is followed exactly as given

    def test_repeated_link_raises(self) -> None:
        first = f"{BASE}?$select=name"
        link2 = f"{BASE}?$select=name&$skiptoken=2"
        session, sent = session_for({
            first: {"value": [1], "@odata.nextLink": link2},
            link2: {"value": [2], "@odata.nextLink": link2},
        })
        with pytest.raises(RemoteError, match="repeated a nextLink"):
            list(session.iter_pages(BASE, {"$select": "name"}))
        assert len(sent) == 2

    def test_link_back_to_the_first_page_raises(self) -> None:
        first = f"{BASE}?$select=name"
        link2 = f"{BASE}?$select=name&$skiptoken=2"
        session, _ = session_for({
            first: {"value": [1], "@odata.nextLink": link2},
            link2: {"value": [2], "@odata.nextLink": first},
        })
        with pytest.raises(RemoteError):
            list(session.iter_pages(BASE, {"$select": "name"}))

    def test_single_page(self) -> None:
        session, sent = session_for({BASE: {"value": []}})
        assert list(session.iter_pages(BASE)) == [{"value": []}]
        assert len(sent) == 1
