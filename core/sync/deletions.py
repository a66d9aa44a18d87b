"""Deletes seen and handled (SPEC X10): a coupled record deleted on one side meets the mapping's delete policy.

`ignore` (default, Business Central's behaviour) leaves the coupling for the deletion-conflict policy of the
next sync; `uncouple` removes the coupling; `deactivate` sets the counterpart inactive (Dataverse `statecode`,
BC `blocked`) and uncouples; `delete` deletes the counterpart and uncouples. A notification about a record that
still exists is stale (a restore, or a re-delivery) and changes nothing.
"""
from __future__ import annotations

import uuid
from typing import Any

from core.deps import Deps
from core.errors import Conflict
from core.model import Counters, DeletePolicy, Direction, Job, JobStatus, JobType, Mapping, Side
from core.sync.loading import load_mapping, read_records

__all__ = ["apply_deletion", "deactivation_values"]

# What "inactive" is on each side (api-facts §A.2, §B.2): Dataverse state, BC blocked flags.
_CRM_INACTIVE: dict[str, Any] = {"statecode": 1}
_ERP_BLOCKED: dict[str, dict[str, Any]] = {"customers": {"blocked": "All"}, "vendors": {"blocked": "All"},
                                           "items": {"blocked": True}}


def deactivation_values(mapping: Mapping, side: Side) -> dict[str, Any] | None:
    """The fields that make a record of `side` inactive, or None when that entity has no such state."""
    return dict(_CRM_INACTIVE) if side is Side.CRM else _ERP_BLOCKED.get(mapping.erp_entity)


def apply_deletion(deps: Deps, mapping_name: str, side: Side, record_id: str, message_key: str) -> str:
    """Handle the deletion of `record_id` on `side`; answers what was done, in words for the log and the job.

    The job id is derived from the notification (`message_key`), so a redelivery does nothing twice.
    """
    mapping = load_mapping(deps, mapping_name)
    store = deps.storage().couplings
    coupling = store.erp_to_crm(mapping.name, record_id) if side is Side.ERP \
        else store.crm_to_erp(mapping.name, record_id)
    if coupling is None:
        return "not coupled: nothing to do"
    if read_records(deps, mapping, side, [record_id]):
        return "the record still exists: stale notification ignored"
    policy = mapping.delete_policy
    other = side.other
    direction = Direction.TO_CRM if other is Side.CRM else Direction.FROM_CRM
    if policy is DeletePolicy.IGNORE or not mapping.direction.allows(direction):
        return "delete policy ignore: the coupling stays for the deletion-conflict policy"
    counterpart_id = coupling.crm_id if other is Side.CRM else coupling.erp_id
    counters = Counters()
    if policy in (DeletePolicy.DEACTIVATE, DeletePolicy.DELETE):
        counterpart = read_records(deps, mapping, other, [counterpart_id]).get(counterpart_id)
        if counterpart is not None and counterpart.etag:
            if policy is DeletePolicy.DELETE:
                _client(deps, other).delete(_entity(mapping, other), counterpart_id, counterpart.etag)
                counters = counters.bump("deleted")
            else:
                values = deactivation_values(mapping, other)
                if values is not None:
                    _update(deps, mapping, other, counterpart_id, counterpart.etag, values)
                    counters = counters.bump("modified")
    store.uncouple(mapping.name, coupling.erp_id)
    counters = counters.bump("uncoupled")
    _log_job(deps, mapping, direction, counters, message_key,
             f"{side.value.upper()} record {record_id} was deleted: {policy.value} applied to {counterpart_id}.")
    return f"delete policy {policy.value} applied"


def _entity(mapping: Mapping, side: Side) -> str:
    return mapping.crm_entity if side is Side.CRM else mapping.erp_entity


def _client(deps: Deps, side: Side) -> Any:
    return deps.crm() if side is Side.CRM else deps.erp()


def _update(deps: Deps, mapping: Mapping, side: Side, record_id: str, etag: str, values: dict[str, Any]) -> None:
    if side is Side.CRM:
        deps.crm().update(mapping.crm_entity, mapping.crm_id_field, record_id, etag, values)
    else:
        deps.erp().update(mapping.erp_entity, record_id, etag, values)


def _log_job(deps: Deps, mapping: Mapping, direction: Direction, counters: Counters, key: str, message: str) -> None:
    now = deps.clock()
    job = Job(str(uuid.uuid5(uuid.NAMESPACE_URL, f"koppel:deletion:{mapping.name}:{key}")), mapping.name,
              JobType.SYNC, direction, JobStatus.SUCCEEDED, now, finished_on=now, counters=counters, progress=1.0,
              message=message)
    try:
        deps.storage().jobs.create(job)
    except Conflict:
        pass  # a redelivery: the first delivery logged it
