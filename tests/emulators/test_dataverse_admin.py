"""Dataverse emulator admin surface (DESIGN "The local stack's contract") and webhooks."""
from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from emulators.server import Request
from emulators.stack import Stack
from tests.conftest import bearer

ANNA = "a7c1e3f5-2b4d-4f6a-8c0e-1d3f5a7b9c2e"


class Admin:
    def __init__(self, stack: Stack):
        self.stack = stack
        self.root = f"{stack.info.dataverse_url}/_admin"
        self.url = f"{stack.info.dataverse_url}/api/data/v9.2"
        self.auth = bearer(stack, stack.info.dataverse_scope)

    def post(self, action: str, body: dict[str, Any]) -> requests.Response:
        return requests.post(f"{self.root}/{action}", json=body, timeout=60)

    def records(self, entity: str) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = requests.get(f"{self.root}/records/{entity}", timeout=30).json()["value"]
        return rows


@pytest.fixture(name="admin")
def _admin(fresh_stack: Stack) -> Iterator[Admin]:
    """The reset Dataverse emulator's admin surface; the request hook is cleared afterwards."""
    yield Admin(fresh_stack)
    fresh_stack.dataverse.on_request = None


class _Receiver(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], dict[str, Any]]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((dict(self.headers), json.loads(body)))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(name="receiver")
def _receiver() -> Iterator[tuple[str, list[tuple[dict[str, str], dict[str, Any]]]]]:
    """An HTTP endpoint on loopback collecting webhook POSTs."""
    _Receiver.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", _Receiver.received
    server.shutdown()
    server.server_close()


class TestSeed:
    def test_seed_is_deterministic(self, admin: Admin) -> None:
        first = admin.post("seed", {"entity": "accounts", "count": 20, "seed": 4}).json()["ids"]
        names = [r["name"] for r in admin.records("accounts")]
        requests.post(f"{admin.root}/reset", timeout=10).raise_for_status()
        assert admin.post("seed", {"entity": "account", "count": 20, "seed": 4}).json()["ids"] == first
        assert [r["name"] for r in admin.records("accounts")] == names
        assert len(set(first)) == 20

    def test_seed_100000_accounts_is_fast(self, admin: Admin) -> None:
        started = time.perf_counter()
        ids = admin.post("seed", {"entity": "accounts", "count": 100_000, "seed": 1}).json()["ids"]
        assert len(ids) == 100_000
        assert time.perf_counter() - started < 5

    def test_reset_clears_rows_and_keeps_reference_data(self, admin: Admin) -> None:
        admin.post("seed", {"entity": "contacts", "count": 3, "seed": 1})
        requests.post(f"{admin.root}/reset", timeout=10).raise_for_status()
        assert admin.records("contacts") == []
        assert {r["isocurrencycode"] for r in admin.records("transactioncurrencies")} >= {"EUR", "USD"}
        assert any(r["systemuserid"] == ANNA for r in admin.records("systemusers"))


