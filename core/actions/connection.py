"""The connection check (F1): is each side configured, reachable and accepting our credentials.

Answers within seconds even when a side is down: each side is probed once (no retries, short timeouts) by a
client of its own, and the sides are probed in parallel under one deadline.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from core.odata.auth import MsalAuth
from core.sync.circuit import paused_mappings
from core.crm import CrmClient
from core.deps import Deps
from core.erp import ErpClient
from core.errors import AuthError, ConfigError, KoppelError, RemoteError
from core.odata.retry import RetryPolicy
from core.odata.session import ODataSession

__all__ = ["check_connection", "probe", "PROBE_TIMEOUT", "DEADLINE_S"]

PROBE_TIMEOUT = (2.0, 4.0)  # connect, read: one attempt, no retries
DEADLINE_S = 6.0  # the whole check; a side that has not answered by then is reported unreachable
_HEADERS = {"erp": {"Accept": "application/json"},
            "crm": {"Accept": "application/json", "OData-MaxVersion": "4.0", "OData-Version": "4.0"}}


def probe(ping: Callable[[], object]) -> dict[str, Any]:
    """One side's answer. `reachable`: the service (or its identity provider) answered at all;
    `authenticated`: it accepted Koppel's credentials (None when it could not be asked)."""
    start = time.perf_counter()
    try:
        ping()
    except AuthError as err:  # the identity provider answered and refused the client credentials
        return {"ok": False, "reachable": True, "authenticated": False, "error": err.message, "code": err.code}
    except RemoteError as err:
        reachable = err.status is not None
        return {"ok": False, "reachable": reachable,
                "authenticated": (err.status not in (401, 403)) if reachable else None,
                "error": err.message, "code": err.code}
    except KoppelError as err:
        return {"ok": False, "error": err.message}
    return {"ok": True, "reachable": True, "authenticated": True,
            "latencyMs": round((time.perf_counter() - start) * 1000, 1)}


def _session(service: str, config: Any) -> ODataSession:
    return ODataSession(service=service, auth=MsalAuth(config, service=service), headers=_HEADERS[service], concurrency=1,
                        retry=RetryPolicy(attempts=1), timeout=PROBE_TIMEOUT)


def check_connection(deps: Deps) -> dict[str, Any]:
    """Report each side; a missing setting raises ConfigError (503 naming the setting).

    Raises:
        ConfigError: a setting either side or the storage needs is not set.
    """
    deps.settings.storage()
    erp_config, crm_config = deps.settings.erp(), deps.settings.crm()
    pings: dict[str, Callable[[], object]] = {
        "erp": ErpClient(erp_config, session=_session("erp", erp_config)).ping,
        "crm": CrmClient(crm_config, session=_session("crm", crm_config)).ping,
        "storage": deps.storage().ping,
    }
    pool = ThreadPoolExecutor(max_workers=len(pings), thread_name_prefix="koppel-connection")
    futures = {name: pool.submit(probe, ping) for name, ping in pings.items()}
    deadline = time.monotonic() + DEADLINE_S
    report: dict[str, Any] = {}
    for name, future in futures.items():
        try:
            report[name] = future.result(timeout=max(0.0, deadline - time.monotonic()))
        except FutureTimeout:
            report[name] = {"ok": False, "reachable": False, "authenticated": None,
                            "error": f"No answer within {DEADLINE_S:g} s."}
    pool.shutdown(wait=False)  # a probe past the deadline finishes on its own; nobody waits for it
    report["queue"] = _queue(deps)
    report["pausedMappings"] = _paused(deps)
    return report


def _queue(deps: Deps) -> dict[str, object]:
    """Which job queue starting a job would use; in Azure without Service Bus, that it cannot start any."""
    try:
        service_bus = deps.settings.service_bus()
    except ConfigError as err:
        return {"ok": False, "kind": None, "setting": err.setting, "error": str(err)}
    if service_bus is None:
        return {"ok": True, "kind": "local"}
    return {"ok": True, "kind": "serviceBus", "identity": service_bus.namespace is not None}


def _paused(deps: Deps) -> list[dict[str, object]]:
    """X12: the paused mappings with reason and since-when ([] when the storage cannot say; its probe tells why)."""
    try:
        return [p.to_json() for p in paused_mappings(deps)]
    except KoppelError:
        return []
