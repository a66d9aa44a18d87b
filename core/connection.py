"""The connection check (F1): is each side configured, reachable and accepting our credentials."""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from core.circuit import paused_mappings
from core.deps import Deps
from core.errors import KoppelError, RemoteError

__all__ = ["check_connection"]


def _probe(ping: Callable[[], object]) -> dict[str, Any]:
    start = time.perf_counter()
    try:
        ping()
    except RemoteError as err:
        return {"ok": False, "reachable": err.status is not None, "authenticated": err.status not in (401, 403),
                "error": err.message, "code": err.code}
    except KoppelError as err:
        return {"ok": False, "error": err.message}
    return {"ok": True, "reachable": True, "authenticated": True,
            "latencyMs": round((time.perf_counter() - start) * 1000, 1)}


def check_connection(deps: Deps) -> dict[str, Any]:
    """Report each side; a missing setting raises ConfigError (503 naming the setting).

    Raises:
        ConfigError: a setting either side or the storage needs is not set.
    """
    deps.settings.storage()
    deps.settings.erp()
    deps.settings.crm()
    return {
        "erp": _probe(deps.erp().ping),
        "crm": _probe(deps.crm().ping),
        "storage": _probe(deps.storage().ping),
        "queue": {"ok": True, "kind": "serviceBus" if deps.settings.get("KOPPEL_SERVICEBUS") else "inProcess"},
        "pausedMappings": _paused(deps),
    }


def _paused(deps: Deps) -> list[dict[str, object]]:
    """X12: the paused mappings with reason and since-when ([] when the storage cannot say; its probe tells why)."""
    try:
        return [p.to_json() for p in paused_mappings(deps)]
    except KoppelError:
        return []
