"""The emulators' injected faults and limits (issue: emulators; STYLE §20): latency, failure share,
stalls and concurrency caps, each deterministic and switchable at run time through /_admin/faults."""
from __future__ import annotations

import concurrent.futures
import socket
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from emulators.server import EmulatorServer, Request, Response, WireError, default_route_of, json_response
from emulators.stack import Stack
from emulators.tls import Certificates, ensure_certificates


class SlowService:
    """A service whose every request takes `delay` seconds, counting how many run at once."""

    name = "slow"
    retry_after_statuses: frozenset[int] = frozenset()

    def __init__(self, delay: float):
        self.delay = delay
        self.running = 0
        self.peak = 0
        self.lock = threading.Lock()

    def handle(self, req: Request) -> Response:
        with self.lock:
            self.running += 1
            self.peak = max(self.peak, self.running)
        time.sleep(self.delay)
        with self.lock:
            self.running -= 1
        return json_response(200, {"ok": True})

    def handle_admin(self, req: Request, action: str) -> Response | None:
        return None

    def throttled(self, retry_after_s: int) -> WireError:
        return WireError(429, "Throttled", "slow down", {"Retry-After": str(retry_after_s)})

    def route_of(self, req: Request) -> str:
        return default_route_of(req)


@pytest.fixture(name="certs", scope="module")
def _certs(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    """A CA and server certificate for the standalone servers of this module."""
    return ensure_certificates(tmp_path_factory.mktemp("faults"))


def serve(service: SlowService, certs: Certificates, **kw: Any) -> Iterator[EmulatorServer]:
    server = EmulatorServer(service, certs.server_context(), **kw).start()
    yield server
    server.stop()


def get_all(url: str, n: int, certs: Certificates) -> list[int]:
    with concurrent.futures.ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(lambda _: requests.get(url, verify=str(certs.ca_path), timeout=30).status_code, range(n)))


class TestConcurrencyCap:
    def test_bc_style_cap_queues_beyond_five_processing(self, certs: Certificates) -> None:
        service = SlowService(0.3)
        for server in serve(service, certs, concurrency_cap=5, queue_limit=95,
                            over_cap=lambda: WireError(429, "TooMany", "queue full")):
            statuses = get_all(f"{server.url}/x", 12, certs)
        assert statuses == [200] * 12
        assert service.peak == 5

    def test_dataverse_style_cap_refuses_at_once(self, certs: Certificates) -> None:
        service = SlowService(0.5)
        for server in serve(service, certs, concurrency_cap=2, queue_limit=0,
                            over_cap=lambda: WireError(429, "0x80072326", "too many concurrent")):
            statuses = get_all(f"{server.url}/x", 5, certs)
        assert statuses.count(200) == 2 and statuses.count(429) == 3
        assert service.peak == 2


