"""ODataSession: one requests.Session per client, its concurrency cap, the retry loop and paging.

Throttling is the normal case (DESIGN decision 6): every request of both clients goes through
`request`, which classifies the answer and waits out 429/5xx and transport failures here only.
"""
from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import urljoin

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from core.errors import Rejected, RemoteError, Retriable
from core.odata.classify import classify, safe_path
from core.odata.literals import url_with_query
from core.odata.retry import CONNECT_FAILED, READ_FAILED, RetryPolicy

__all__ = ["ODataSession", "is_idempotent", "DEFAULT_TIMEOUT"]

DEFAULT_TIMEOUT = (10.0, 240.0)  # connect, read; Dataverse's own client waits 4 min (api-facts §D)
_ALWAYS_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


def is_idempotent(method: str, headers: Mapping[str, str] | None) -> bool:
    """GET/DELETE/PUT, or a PATCH made conditional by If-Match or If-None-Match (DESIGN decision 3)."""
    upper = method.upper()
    if upper in _ALWAYS_IDEMPOTENT:
        return True
    names = {k.lower() for k in (headers or {})}
    return upper == "PATCH" and bool(names & {"if-match", "if-none-match"})


def _is_connect_error(exc: requests.RequestException) -> bool:
    """True when the request cannot have been sent: no connection was ever made."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    if not isinstance(exc, requests.ConnectionError):
        return False
    reason = exc.args[0] if exc.args else None
    reason = getattr(reason, "reason", reason)  # MaxRetryError wraps the cause
    return isinstance(reason, (NewConnectionError, ConnectTimeoutError))


class ODataSession:
    """The HTTP side both clients share.

    Args:
        service: "erp" or "crm", carried on errors.
        auth: the requests auth (an `MsalAuth`), or None.
        headers: default headers for every request.
        concurrency: requests in flight at once (BC 5, Dataverse 52: api-facts §B.7, §A.7).
        retry: the retry policy each request starts from.
        timeout: (connect, read) seconds.
        sleep: how to wait; tests pass a recorder so they never sleep.
        clock: wall-clock seconds, for Retry-After dates.
        session: a prepared requests.Session (tests mount a fake adapter on it).
    """

    def __init__(
        self,
        *,
        service: str,
        auth: requests.auth.AuthBase | None = None,
        headers: Mapping[str, str] | None = None,
        concurrency: int = 4,
        retry: RetryPolicy | None = None,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        session: requests.Session | None = None,
    ):
        self.service = service
        self.retry = retry or RetryPolicy()
        self.timeout = timeout
        self.concurrency = concurrency
        self.sleep = sleep
        self._clock = clock
        self._slots = threading.BoundedSemaphore(concurrency)
        self._stats: Counter[str] = Counter()
        self._stats_lock = threading.Lock()
        if session is None:
            session = requests.Session()
            adapter = HTTPAdapter(pool_connections=1, pool_maxsize=concurrency)
            session.mount("https://", adapter)
            session.mount("http://", adapter)
        session.auth = auth
        session.headers.update(headers or {})
        self.http = session

    @property
    def stats(self) -> dict[str, int]:
        """HTTP attempts sent so far by method (retries included), for benchmarks."""
        with self._stats_lock:
            return dict(self._stats)

    def close(self) -> None:
        self.http.close()

    def _send_once(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        with self._stats_lock:
            self._stats[method] += 1
        with self._slots:  # held while on the wire, never while backing off
            try:
                return self.http.request(method, url, timeout=self.timeout, **kwargs)
            except requests.exceptions.SSLError as err:
                raise Rejected(f"{method} {safe_path(url)}: TLS verification failed", service=self.service,
                               code="TlsError", method=method, path=safe_path(url)) from err
            except requests.RequestException as err:
                connect = _is_connect_error(err)
                note = "no connection" if connect else "the answer was lost; the request may have reached the server"
                raise Retriable(f"{method} {safe_path(url)}: {type(err).__name__} ({note})", service=self.service,
                                code=CONNECT_FAILED if connect else READ_FAILED, method=method,
                                path=safe_path(url)) from err

    def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str | None] | None = None,
        json: Any = None,
        data: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
    ) -> requests.Response:
        """Send a request, retrying what the policy allows, and return the successful answer.

        Args:
            method: the HTTP method.
            url: the absolute URL (query options may go in `params`).
            params: query options; encoded with %20 and literal-safe characters.
            json: a JSON body.
            data: a raw body (multipart `$batch`).
            headers: extra headers for this request.
            idempotent: whether repeating it is harmless; derived from method and headers when None.

        Returns:
            The 2xx (or 304) response.

        Raises:
            Retriable: still throttled/unavailable when the attempts ran out, or a lost answer
                to a request that is not idempotent.
            StaleWrite, Rejected, AuthError: the classified answer (never retried).
        """
        full_url = url_with_query(url, params)
        safe = is_idempotent(method, headers) if idempotent is None else idempotent
        policy = self.retry
        while True:
            try:
                response = self._send_once(method, full_url, json=json, data=data,
                                           headers=dict(headers or {}))
                classify(response, service=self.service, clock=self._clock)
                return response
            except Retriable as err:
                policy = policy.increment(err, idempotent=safe)
                self.sleep(policy.wait_for(err))

    def get_json(self, url: str, *, params: Mapping[str, str | None] | None = None,
                 headers: Mapping[str, str] | None = None) -> Any:
        return self.request("GET", url, params=params, headers=headers).json()

    def iter_pages(
        self,
        url: str,
        params: Mapping[str, str | None] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Yield each page's JSON, following `@odata.nextLink` as given.

        The same headers (and so the same `Prefer: odata.maxpagesize`) go with every page, as
        Dataverse requires (api-facts §A.3). The link is never edited.

        Raises:
            RemoteError: the service sent a link it had already sent (paging would never end).
        """
        seen: set[str] = set()
        current = url_with_query(url, params)
        while True:
            page = self.request("GET", current, headers=headers).json()
            if not isinstance(page, dict):
                raise RemoteError(f"GET {safe_path(current)}: the answer is not an OData collection",
                                  service=self.service, method="GET", path=safe_path(current))
            yield page
            link = page.get("@odata.nextLink")
            if not link:
                return
            next_url = urljoin(current, str(link))
            if next_url in seen or next_url == current:
                raise RemoteError(f"GET {safe_path(next_url)}: the service repeated a nextLink",
                                  service=self.service, code="RepeatedNextLink", method="GET",
                                  path=safe_path(next_url))
            seen.add(current)
            current = next_url

