"""Alerts to an administrator's endpoint (KOPPEL_NOTIFY_URL, SPEC X12): the one place Koppel posts outside its APIs."""
from __future__ import annotations

import urllib.request

__all__ = ["post_json"]


def post_json(url: str, body: bytes) -> None:
    """POST `body` as JSON to `url`; raises what urllib raises (the caller treats an alert as best effort)."""
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10):  # noqa: S310 - the URL is an administrator's setting
        pass
