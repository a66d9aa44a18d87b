"""BC webhook subscriptions and change notifications (api-facts §B.6).

Creating or renewing a subscription POSTs `notificationUrl?validationToken=<t>` and needs 200 with the
token as the body. Changes are collected per entity; once `debounce_s` has passed since the first one,
each live subscription on that entity gets one POST (or one `collection` notification past 1,000
records). 408/429/5xx and network errors are retried a bounded number of times; any other non-2xx
answer deletes the subscription.
"""
from __future__ import annotations

import datetime as dt
import ipaddress
import re
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests

from emulators.bc.errors import BadRequest, DialogException, EntityChanged, ReadOnlyProperty, RecordNotFound
from emulators.bc.state import Change, format_ms, is_match, make_etag, now_ms, parse_time

__all__ = ["WebhookHub", "SUPPORTED_RESOURCES", "MAX_SUBSCRIPTIONS", "COLLECTION_THRESHOLD"]

SUPPORTED_RESOURCES = frozenset({"customers", "vendors", "items", "currencies"})  # not contacts (§B.6)
MAX_SUBSCRIPTIONS = 200
COLLECTION_THRESHOLD = 1000
LIFETIME = dt.timedelta(days=3)
_RETRYABLE = frozenset({408, 429}) | frozenset(range(500, 600))
_RESOURCE_RE = re.compile(r"^/?api/v2\.0/companies\(([0-9a-fA-F-]{36})\)/(\w+)$")
_WRITABLE = frozenset({"notificationUrl", "resource", "clientState"})
_READ_ONLY = frozenset({"subscriptionId", "userId", "lastModifiedDateTime", "expirationDateTime",
                        "systemCreatedAt", "systemCreatedBy", "systemModifiedAt", "systemModifiedBy"})


@dataclass(slots=True)
class _Window:
    """Changes to one entity since the first one of the current debounce window."""

    opened: float
    first_at: str
    changes: dict[str, Change] = field(default_factory=dict)

    def add(self, change: Change) -> None:
        prior = self.changes.get(change.id)
        if prior is not None and prior.change_type == "created" and change.change_type == "updated":
            change = Change(change.entity, change.id, "created", change.at)  # still new to the subscriber
        self.changes[change.id] = change


