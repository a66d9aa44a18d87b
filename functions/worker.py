"""The job worker: a Service Bus queue trigger that decodes a job message and hands it to core.

Delivery is at least once: a redelivered message finds its queued jobs finished, or the mapping's lease
held, and does nothing twice. Raising abandons the message, so Service Bus delivers it again.
"""
from __future__ import annotations

import json
import logging
import uuid
from typing import Any

import azure.functions as func

from core.sync.full_sync import Step, run_full_sync
from core.sync.matching import run_match_coupling
from core.sync.deletions import apply_deletion
from core.sync.drift import reconcile_mapping
from core.model import Direction, Side
from core.odata import parse_datetime
from core.sync.passes import Mode, run_mapping
from core.sync.many import run_sync_many
from core.actions.uncoupling import run_uncoupling
from functions.deps import deps

__all__ = ["bp", "handle"]

log = logging.getLogger("koppel.worker")

bp = func.Blueprint()


def handle(body: dict[str, Any], message_id: str, delivery_count: int) -> None:
    """Run what one message asks for; unknown kinds are logged and dropped (a newer sender's message)."""
    kind = body.get("kind")
    log.info("message %s (delivery %s): %s", message_id, delivery_count, kind)
    if kind == "run":
        mode: Mode = "full" if body.get("mode") == "full" else "incremental"
        job_ids = body.get("jobIds") or ([body["jobId"]] if body.get("jobId") else [])
        # Unique per delivery: a redelivery while the first delivery still runs must not share its lease.
        owner = f"{message_id}/{delivery_count}/{uuid.uuid4().hex[:8]}"
        since = body.get("deferredSince")
        jobs = run_mapping(deps(), str(body["mapping"]), owner=owner, dry_run=bool(body.get("dryRun")),
                           mode=mode, job_ids=[str(j) for j in job_ids], defer=True,
                           deferred_since=parse_datetime(since) if isinstance(since, str) else None)
        log.info("message %s: mapping %s ran %d passes", message_id, body["mapping"], len(jobs))
        return
    if kind == "sync-ids":
        job = run_sync_many(deps(), str(body["jobId"]), str(body["mapping"]), Side(body["side"]),
                            [str(i) for i in body["ids"]],
                            None if body.get("direction") == "auto" else Direction(body["direction"]),
                            dry_run=bool(body.get("dryRun")))
        log.info("message %s: job %s %s", message_id, job.id, job.status.value)
        return
    if kind == "deleted":
        done = apply_deletion(deps(), str(body["mapping"]), Side(body["side"]), str(body["id"]), str(body["key"]))
        log.info("message %s: %s", message_id, done)
        return
    if kind == "uncouple":
        ids = body.get("erpIds")
        job = run_uncoupling(deps(), str(body["jobId"]), str(body["mapping"]),
                             None if ids is None else [str(i) for i in ids])
        log.info("message %s: job %s %s", message_id, job.id, job.status.value)
        return
    if kind == "match-couple":
        job = run_match_coupling(deps(), str(body["jobId"]), str(body["mapping"]), bool(body.get("createNew")),
                                 bool(body.get("syncAfter")), dry_run=bool(body.get("dryRun")))
        log.info("message %s: job %s %s", message_id, job.id, job.status.value)
        return
    if kind == "full-sync":
        owner = f"{message_id}/{delivery_count}/{uuid.uuid4().hex[:8]}"
        jobs = run_full_sync(deps(), [Step.from_json(s) for s in body.get("steps") or []], owner=owner,
                             dry_run=bool(body.get("dryRun")))
        log.info("message %s: full sync ran %d jobs", message_id, len(jobs))
        return
    if kind == "reconcile":
        owner = f"{message_id}/{delivery_count}/{uuid.uuid4().hex[:8]}"
        job_id = body.get("jobId")
        job = reconcile_mapping(deps(), str(body["mapping"]), job_id=str(job_id) if job_id else None,
                                dry_run=bool(body.get("dryRun")), owner=owner)
        log.info("message %s: job %s %s", message_id, job.id, job.status.value)
        return
    log.warning("message %s: unknown kind %r dropped", message_id, kind)


@bp.service_bus_queue_trigger(arg_name="msg", queue_name="%KOPPEL_QUEUE_NAME%", connection="KOPPEL_SERVICEBUS")
def worker(msg: func.ServiceBusMessage) -> None:
    try:
        body = json.loads(msg.get_body() or b"{}")
    except ValueError:
        log.error("message %s is not JSON; dropped", msg.message_id)
        return
    if not isinstance(body, dict):
        log.error("message %s is not a JSON object; dropped", msg.message_id)
        return
    handle(body, str(msg.message_id), int(msg.delivery_count or 1))
