"""Dataverse webhooks (service endpoints with HttpHeader auth): after each committed create, update
or delete of a watched table, POST a RemoteExecutionContext-shaped JSON from a background thread.
"""
from __future__ import annotations

import json
import queue
import threading
import uuid
from calendar import timegm
from dataclasses import dataclass, field
from time import strptime
from typing import Any

import requests

from emulators.dataverse.state import Change

__all__ = ["Webhook", "Delivery", "Dispatcher", "execution_context"]


@dataclass(slots=True)
class Webhook:
    id: str
    url: str
    entities: frozenset[str]
    headers: dict[str, str]
    delivered: int = 0
    failed: int = 0
    last_status: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "url": self.url, "entities": sorted(self.entities), "delivered": self.delivered,
                "failed": self.failed, "lastStatus": self.last_status}


@dataclass(frozen=True, slots=True)
class Delivery:
    hook: Webhook
    body: bytes
    generation: int = 0


def _ms_date(iso: str) -> str:
    return f"/Date({timegm(strptime(iso[:19], '%Y-%m-%dT%H:%M:%S')) * 1000})/"


def execution_context(change: Change, org_id: str, bu_id: str) -> dict[str, Any]:
    """The plug-in execution context Dataverse posts to a webhook (asynchronous, post-operation)."""
    if change.message == "Delete":
        target: dict[str, Any] = {"__type": "EntityReference:http://schemas.microsoft.com/xrm/2011/Contracts",
                                  "Id": change.id, "KeyAttributes": [], "LogicalName": change.table,
                                  "Name": None, "RowVersion": None}
    else:
        target = {"__type": "Entity:http://schemas.microsoft.com/xrm/2011/Contracts",
                  "Attributes": [{"key": k, "value": v} for k, v in change.attributes.items()],
                  "EntityState": None, "FormattedValues": [], "Id": change.id, "KeyAttributes": [],
                  "LogicalName": change.table, "RelatedEntities": [], "RowVersion": str(change.version)}
    outputs = [{"key": "id", "value": change.id}] if change.message == "Create" else []
    return {
        "BusinessUnitId": bu_id, "CorrelationId": str(uuid.uuid4()), "Depth": 1,
        "InitiatingUserAzureActiveDirectoryObjectId": "00000000-0000-0000-0000-000000000000",
        "InitiatingUserId": change.user_id, "InputParameters": [{"key": "Target", "value": target}],
        "IsExecutingOffline": False, "IsInTransaction": False, "IsOfflinePlayback": False, "IsolationMode": 1,
        "MessageName": change.message, "Mode": 1, "OperationCreatedOn": _ms_date(change.at),
        "OperationId": str(uuid.uuid4()), "OrganizationId": org_id, "OrganizationName": "koppel",
        "OutputParameters": outputs, "OwningExtension": {
            "Id": str(uuid.uuid4()), "KeyAttributes": [], "LogicalName": "sdkmessageprocessingstep",
            "Name": f"Koppel webhook: {change.message} of {change.table}", "RowVersion": None},
        "ParentContext": None, "PostEntityImages": [], "PreEntityImages": [], "PrimaryEntityId": change.id,
        "PrimaryEntityName": change.table, "RequestId": str(uuid.uuid4()), "SecondaryEntityName": "none",
        "SharedVariables": [], "Stage": 40, "UserAzureActiveDirectoryObjectId": "00000000-0000-0000-0000-000000000000",
        "UserId": change.user_id,
    }


@dataclass
class Dispatcher:
    """Registered webhooks and the delivery thread; `flush()` waits until everything queued is sent."""

    ca_bundle: str | None
    org_id: str
    bu_id: str
    hooks: dict[str, Webhook] = field(default_factory=dict)
    _queue: queue.Queue[Delivery | None] = field(default_factory=queue.Queue)
    _generation: int = 0
    _thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        self._session = requests.Session()
        self._session.trust_env = False  # the preset REQUESTS_CA_BUNDLE must not override our CA
        self._thread = threading.Thread(target=self._run, name="dataverse-webhooks", daemon=True)
        self._thread.start()

    def register(self, url: str, entities: list[str], headers: dict[str, str]) -> Webhook:
        hook = Webhook(str(uuid.uuid4()), url, frozenset(entities), dict(headers))
        self.hooks[hook.id] = hook
        return hook

    def clear(self) -> None:
        self.hooks.clear()
        self._generation += 1  # deliveries queued before a reset are dropped

    def watched(self) -> frozenset[str]:
        return frozenset(e for h in self.hooks.values() for e in h.entities)

    def publish(self, changes: list[Change]) -> None:
        for change in changes:
            hooks = [h for h in self.hooks.values() if change.table in h.entities]
            if hooks:
                body = json.dumps(execution_context(change, self.org_id, self.bu_id), separators=(",", ":")).encode()
                for hook in hooks:
                    self._queue.put(Delivery(hook, body, self._generation))

    def flush(self) -> None:
        self._queue.join()

    def close(self) -> None:
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._session.close()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                if item.generation == self._generation:
                    self._deliver(item)
            finally:
                self._queue.task_done()

    def _deliver(self, item: Delivery) -> None:
        headers = {"Content-Type": "application/json", **item.hook.headers}
        verify: str | bool = self.ca_bundle or True
        try:
            resp = self._session.post(item.hook.url, data=item.body, headers=headers, timeout=10, verify=verify)
            item.hook.last_status = resp.status_code
            ok = resp.status_code < 300
        except requests.RequestException:
            ok = False
        if ok:
            item.hook.delivered += 1
        else:
            item.hook.failed += 1