class WebhookHub:
    """Subscriptions of one environment, and the notifier thread that delivers their notifications."""

    def __init__(self, company_id: str, debounce_s: float, ca_bundle: str | None):
        self.company_id = company_id
        self.debounce_s = debounce_s
        self.retry_delays_s: tuple[float, ...] = (0.05, 0.2, 0.5)
        self.timeout_s = 5.0
        self._session = requests.Session()
        self._session.trust_env = False  # loopback receivers: no proxies; the CA comes from `verify`
        self._verify: str | bool = ca_bundle or True
        self._lock = threading.RLock()
        self._delivering = threading.Lock()
        self._version = 0
        self.subscriptions: dict[str, dict[str, Any]] = {}
        self._entity: dict[str, str] = {}
        self._windows: dict[str, _Window] = {}
        self.deliveries: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bc-webhooks", daemon=True)
        self._thread.start()

    # -- lifecycle -------------------------------------------------------------------------------
    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._session.close()

    def reset(self) -> None:
        with self._delivering, self._lock:
            self.subscriptions.clear()
            self._entity.clear()
            self._windows.clear()
            self.deliveries.clear()

    # -- subscriptions ----------------------------------------------------------------------------
    def create(self, body: Any, user_id: str) -> dict[str, Any]:
        fields = self._check_body(body, creating=True)
        entity = self._check_resource(fields["resource"])
        self._check_url(fields["notificationUrl"])
        with self._lock:
            self._check_room()
        self._handshake(fields["notificationUrl"])
        now = now_ms()
        sub_id = uuid.uuid4().hex
        sub = {
            "@odata.etag": "", "subscriptionId": sub_id, "notificationUrl": fields["notificationUrl"],
            "resource": fields["resource"], "userId": user_id, "lastModifiedDateTime": now,
            "clientState": fields.get("clientState", ""), "expirationDateTime": _expiry(),
            "systemCreatedAt": now, "systemCreatedBy": user_id, "systemModifiedAt": now, "systemModifiedBy": user_id,
        }
        with self._lock:
            self._check_room()
            sub["@odata.etag"] = self._etag(sub_id)
            self.subscriptions[sub_id] = sub
            self._entity[sub_id] = entity
        return sub

    def get(self, sub_id: str) -> dict[str, Any]:
        with self._lock:
            sub = self.subscriptions.get(sub_id)
        if sub is None:
            raise RecordNotFound(f"The subscription '{sub_id}' does not exist.")
        return sub

    def list_all(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.subscriptions.values())

    def renew(self, sub_id: str, body: Any, if_match: str | None, user_id: str) -> dict[str, Any]:
        """PATCH: repeats the handshake and extends the expiry by three days (§B.6)."""
        fields = self._check_body(body, creating=False)
        old = self.get(sub_id)
        if not is_match(if_match, old["@odata.etag"]):
            raise EntityChanged()
        entity = self._check_resource(fields["resource"]) if "resource" in fields else self._entity[sub_id]
        url = fields.get("notificationUrl", old["notificationUrl"])
        self._check_url(url)
        self._handshake(url)
        now = now_ms()
        with self._lock:
            if self.subscriptions.get(sub_id) is not old:
                raise EntityChanged()
            new = dict(old, **fields, lastModifiedDateTime=now, expirationDateTime=_expiry(),
                       systemModifiedAt=now, systemModifiedBy=user_id)
            new["@odata.etag"] = self._etag(sub_id)
            self.subscriptions[sub_id] = new
            self._entity[sub_id] = entity
        return new

    def delete(self, sub_id: str, if_match: str | None) -> None:
        sub = self.get(sub_id)
        if not is_match(if_match, sub["@odata.etag"]):
            raise EntityChanged()
        self._drop(sub_id)

    def expire(self, sub_id: str, at: str | None = None) -> dict[str, Any]:
        """Admin: move a subscription's expiry (default: now), to test that expired ones stay silent."""
        with self._lock:
            sub = self.get(sub_id)
            new = dict(sub, expirationDateTime=at or now_ms())
            self.subscriptions[sub_id] = new
            return new

    def _drop(self, sub_id: str) -> None:
        with self._lock:
            self.subscriptions.pop(sub_id, None)
            self._entity.pop(sub_id, None)

    def _etag(self, sub_id: str) -> str:
        self._version += 1
        return make_etag(sub_id, self._version)

    def _check_room(self) -> None:
        if len(self.subscriptions) >= MAX_SUBSCRIPTIONS:
            raise DialogException(f"The maximum number of subscriptions ({MAX_SUBSCRIPTIONS}) has been reached.")

    def _check_body(self, body: Any, *, creating: bool) -> dict[str, str]:
        if not isinstance(body, dict):
            raise BadRequest("Invalid Request Body")
        out: dict[str, str] = {}
        for name, value in body.items():
            if name.startswith("@odata."):
                continue
            if name in _READ_ONLY:
                raise ReadOnlyProperty(f"The property '{name}' is read-only and cannot be modified.")
            if name not in _WRITABLE:
                raise BadRequest(f"The property '{name}' does not exist on type 'Microsoft.NAV.subscriptions'.")
            if not isinstance(value, str):
                raise BadRequest(f"Cannot convert the literal '{value}' to the expected type 'Edm.String'.")
            out[name] = value
        if creating:
            for name in ("notificationUrl", "resource"):
                if not out.get(name):
                    raise BadRequest(f"Field '{name}' must not be blank or empty.")
        return out

    def _check_resource(self, resource: str) -> str:
        match = _RESOURCE_RE.match(resource)
        if match is None or match.group(1).lower() != self.company_id:
            raise BadRequest(f"The resource '{resource}' is not valid for a subscription.")
        entity = match.group(2)
        if entity not in SUPPORTED_RESOURCES:
            raise BadRequest(f"The entity '{entity}' does not support webhook subscriptions.")
        return entity

    @staticmethod
    def _check_url(url: str) -> None:
        parts = urlsplit(url)
        host = parts.hostname or ""
        try:
            loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        # BC needs https; plain http is allowed to loopback only, for the local app host.
        if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
            raise BadRequest(f"The notification URL '{url}' must use https.")

    def _handshake(self, url: str) -> None:
        token = secrets.token_urlsafe(16)
        sep = "&" if "?" in url else "?"
        try:
            resp = self._session.post(f"{url}{sep}validationToken={token}", timeout=self.timeout_s,
                                      verify=self._verify)
        except requests.RequestException as err:
            raise DialogException(f"The notification URL could not be reached ({type(err).__name__}).") from err
        if resp.status_code != 200 or resp.text.strip().strip('"') != token:
            raise DialogException("The subscription could not be validated: the notification URL did not "
                                  f"answer 200 with the validation token (status {resp.status_code}).")

    # -- notifications ----------------------------------------------------------------------------
    def record(self, changes: list[Change]) -> None:
        """Called by the state after each committed change; only watched entities are kept."""
        with self._lock:
            watched = set(self._entity.values())
            for change in changes:
                if change.entity not in watched:
                    continue
                window = self._windows.get(change.entity)
                if window is None:
                    window = self._windows[change.entity] = _Window(time.monotonic(), change.at)
                window.add(change)

    def flush(self) -> int:
        """Deliver every pending notification now; answers how many POSTs were made."""
        return self._deliver(force=True)

    def _run(self) -> None:
        tick = max(0.01, min(0.1, self.debounce_s / 4))
        while not self._stop.wait(tick):
            self._deliver(force=False)

    def _deliver(self, *, force: bool) -> int:
        with self._delivering:
            with self._lock:
                now = time.monotonic()
                due = [e for e, w in self._windows.items() if force or now - w.opened >= self.debounce_s]
                batches = [(e, self._windows.pop(e)) for e in due]
                targets = {e: [s for sid, s in self.subscriptions.items() if self._entity.get(sid) == e] for e in due}
            # One POST per notification URL carries every due subscription's items (BC does, §F.9).
            by_url: dict[str, list[tuple[dict[str, Any], dict[str, Any]]]] = {}
            for entity, window in batches:
                for sub in targets[entity]:
                    if parse_time(sub["expirationDateTime"]) <= dt.datetime.now(dt.timezone.utc):
                        continue  # expired subscriptions stay silent
                    by_url.setdefault(sub["notificationUrl"], []).append((sub, self._payload(sub, entity, window)))
            for url, parts in by_url.items():
                self._post(url, [sub for sub, _ in parts], {"value": [v for _, p in parts for v in p["value"]]})
            return len(by_url)

    def _payload(self, sub: dict[str, Any], entity: str, window: _Window) -> dict[str, Any]:
        base = f"api/v2.0/companies({self.company_id})/{entity}"
        head = {"subscriptionId": sub["subscriptionId"], "clientState": sub["clientState"],
                "expirationDateTime": sub["expirationDateTime"]}
        changes = list(window.changes.values())
        if len(changes) > COLLECTION_THRESHOLD:
            since = format_ms(parse_time(window.first_at) - dt.timedelta(milliseconds=1))
            last = max(c.at for c in changes)
            return {"value": [{**head, "resource": f"{base}?$filter=lastModifiedDateTime%20gt%20{since}",
                               "changeType": "collection", "lastModifiedDateTime": last}]}
        return {"value": [{**head, "resource": f"{base}({c.id})", "changeType": c.change_type,
                           "lastModifiedDateTime": c.at} for c in changes]}

    def _post(self, url: str, subs: list[dict[str, Any]], payload: dict[str, Any]) -> None:
        status: int | None = None
        attempts = 0
        for delay in (0.0, *self.retry_delays_s):
            if delay and self._stop.wait(delay):
                break
            attempts += 1
            try:
                status = self._session.post(url, json=payload, timeout=self.timeout_s, verify=self._verify).status_code
            except requests.RequestException:
                status = None  # unreachable: retried like a 5xx
            if status is not None and status not in _RETRYABLE:
                break
        if status is not None and not 200 <= status < 300 and status not in _RETRYABLE:
            for sub in subs:
                self._drop(sub["subscriptionId"])  # §B.6: any other non-2xx deletes the subscription
        with self._lock:
            for sub in subs:
                items = [v for v in payload["value"] if v["subscriptionId"] == sub["subscriptionId"]]
                self.deliveries.append({
                    "subscriptionId": sub["subscriptionId"], "status": status, "attempts": attempts,
                    "changeTypes": sorted({v["changeType"] for v in items}), "count": len(items),
                    "posted": len(payload["value"]),
                })


def _expiry() -> str:
    return format_ms(dt.datetime.now(dt.timezone.utc) + LIFETIME)
