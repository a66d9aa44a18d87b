"""HTTP functions under devhost: routing, keys, status codes and concurrency as the Functions host answers."""
from __future__ import annotations

import http.client
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from devhost import LocalHost, serve
from tests.devhost.conftest import KEY, Calls, build_app

AUTH = {"x-functions-key": KEY}


def get(host: LocalHost, path: str, **kwargs: Any) -> requests.Response:
    with requests.Session() as s:
        return s.request(kwargs.pop("method", "GET"), host.url + path, timeout=10, **kwargs)


class TestRouting:
    def test_route_and_query_params_reach_the_function(self, host: LocalHost) -> None:
        resp = get(host, "/api/items/42?q=hello%20world&n=1", headers={**AUTH, "X-Custom": "yes"})
        assert resp.status_code == 200
        assert resp.headers["Content-Type"] == "application/json"
        data = resp.json()
        assert data["route"] == {"id": "42"}
        assert data["params"] == {"q": "hello world", "n": "1"}
        assert data["header"] == "yes"
        assert data["url"] == f"{host.url}/api/items/42?q=hello%20world&n=1"

    def test_body_and_method_reach_the_function(self, host: LocalHost) -> None:
        resp = get(host, "/api/items/7", method="PUT", headers=AUTH, data=b'{"a": 1}')
        assert resp.json()["method"] == "PUT"
        assert resp.json()["body"] == '{"a": 1}'

    def test_chunked_body_is_read(self, host: LocalHost) -> None:
        resp = get(host, "/api/items/7", method="PUT", headers=AUTH, data=iter([b'{"a"', b": 2}"]))
        assert resp.json()["body"] == '{"a": 2}'

    @pytest.mark.parametrize(
        ("path", "expected"),
        [("/api/items/new", "literal wins"), ("/api/items/5", '"id": "5"'), ("/api/items/abc", '"name": "abc"')],
        ids=["literal", "constrained", "free"],
    )
    def test_most_specific_route_wins(self, host: LocalHost, path: str, expected: str) -> None:
        assert expected in get(host, path, headers=AUTH).text

    def test_catch_all_takes_the_rest_of_the_path(self, host: LocalHost) -> None:
        assert get(host, "/api/files/a/b/c%20d.txt").json()["route"] == {"path": "a/b/c d.txt"}

    @pytest.mark.parametrize(
        ("method", "path"),
        [("GET", "/api/nothing"), ("GET", "/items/5"), ("GET", "/api"), ("DELETE", "/api/items/5"),
         ("PUT", "/api/items/abc"), ("HEAD", "/api/health"), ("POST", "/api/health")],
        ids=["unknown-route", "no-prefix", "prefix-only", "method-not-accepted", "method-of-other-route",
             "head-on-get-only", "post-on-get-only"],
    )
    def test_unmatched_route_or_method_is_empty_404(self, host: LocalHost, method: str, path: str) -> None:
        # The Functions host answers 404, never 405, for a method a route does not accept
        # (azure-functions-host#10098).
        resp = get(host, path, method=method, headers=AUTH)
        assert resp.status_code == 404
        assert resp.content == b""

    def test_route_prefix_from_host_json(self, tmp_path: Any) -> None:
        (tmp_path / "host.json").write_text('{"version": "2.0", "extensions": {"http": {"routePrefix": ""}}}')
        with serve(build_app(Calls(), queue_name="devhost-prefix"), function_key=KEY, timers=False,
                   app_dir=tmp_path) as other:
            assert get(other, "/health").text == "ok"
            assert get(other, "/api/health").status_code == 404