def _gated(n: int, call: Callable[[int], requests.Response], gate: threading.Event) -> list[requests.Response]:
    """Send `n` calls at once while the service holds each at `gate`; open it once one answer is
    back (the refusal) or after 20 s, then return the answers in order."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=n) as pool:
        futures = [pool.submit(call, i) for i in range(n)]
        concurrent.futures.wait(futures, timeout=20, return_when=concurrent.futures.FIRST_COMPLETED)
        gate.set()
        return [f.result() for f in futures]


class TestStackLimits:
    """The stack's own limits, as the real services set them (api-facts §A.7, §B.7)."""

    def test_bc_processes_5_queues_95_and_refuses_the_101st(self, fresh_stack: Stack) -> None:
        running, peak, lock, gate = [0], [0], threading.Lock(), threading.Event()

        def held(req: Request) -> None:  # runs inside the server's concurrency cap
            with lock:
                running[0] += 1
                peak[0] = max(peak[0], running[0])
            gate.wait(30)
            with lock:
                running[0] -= 1

        fresh_stack.bc.on_request = held
        try:
            url = f"{fresh_stack.info.bc_url}/v2.0/x"
            answers = _gated(101, lambda _: requests.get(url, timeout=60), gate)
        finally:
            fresh_stack.bc.on_request = None
        statuses = [a.status_code for a in answers]
        assert statuses.count(429) == 1 and statuses.count(401) == 100  # 401: served, just not signed in
        assert peak[0] == 5

    def test_dataverse_allows_52_concurrent_per_user_not_per_org(self, fresh_stack: Stack,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
        dv, gate = fresh_stack.dataverse, threading.Event()
        inner = dv._handle_as

        def held(req: Request, user: str) -> Response:
            gate.wait(30)
            return inner(req, user)

        monkeypatch.setattr(dv, "_handle_as", held)

        def token(app_id: str) -> dict[str, str]:
            jwt = dv.signer.issue(tenant=fresh_stack.info.tenant, client_id=app_id, audience=dv.audience, ttl_s=600)
            return {"Authorization": f"Bearer {jwt}"}

        headers = [token(fresh_stack.info.client_id)] * 53 + [token("6f1c2b7e-3d4a-4e5f-8a9b-0c1d2e3f4a5b")] * 5
        url = f"{fresh_stack.info.dataverse_url}/api/data/v9.2/WhoAmI"
        answers = _gated(len(headers), lambda i: requests.get(url, headers=headers[i], timeout=60), gate)
        refused = [a for a in answers[:53] if a.status_code == 429]
        assert len(refused) == 1 and refused[0].json()["error"]["code"] == "0x80072326"
        assert [a.status_code for a in answers[53:]] == [200] * 5  # the other user is not held back


class TestTransport:
    """The emulators must never be what a benchmark measures."""

    def test_a_small_get_on_a_reused_connection_takes_a_few_ms(self, certs: Certificates) -> None:
        # Nagle plus delayed ACKs held each answer ~40 ms before TCP_NODELAY
        for server in serve(SlowService(0.0), certs):
            with requests.Session() as http:
                times = []
                for _ in range(30):
                    start = time.perf_counter()
                    assert http.post(f"{server.url}/x", json={"a": 1}, verify=str(certs.ca_path), timeout=10).status_code == 200
                    times.append(time.perf_counter() - start)
        assert statistics.median(times[5:]) < 0.015

    def test_an_idle_connection_does_not_block_a_fresh_request(self, certs: Certificates) -> None:
        # the TLS handshake ran on the accept thread: one silent client held up every new one
        for server in serve(SlowService(0.0), certs):
            with socket.create_connection(("127.0.0.1", server.port), timeout=5):
                time.sleep(0.2)  # accepted, never says hello
                start = time.perf_counter()
                status = requests.get(f"{server.url}/x", verify=str(certs.ca_path), timeout=5).status_code
                assert status == 200 and time.perf_counter() - start < 2.0


class TestFaults:
    @pytest.fixture(name="bc_url")
    def _bc_url(self, fresh_stack: Stack) -> str:
        return fresh_stack.info.bc_url

    def set_faults(self, url: str, **faults: object) -> None:
        requests.post(f"{url}/_admin/faults", json=faults, timeout=10).raise_for_status()

    def test_latency_is_added_to_every_request(self, bc_url: str) -> None:
        self.set_faults(bc_url, latencyMs=300)
        start = time.perf_counter()
        status = requests.get(f"{bc_url}/v2.0/x", timeout=10).status_code
        assert time.perf_counter() - start >= 0.3 and status == 401  # not authenticated, but served

    def test_a_failure_share_is_deterministic_for_a_seed(self, bc_url: str) -> None:
        def run() -> list[int]:
            self.set_faults(bc_url, failShare=0.5, failStatus=504, seed=11)
            return [requests.get(f"{bc_url}/v2.0/x", timeout=10).status_code for _ in range(20)]

        first, second = run(), run()
        assert first == second
        assert 504 in first and 401 in first  # 401: no token, but the request got through

    def test_bc_sends_retry_after_on_503_as_documented(self, fresh_stack: Stack) -> None:
        bc_url, dv_url = fresh_stack.info.bc_url, fresh_stack.info.dataverse_url
        for url in (bc_url, dv_url):
            self.set_faults(url, failShare=1.0, failStatus=503, retryAfterS=7)
        bc = requests.get(f"{bc_url}/v2.0/x", timeout=10)
        assert bc.status_code == 503 and bc.headers["Retry-After"] == "7"  # api-facts §F.7
        dv = requests.get(f"{dv_url}/api/data/v9.2/accounts", timeout=10)
        assert dv.status_code == 503 and "Retry-After" not in dv.headers

    def test_stall_holds_only_the_next_requests(self, bc_url: str) -> None:
        self.set_faults(bc_url, stallNext=1, stallS=1.0)
        times = []
        for _ in range(2):
            start = time.perf_counter()
            requests.get(f"{bc_url}/v2.0/x", timeout=10)
            times.append(time.perf_counter() - start)
        assert times[0] >= 1.0 and times[1] < 0.5

    def test_unknown_fault_settings_are_refused(self, bc_url: str) -> None:
        resp = requests.post(f"{bc_url}/_admin/faults", json={"latencyMS": 5}, timeout=10)
        assert resp.status_code == 400 and "latencyMS" in resp.text

    def test_admin_routes_are_neither_counted_nor_faulted(self, bc_url: str) -> None:
        self.set_faults(bc_url, failShare=1.0, failStatus=503)
        counts = requests.get(f"{bc_url}/_admin/requests", timeout=10)
        assert counts.status_code == 200 and counts.json()["total"] == 0
