"""Change notifications (SPEC X2): BC webhook payloads and Dataverse execution contexts → queued work.

A notification only says *which* record changed; the worker reads it and syncs it. Updates queue a
`sync-ids` job of just those ids; creates, deletes and BC `collection` notifications wake the mapping
(a normal incremental run: new records follow the mapping's coupling rules, deletes its policy later).
Every queued message has an id derived from the notifications themselves, so a redelivery (BC retries
on 408/429/5xx, api-facts §B.6) finds the job already there and queues nothing twice.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from core.deps import Deps
from core.errors import Conflict, InvalidInput
from core.settings import WEBHOOK_SECRET
from core.model import Direction, Job, JobStatus, JobType, Mapping, Side

__all__ = ["Change", "Accepted", "parse_erp_notifications", "parse_crm_context", "secret_matches",
           "accept_changes"]

log = logging.getLogger("koppel.notifications")

_JOB_NS = uuid.UUID("6f1c2b1e-4d0a-4e57-9a43-0c5b1f7e2a10")  # uuid5 namespace of notification job ids
_GUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
# api-facts §B.6: `api/v2.0/companies(<id>)/customers(<id>)`, or the entity set plus `?$filter=…` (collection).
_RESOURCE = re.compile(rf"^/?api/v2\.0/companies\(({_GUID})\)/(\w+)(?:\(({_GUID})\))?(?:\?.*)?$", re.DOTALL)
_ERP_KINDS = {"created": "created", "updated": "updated", "deleted": "deleted", "collection": "collection"}
_CRM_KINDS = {"Create": "created", "Update": "updated", "Delete": "deleted"}
_MAX_ITEMS = 1_000  # BC sends one `collection` notification past 1,000 changes (api-facts §B.6)


@dataclass(frozen=True, slots=True)
class Change:
    """One changed record (or, for `collection`, many) on one side; `key` identifies the notification."""

    side: Side
    entity: str  # ERP entity set ("customers") or CRM logical name ("account")
    record_id: str | None  # None for `collection`
    kind: str  # created | updated | deleted | collection
    key: str
    company_id: str | None = None  # ERP only: the company the resource names


@dataclass(slots=True)
class Accepted:
    """What one request queued: sync jobs by id, mappings woken, and changes no mapping wanted."""

    job_ids: list[str] = field(default_factory=list)
    woken: list[str] = field(default_factory=list)
    ignored: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"jobIds": self.job_ids, "woken": self.woken, "ignored": self.ignored}


def _text(item: dict[str, Any], name: str, where: str) -> str:
    value = item.get(name)
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{where}.{name}", f"{name} must be a non-empty string.")
    return value


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def parse_erp_notifications(body: Any) -> tuple[list[Change], list[str]]:
    """BC's `{"value": [...]}` → (changes, the clientState of each item).

    Raises:
        InvalidInput: not BC's shape (BC would then drop the subscription, which is right for garbage).
    """
    if not isinstance(body, dict) or not isinstance(body.get("value"), list) or not body["value"]:
        raise InvalidInput("value", "The body must be {\"value\": [notification, …]}.")
    if len(body["value"]) > _MAX_ITEMS:
        raise InvalidInput("value", f"At most {_MAX_ITEMS} notifications per request.")
    changes, states = [], []
    for n, item in enumerate(body["value"]):
        where = f"value[{n}]"
        if not isinstance(item, dict):
            raise InvalidInput(where, "Each notification must be an object.")
        state = item.get("clientState")
        states.append(state if isinstance(state, str) else "")
        sub_id, resource = _text(item, "subscriptionId", where), _text(item, "resource", where)
        kind = _ERP_KINDS.get(_text(item, "changeType", where))
        if kind is None:
            raise InvalidInput(f"{where}.changeType", "changeType must be created, updated, deleted or collection.")
        match = _RESOURCE.match(resource)
        if match is None or (kind == "collection") != (match.group(3) is None):
            raise InvalidInput(f"{where}.resource", "resource must name a BC API v2.0 record (or, for "
                                                    "collection, an entity set).")
        modified = str(item.get("lastModifiedDateTime") or "")
        changes.append(Change(Side.ERP, match.group(2), (match.group(3) or "").lower() or None, kind,
                              _digest(sub_id, resource, kind, modified), match.group(1).lower()))
    return changes, states


def parse_crm_context(body: Any) -> Change | None:
    """A Dataverse RemoteExecutionContext → the change, or None for a message Koppel does not act on.

    Raises:
        InvalidInput: not an execution context.
    """
    if not isinstance(body, dict):
        raise InvalidInput("", "The body must be a Dataverse execution context (a JSON object).")
    message = _text(body, "MessageName", "$")
    table = _text(body, "PrimaryEntityName", "$")
    record_id = _text(body, "PrimaryEntityId", "$")
    if not re.fullmatch(_GUID, record_id):
        raise InvalidInput("PrimaryEntityId", "PrimaryEntityId must be a GUID.")
    kind = _CRM_KINDS.get(message)
    if kind is None:
        return None
    # A retried delivery of one asynchronous operation keeps its OperationId; without one, the
    # operation time and row version tell deliveries of different changes apart.
    op = body.get("OperationId")
    key = _digest("crm", message, table, record_id.lower(),
                  str(op) if op else f"{body.get('OperationCreatedOn')}|{_row_version(body)}")
    return Change(Side.CRM, table.lower(), record_id.lower(), kind, key)


def _row_version(body: dict[str, Any]) -> str:
    for param in body.get("InputParameters") or []:
        if isinstance(param, dict) and param.get("key") == "Target" and isinstance(param.get("value"), dict):
            return str(param["value"].get("RowVersion"))
    return ""


def secret_matches(deps: Deps, given: Iterable[str | None]) -> bool:
    """Every given secret equals KOPPEL_WEBHOOK_SECRET (constant time); no secret configured → False."""
    secret = deps.settings.get(WEBHOOK_SECRET)
    if not secret:
        return False
    expected = secret.encode()
    results = [hmac.compare_digest(expected, (g or "").encode()) for g in given]
    return bool(results) and all(results)


def _mappings_for(mappings: Sequence[Mapping], change: Change, erp_company: str | None) -> list[Mapping]:
    if change.side is Side.ERP:
        if erp_company is not None and change.company_id != erp_company.lower():
            return []  # another company's subscription: not ours to act on
        return [m for m in mappings if m.erp_entity == change.entity]
    return [m for m in mappings if m.crm_table == change.entity]


def accept_changes(deps: Deps, changes: Sequence[Change]) -> Accepted:
    """Queue the work `changes` call for; answers at once (the worker does the reading and writing)."""
    if not changes:
        return Accepted()
    side = changes[0].side
    direction = Direction.TO_CRM if side is Side.ERP else Direction.FROM_CRM
    company = deps.settings.get("ERP_COMPANY_ID") if side is Side.ERP else None
    mappings = deps.storage().mappings.list()
    updates: dict[str, list[Change]] = {}
    wakes: dict[str, list[Change]] = {}
    out = Accepted()
    for change in changes:
        wanted = [m for m in _mappings_for(mappings, change, company)
                  if not m.paused and m.direction.allows(direction)]
        if not wanted:
            out.ignored += 1
            continue
        if change.kind == "deleted" and change.record_id:
            # X10: each mapping's delete policy acts on the coupled counterpart, in the worker.
            for mapping in wanted:
                deps.queue().send({"kind": "deleted", "mapping": mapping.name, "side": side.value,
                                   "id": change.record_id, "key": change.key},
                                  message_id=f"deleted-{mapping.name}-{change.key[:32]}")
                out.woken.append(mapping.name)
            continue
        for mapping in wanted:
            target = updates if change.kind == "updated" else wakes
            target.setdefault(mapping.name, []).append(change)
    for name, group in updates.items():
        out.job_ids.append(_queue_ids(deps, name, side, direction, group))
    for name, group in wakes.items():
        digest = _digest(*sorted(c.key for c in group))[:32]
        deps.queue().send({"kind": "run", "mapping": name}, message_id=f"wake-{name}-{digest}")
        out.woken.append(name)
    return out


def _queue_ids(deps: Deps, mapping: str, side: Side, direction: Direction, group: list[Change]) -> str:
    """One `sync-ids` job per mapping and notification batch; its id is derived from the batch."""
    job_id = str(uuid.uuid5(_JOB_NS, f"{mapping}|{direction.value}|" + "|".join(sorted(c.key for c in group))))
    ids = list(dict.fromkeys(c.record_id for c in group if c.record_id))
    jobs = deps.storage().jobs
    try:
        jobs.create(Job(job_id, mapping, JobType.SYNC, direction, JobStatus.QUEUED, deps.clock()))
    except Conflict:
        if jobs.get(job_id).status is not JobStatus.QUEUED:
            log.info("notification job %s already ran; redelivery ignored", job_id)
            return job_id
        # Queued before but maybe never sent (a crash in between): send again; the queue drops duplicates.
    deps.queue().send({"kind": "sync-ids", "jobId": job_id, "mapping": mapping, "side": side.value[:3],
                       "ids": ids, "direction": direction.value, "dryRun": False},
                      message_id=f"sync-ids-{job_id}")
    return job_id