class TestKeys:
    def test_key_in_header(self, host: LocalHost) -> None:
        assert get(host, "/api/items/1", headers={"x-functions-key": KEY}).status_code == 200

    def test_key_in_code_query(self, host: LocalHost) -> None:
        assert get(host, f"/api/items/1?code={KEY}").status_code == 200

    @pytest.mark.parametrize("headers", [{}, {"x-functions-key": "wrong"}], ids=["missing", "wrong"])
    def test_function_route_without_the_key_is_empty_401(self, host: LocalHost, headers: dict[str, str]) -> None:
        resp = get(host, "/api/items/1", headers=headers)
        assert resp.status_code == 401
        assert resp.content == b""

    def test_admin_level_accepts_the_key_as_master_key(self, host: LocalHost) -> None:
        assert get(host, "/api/elevated", method="POST").status_code == 401
        assert get(host, "/api/elevated", method="POST", headers=AUTH).status_code == 204

    def test_anonymous_route_needs_no_key(self, host: LocalHost) -> None:
        resp = get(host, "/api/health")
        assert (resp.status_code, resp.text) == (200, "ok")
        assert resp.headers["Content-Type"] == "text/plain; charset=utf-8"


class TestResponses:
    def test_status_headers_and_charset(self, host: LocalHost) -> None:
        resp = get(host, "/api/headers")
        assert resp.status_code == 201
        assert resp.headers["Content-Type"] == "text/html; charset=latin-1"
        assert resp.headers["X-One"] == "1"
        assert resp.cookies["a"] == "1"

    def test_function_that_raises_gives_empty_500_and_is_logged(
            self, host: LocalHost, caplog: pytest.LogCaptureFixture) -> None:
        with caplog.at_level(logging.INFO, logger="devhost"):
            resp = get(host, "/api/boom")
        assert resp.status_code == 500
        assert resp.content == b""
        failed = [r for r in caplog.records if "Failed" in r.getMessage()]
        assert failed and failed[0].exc_info is not None
        assert get(host, "/api/health").status_code == 200  # the host lives on

    def test_function_logs_carry_name_and_invocation_id(
            self, host: LocalHost, caplog: pytest.LogCaptureFixture) -> None:
        with caplog.at_level(logging.INFO):
            get(host, "/api/items/9", headers=AUTH)
        [record] = [r for r in caplog.records if r.name == "sample"]
        assert record.function_name == "get_item"  # type: ignore[attr-defined]
        started = [r for r in caplog.records if r.name == "devhost" and "Executing" in r.getMessage()]
        assert record.invocation_id in started[-1].getMessage()  # type: ignore[attr-defined]

    def test_connection_is_kept_alive(self, host: LocalHost) -> None:
        conn = http.client.HTTPConnection(host.url.removeprefix("http://"), timeout=10)
        try:
            conn.request("GET", "/api/health")
            first = conn.getresponse()
            first.read()
            sock = conn.sock
            conn.request("GET", "/api/health")
            conn.getresponse().read()
            assert not first.will_close
            assert conn.sock is sock
        finally:
            conn.close()


class TestConcurrency:
    @pytest.mark.parametrize("path", ["/api/slow?s=0.5", "/api/async-slow?s=0.5"], ids=["sync", "async"])
    def test_fifty_slow_requests_run_at_once(self, host: LocalHost, path: str) -> None:
        started = time.monotonic()
        with ThreadPoolExecutor(50) as pool:
            statuses = list(pool.map(lambda _: get(host, path).status_code, range(50)))
        elapsed = time.monotonic() - started
        assert statuses == [200] * 50
        assert elapsed < 5, f"50 × 0.5 s took {elapsed:.1f} s: requests were serialised"

    def test_slow_function_does_not_block_others(self, host: LocalHost) -> None:
        with ThreadPoolExecutor(1) as pool:
            slow = pool.submit(get, host, "/api/slow?s=2")
            time.sleep(0.1)
            started = time.monotonic()
            assert get(host, "/api/health").status_code == 200
            assert time.monotonic() - started < 1
            assert slow.result().status_code == 200


@pytest.mark.parametrize("route", ["admin", "admin/page", "Admin/x"], ids=["admin", "admin-sub", "admin-case"])
def test_routes_the_functions_host_reserves_are_refused_at_start(route: str) -> None:
    import azure.functions as func

    app = func.FunctionApp()

    @app.route(route=route, methods=["GET"])
    def page(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("x")

    with pytest.raises(ValueError, match="built-in admin routes"):
        serve(app, timers=False)