class TestEditAndDelete:
    def test_edit_is_a_persons_change_with_new_etag(self, admin: Admin) -> None:
        ident = admin.post("seed", {"entity": "accounts", "count": 1, "seed": 1}).json()["ids"][0]
        before = admin.records("accounts")[0]
        after = admin.post("edit", {"entity": "accounts", "id": ident, "fields": {"name": "Edited"},
                                    "by": "Piet Jansen", "at": "2030-01-02T03:04:05Z"}).json()
        assert after["name"] == "Edited" and after["modifiedon"] == "2030-01-02T03:04:05Z"
        assert after["versionnumber"] > before["versionnumber"]
        users = {u["systemuserid"]: u["fullname"] for u in admin.records("systemusers")}
        assert users[after["_modifiedby_value"]] == "Piet Jansen"

    def test_delete_as_a_person(self, admin: Admin) -> None:
        ident = admin.post("seed", {"entity": "products", "count": 2, "seed": 1}).json()["ids"][0]
        assert requests.delete(f"{admin.root}/records/products/{ident}", timeout=10).status_code == 204
        assert [r["productid"] for r in admin.records("products")] != [] and \
            ident not in [r["productid"] for r in admin.records("products")]

    def test_request_counts_per_route(self, admin: Admin) -> None:
        requests.get(f"{admin.url}/accounts", headers=admin.auth, timeout=10)
        requests.get(f"{admin.url}/accounts(2e0d8a4c-1b3f-4e5d-9c7a-6b8d0f2e4a1c)", headers=admin.auth, timeout=10)
        counts = requests.get(f"{admin.root}/requests", timeout=10).json()
        assert counts["routes"]["GET /api/data/v9.2/accounts"] == 1
        assert counts["routes"]["GET /api/data/v9.2/accounts({id})"] == 1

    def test_on_request_hook_lands_an_edit_between_read_and_write(self, admin: Admin) -> None:
        ident = admin.post("seed", {"entity": "accounts", "count": 1, "seed": 1}).json()["ids"][0]
        etag = requests.get(f"{admin.url}/accounts({ident})", headers=admin.auth, timeout=10).headers["ETag"]

        def person_edits(req: Request) -> None:
            if req.method == "PATCH":
                admin.stack.dataverse.on_request = None
                admin.post("edit", {"entity": "accounts", "id": ident, "fields": {"telephone1": "999"}})

        admin.stack.dataverse.on_request = person_edits
        resp = requests.patch(f"{admin.url}/accounts({ident})", json={"name": "mine"},
                              headers={**admin.auth, "If-Match": etag}, timeout=10)
        assert resp.status_code == 412


class TestWebhooks:
    def test_changes_are_posted_with_the_registered_header(
            self, admin: Admin, receiver: tuple[str, list[tuple[dict[str, str], dict[str, Any]]]]) -> None:
        url, received = receiver
        hook = admin.post("webhooks", {"url": url, "entities": ["account"], "headers": {"x-koppel-secret": "s3"}})
        assert hook.status_code == 201
        resp = requests.post(f"{admin.url}/accounts", json={"name": "A"}, headers=admin.auth, timeout=10)
        ident = resp.headers["OData-EntityId"].rsplit("(", 1)[1].rstrip(")")
        admin.post("edit", {"entity": "accounts", "id": ident, "fields": {"name": "B"}, "by": "Anna"})
        requests.delete(f"{admin.root}/records/accounts/{ident}", timeout=10)
        admin.post("seed", {"entity": "contacts", "count": 1, "seed": 1})  # not a watched table
        admin.post("webhooks/flush", {})
        assert [h["x-koppel-secret"] for h, _ in received] == ["s3"] * 3
        bodies = [b for _, b in received]
        assert [b["MessageName"] for b in bodies] == ["Create", "Update", "Delete"]
        assert {b["PrimaryEntityId"] for b in bodies} == {ident}
        assert {b["PrimaryEntityName"] for b in bodies} == {"account"}
        assert bodies[1]["UserId"] == bodies[1]["InitiatingUserId"] == ANNA
        assert bodies[0]["OperationCreatedOn"].startswith("/Date(")

    def test_rolled_back_writes_are_not_posted(
            self, admin: Admin, receiver: tuple[str, list[tuple[dict[str, str], dict[str, Any]]]]) -> None:
        url, received = receiver
        admin.post("webhooks", {"url": url, "entities": ["account"], "headers": {}})
        requests.post(f"{admin.url}/accounts/Microsoft.Dynamics.CRM.CreateMultiple", headers=admin.auth, timeout=10,
                      json={"Targets": [{"@odata.type": "Microsoft.Dynamics.CRM.account", "name": "A"},
                                        {"@odata.type": "Microsoft.Dynamics.CRM.account", "bad": 1}]})
        admin.post("webhooks/flush", {})
        assert received == []
