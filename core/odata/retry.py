"""RetryPolicy: when to try a request again and how long to wait first (urllib3's `Retry`, immutable).

`policy = policy.increment(error, idempotent=…)` returns the next policy or raises `error` when
it must not be retried; `policy.wait_for(error)` is the pause. The session sleeps, never this.
"""
from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from core.errors import KoppelError, Retriable

__all__ = ["RetryPolicy", "CONNECT_FAILED", "READ_FAILED", "NOT_EXECUTED"]

# Wire-code stand-ins for transport failures (a Retriable with status None).
CONNECT_FAILED = "ConnectFailed"  # nothing was sent: safe to retry any request
READ_FAILED = "ReadFailed"  # sent, answer lost: the request may have reached the server
NOT_EXECUTED = "NotExecuted"  # an operation a batch answered without running it: safe to resend

# Refusals before any work was done: 429 (throttled, api-facts §A.7/§B.7), 503 (BC's queue
# timed out, Dataverse unavailable). Retrying them is safe even for a POST.
_NOT_PROCESSED = frozenset({429, 503})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How many attempts, and how long to wait between them.

    Attributes:
        attempts: attempts in all, the first one included.
        backoff_factor: the first back-off in seconds; it doubles per retry.
        backoff_max: the back-off cap, before jitter.
        retry_after_max: the cap on a server's Retry-After.
        jitter: up to this many seconds added at random to each back-off.
        retries: retries made so far (state, moved on by `increment`).
        rand: a [0, 1) source for the jitter; injected so tests are deterministic.
    """

    attempts: int = 6
    backoff_factor: float = 0.5
    backoff_max: float = 30.0
    retry_after_max: float = 120.0
    jitter: float = 0.25
    retries: int = 0
    rand: Callable[[], float] = field(default=random.random, repr=False, compare=False)

    def is_exhausted(self) -> bool:
        return self.retries + 1 >= self.attempts

    def is_retry(self, error: BaseException, *, idempotent: bool) -> bool:
        """Whether `error` is worth another attempt for a request of this kind.

        Connect failures and batch operations the server did not run retry anything. A lost answer, 502, 504 or another
        5xx may follow work the server did: retry only idempotent requests (GET, DELETE, PATCH
        with If-Match, PATCH with If-None-Match: * and our own id). 429/503 retry anything.
        """
        if not isinstance(error, Retriable):
            return False
        if error.status is None:
            return error.code in (CONNECT_FAILED, NOT_EXECUTED) or idempotent
        return error.status in _NOT_PROCESSED or idempotent

    def increment(self, error: KoppelError, *, idempotent: bool = True) -> RetryPolicy:
        """The policy after one more failed attempt.

        Raises:
            KoppelError: `error` itself, when it must not be retried or no attempts are left.
        """
        if self.is_exhausted() or not self.is_retry(error, idempotent=idempotent):
            raise error
        return replace(self, retries=self.retries + 1)

    def backoff(self) -> float:
        """`factor·2^(n-1)` for the n-th retry, capped at `backoff_max`, plus jitter; 0 before any."""
        if self.retries <= 0:
            return 0.0
        base = min(self.backoff_max, self.backoff_factor * 2.0 ** (self.retries - 1))
        spread: float = self.rand() * self.jitter
        return base + spread

    def wait_for(self, error: BaseException) -> float:
        """The pause before the next attempt: the server's Retry-After (capped) when it gave one."""
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None:
            return min(max(0.0, float(retry_after)), self.retry_after_max)
        return self.backoff()
