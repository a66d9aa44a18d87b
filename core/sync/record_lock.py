"""One single-record operation per record at a time (SPEC X8, X11): "Synchronize now", the ribbon and "create new"
clicked twice, or by two people, run one after the other.

Two callers syncing one record at once each write the destination over the ETag they read and then the coupling;
between those two writes the other sees a destination changed by Koppel itself that its coupling does not know
yet, which looks like a person's edit — a false conflict, or an older value written back. A short lock per record
(a row in the MappingState table, taken with a conditional write) orders them. A crashed holder's lock expires.
"""
from __future__ import annotations

import random
import time
from collections.abc import Iterator
from contextlib import contextmanager

from core.deps import Deps
from core.errors import Conflict
from core.model import Side

__all__ = ["LOCK_TTL_S", "WAIT_S", "one_at_a_time"]

LOCK_TTL_S = 60.0  # longer than any single-record operation; a crashed holder blocks the record at most this long
WAIT_S = 20.0  # how long a second caller waits for the first before it is told to try again


@contextmanager
def one_at_a_time(deps: Deps, mapping: str, side: Side, record_id: str, *, wait_s: float = WAIT_S) -> Iterator[None]:
    """Hold the lock on one record of `mapping` while the block runs; waits for another holder, then Conflict (busy)."""
    record = f"{side.value}:{record_id}"
    state = deps.storage().state
    owner = deps.new_id()
    deadline = time.monotonic() + wait_s
    pause = 0.02
    while (etag := state.lock_record(mapping, record, owner, deps.clock(), LOCK_TTL_S)) is None:
        if time.monotonic() >= deadline:
            raise Conflict(f"Another synchronization of {side.value.upper()} record {record_id} in mapping {mapping} is "
                           "still running; "
                           "try again in a moment.", reason="busy")
        time.sleep(random.uniform(pause / 2, pause))
        pause = min(pause * 2, 0.5)
    try:
        yield
    finally:
        state.unlock_record(mapping, record, etag)
