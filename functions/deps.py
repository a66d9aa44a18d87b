"""The process-wide dependencies the triggers hand to core, built once per worker process."""
from __future__ import annotations

import threading

from core.deps import Deps

__all__ = ["deps"]

_lock = threading.Lock()
_deps: Deps | None = None


def deps() -> Deps:
    """Settings are read on first use, so a missing one surfaces as a 503 naming it, not a crash."""
    global _deps
    with _lock:
        if _deps is None:
            _deps = Deps.from_env()
        return _deps
