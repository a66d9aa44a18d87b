"""The component schemas of the OpenAPI document: mappings, answers and request bodies, as plain data.

Patterns come from the parsers themselves (`core.commands`, `core.store.mapping_codec`), so the schemas
cannot drift from what the triggers accept.
"""
from __future__ import annotations

from typing import Any

from core.commands import GUID, MAPPING_NAME
from core.actions.errors_view import INLINE_LIMIT
from core.model import (
    DeletePolicy, DeletionConflictPolicy, Direction, ErrorCategory, JobStatus, JobType, SyncDirection,
    UpdateConflictPolicy,
)
from core.store.mapping_codec import NAME_PATTERN

__all__ = ["Schema", "PROBLEM_STATUSES", "GUID_SCHEMA", "ROUTE_NAME_PATTERN", "ROUTE_NAME_SCHEMA", "ref", "obj",
           "component_schemas"]

Schema = dict[str, Any]

# Route names are upper-cased before MAPPING_NAME is checked, so any letter case is accepted on the wire.
_ROUTE_NAME = MAPPING_NAME.pattern.replace("A-Z", "A-Za-z")
# mapping_codec._FIELD: API v2.0 field names and Dataverse logical names.
_FIELD = r"^[A-Za-z_][A-Za-z0-9_./@-]{0,127}$"
_NON_BLANK = r"\S"

PROBLEM_STATUSES = (400, 404, 409, 422, 502, 503)


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _enum(cls: Any, *, nullable: bool = False) -> Schema:
    values: list[Any] = [m.value for m in cls]
    return {"enum": [*values, None]} if nullable else {"type": "string", "enum": values}


def _obj(props: dict[str, Schema], required: tuple[str, ...] = (), *, closed: bool = True) -> Schema:
    schema: Schema = {"type": "object", "properties": props}
    if required:
        schema["required"] = list(required)
    if closed:  # the parser refuses unknown fields (core.commands.parse_object, mapping_codec._Reader)
        schema["additionalProperties"] = False
    return schema


def _nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


GUID_SCHEMA: Schema = {"type": "string", "format": "uuid", "pattern": GUID.pattern}
ROUTE_NAME_SCHEMA: Schema = {"type": "string", "pattern": _ROUTE_NAME}
_TIME: Schema = {"type": ["string", "null"], "format": "date-time"}
_TEXT: Schema = {"type": "string", "pattern": _NON_BLANK}
_IDS: Schema = {"type": "array", "items": GUID_SCHEMA, "minItems": 1}


def _mapping_schemas() -> dict[str, Schema]:
    """Mapping JSON as core.store.mapping_codec reads and writes it: GET answers it, PUT takes it back."""
    field_mapping = _obj({
        "erpField": _nullable({"type": "string", "pattern": _FIELD}),
        "crmField": _nullable({"type": "string", "pattern": _FIELD}),
        "direction": _enum(Direction),
        "constant": {"type": ["string", "number", "boolean", "null"]},
        "enabled": {"type": "boolean"},
        "transform": _nullable(_TEXT),
        "lookup": _nullable(_TEXT),
        "clearOnFailure": {"type": "boolean"},
        "notNull": {"type": "boolean"},
        "matchPriority": {"type": ["integer", "null"], "minimum": 0, "maximum": 10**6},
        "caseSensitive": {"type": "boolean"},
    })
    props: dict[str, Schema] = {
        "name": {"type": "string", "pattern": NAME_PATTERN.pattern},
        "erpEntity": {"type": "string", "pattern": _FIELD},
        "crmEntity": {"type": "string", "pattern": _FIELD},
        "crmTable": {"type": "string", "pattern": _FIELD},
        "crmIdField": {"type": "string", "pattern": _FIELD},
        "direction": _enum(Direction),
        "erpFilter": _nullable(_TEXT),
        "crmFilter": _nullable(_TEXT),
        "syncOnlyCoupled": {"type": "boolean"},
        "updateConflict": _enum(UpdateConflictPolicy),
        "deletionConflict": _enum(DeletionConflictPolicy),
        "deletePolicy": _enum(DeletePolicy),
        "createNewOnNoMatch": {"type": "boolean"},
        "schedule": _obj({
            "intervalMin": {"type": ["integer", "null"], "minimum": 1, "maximum": 10_080},
            "inactivityTimeoutMin": {"type": ["integer", "null"], "minimum": 1, "maximum": 525_600},
        }),
        "dependsOn": {"type": "array", "items": {"type": "string", "pattern": NAME_PATTERN.pattern}},
        "paused": {"type": "boolean"},
        "version": {"type": "integer", "minimum": 1, "maximum": 10**6},
        "fieldMappings": {"type": "array", "items": _ref("FieldMapping")},
    }
    # RFC 7396 merge patch: any key, null resets it to its default (core.actions.mappings.merge_patch).
    patch = _obj({k: _nullable(v) for k, v in props.items()})
    return {
        "FieldMapping": field_mapping,
        "Mapping": _obj(props, ("direction", "erpEntity", "crmEntity", "crmTable", "crmIdField", "fieldMappings")),
        "MappingPatch": patch,
        "MappingList": _obj({"value": {"type": "array", "items": _ref("Mapping")}}, ("value",)),
    }


def _answer_schemas() -> dict[str, Schema]:
    """The shapes functions/views.py, jobs.py and errors_view.py render (open: answers may grow)."""
    last_error = _nullable(_obj({"message": {"type": "string"}, "category": _enum(ErrorCategory, nullable=True),
                                 "repeated": {"type": "integer"}}, closed=False))
    coupling = _obj({
        "mapping": {"type": "string"}, "erpId": {"type": "string"}, "crmId": {"type": "string"},
        "coupledOn": _TIME,
        "lastSynced": _obj({"erpModifiedOn": _TIME, "crmModifiedOn": _TIME}, closed=False),
        "lastResult": _obj({"erp": {"type": ["string", "null"]}, "crm": {"type": ["string", "null"]}}, closed=False),
        "skipped": {"type": "boolean"}, "lastError": last_error,
    }, ("mapping", "erpId", "crmId", "skipped"), closed=False)
    outcome = _obj({
        "mapping": {"type": "string"}, "erpId": {"type": "string"}, "crmId": {"type": "string"},
        "action": {"type": "string"}, "direction": {"type": ["string", "null"]},
        "passes": {"type": "array", "items": _obj({"direction": _enum(Direction), "action": {"type": "string"},
                                                    "changedFields": {"type": "array", "items": {"type": "string"}},
                                                    "reason": {"type": ["string", "null"]}}, closed=False)},
    }, ("mapping", "erpId", "crmId", "action", "passes"), closed=False)
    counters = _obj({k: {"type": "integer"} for k in ("inserted", "modified", "deleted", "unchanged", "skipped",
                                                      "failed", "coupled", "uncoupled", "drifted", "repaired")},
                    closed=False)
    job = _obj({
        "id": {"type": "string"}, "mapping": {"type": "string"}, "type": _enum(JobType),
        "direction": _enum(Direction, nullable=True), "status": _enum(JobStatus), "startedOn": _TIME,
        "finishedOn": _TIME, "counters": counters, "progress": {"type": "number"}, "dryRun": {"type": "boolean"},
        "message": {"type": ["string", "null"]},
    }, ("id", "mapping", "type", "status", "counters"), closed=False)
    error_row = _obj({
        "id": {"type": "string"}, "jobId": {"type": ["string", "null"]}, "mapping": {"type": "string"},
        "erpId": {"type": ["string", "null"]}, "crmId": {"type": ["string", "null"]},
        "direction": _enum(Direction, nullable=True), "category": _enum(ErrorCategory),
        "message": {"type": "string"}, "detail": {"type": ["string", "null"]}, "occurredOn": _TIME,
    }, ("id", "mapping", "category", "message"), closed=False)
    entry = {"allOf": [_ref("Coupling"), _obj({
        "erpExists": {"type": ["boolean", "null"]}, "crmExists": {"type": ["boolean", "null"]},
        "category": _enum(ErrorCategory, nullable=True), "message": {"type": ["string", "null"]},
        "suggestedAction": {"type": ["string", "null"]}}, closed=False)]}
    side: Schema = _obj({"ok": {"type": "boolean"}}, ("ok",), closed=False)
    return {
        "Coupling": coupling,
        "CouplingPage": _obj({"value": {"type": "array", "items": _ref("Coupling")},
                              "continuation": {"type": ["string", "null"]}}, ("value",), closed=False),
        "CoupleResult": {"allOf": [_ref("Coupling"), _obj({"created": {"type": "boolean"},
                                                           "sync": _ref("SyncOutcome")}, ("created",), closed=False)]},
        "SyncOutcome": outcome,
        "RibbonAnswer": _obj({"erpId": {"type": "string"}, "erpUrl": {"type": "string"}, "action": {"type": "string"},
                              "mapping": {"type": "string"}}, ("erpId", "erpUrl", "action", "mapping"), closed=False),
        "Job": job,
        "JobDetail": {"allOf": [_ref("Job"), _obj({"errors": {"type": "array", "items": _ref("ErrorRow")}},
                                                  ("errors",), closed=False)]},
        "JobList": _obj({"value": {"type": "array", "items": _ref("Job")}}, ("value",), closed=False),
        "ErrorRow": error_row,
        "ErrorList": _obj({"value": {"type": "array", "items": entry}}, ("value",), closed=False),
        "ActionResults": _obj({"value": {"type": "array", "items": _obj(
            {"id": {"type": "string"}, "ok": {"type": "boolean"}, "message": {"type": "string"}},
            ("id", "ok", "message"), closed=False)}}, ("value",), closed=False),
        "ResetDefaultsResult": _obj({"confirmed": {"type": "boolean"}, "value": {"type": "array", "items": _obj({
            "name": {"type": "string"}, "change": {"enum": ["create", "replace", "unchanged"]},
            "changedKeys": {"type": "array", "items": {"type": "string"}}, "applied": {"type": "boolean"}},
            closed=False)}}, ("confirmed", "value"), closed=False),
        "RunAccepted": _obj({"mapping": {"type": "string"}, "mode": {"enum": ["incremental", "full"]},
                             "dryRun": {"type": "boolean"}, "jobIds": {"type": "array", "items": {"type": "string"}}},
                            ("mapping", "jobIds"), closed=False),
        "PlanLine": _obj({"mapping": {"type": "string"}, "dependsOn": {"type": "array", "items": {"type": "string"}},
                          "erpCount": {"type": "integer"}, "crmCount": {"type": "integer"},
                          "recommendation": {"enum": ["fullSync", "matchCoupling", "nothing"]},
                          "error": {"type": ["string", "null"]},
                          "jobIds": {"type": "array", "items": {"type": "string"}}},
                         ("mapping", "erpCount", "crmCount", "recommendation"), closed=False),
        "FullSyncPlan": _obj({"value": {"type": "array", "items": _ref("PlanLine")}}, ("value",), closed=False),
        "Connection": _obj({"erp": side, "crm": side, "storage": side, "queue": side,
                            "pausedMappings": {"type": "array", "items": _ref("PauseState")}},
                           ("erp", "crm", "storage", "queue"), closed=False),
        # X12: a mapping's pause state; `by` is "api" or "breaker" (the circuit breaker paused it).
        "PauseState": _obj({"mapping": {"type": "string"}, "paused": {"type": "boolean"},
                            "reason": _nullable({"type": "string"}), "since": _nullable({"type": "string"}),
                            "by": _nullable({"type": "string"})}, ("mapping", "paused")),
        "PauseRequest": _obj({"reason": {"type": "string", "maxLength": 500}}),
        "Health": _obj({"status": {"const": "ok"}}, ("status",), closed=False),
        # Change notifications (X2): BC's payload and Dataverse's execution context keep members Koppel ignores.
        "ErpNotifications": _obj({"value": {"type": "array", "minItems": 1, "maxItems": 1000, "items": _obj({
            "subscriptionId": _TEXT, "clientState": {"type": "string"}, "resource": _TEXT,
            "changeType": {"enum": ["created", "updated", "deleted", "collection"]},
            "lastModifiedDateTime": {"type": "string"}}, ("subscriptionId", "resource", "changeType"),
            closed=False)}}, ("value",), closed=False),
        "CrmExecutionContext": _obj({"MessageName": _TEXT, "PrimaryEntityName": _TEXT,
                                     "PrimaryEntityId": GUID_SCHEMA},
                                    ("MessageName", "PrimaryEntityName", "PrimaryEntityId"), closed=False),
        "NotificationsAccepted": _obj({"jobIds": {"type": "array", "items": {"type": "string"}},
                                       "woken": {"type": "array", "items": {"type": "string"}},
                                       "ignored": {"type": "integer"}}, ("jobIds", "woken", "ignored"), closed=False),
        # RFC 9457 members plus Koppel's facts (functions/http.py::problem); never header values or secrets.
        "Problem": _obj({
            "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
            "detail": {"type": "string"}, "field": {"type": "string"}, "setting": {"type": "string"},
            "reason": {"type": "string"}, "service": {"type": "string"}, "code": {"type": "string"},
        }, ("type", "title", "status"), closed=False),
    }


def _request_schemas() -> dict[str, Schema]:
    """Bodies as core.commands / errors_view.parse_action / the triggers parse them (unknown fields refused)."""
    mapping = {"type": "string", "pattern": _ROUTE_NAME}
    action = {"mapping": mapping, "erpIds": {**_IDS, "maxItems": 1000}}
    return {
        "CoupleRequest": _obj({"mapping": mapping, "erpId": GUID_SCHEMA, "crmId": GUID_SCHEMA,
                               "createNew": {"type": "boolean"}, "sync": {"enum": ["none", "toCrm", "fromCrm"]}},
                              ("mapping", "erpId")),
        "SyncRequest": {**_obj({"mapping": mapping, "erpIds": _IDS, "crmIds": _IDS,
                                "direction": _enum(SyncDirection), "dryRun": {"type": "boolean"}}, ("mapping",)),
                        "oneOf": [{"required": ["erpIds"]}, {"required": ["crmIds"]}]},
        "CrmSyncRequest": _obj({"entity": {"type": "string", "pattern": r"^[a-z_]{1,64}$"}, "crmId": GUID_SCHEMA},
                               ("entity", "crmId")),
        "ReconcileRequest": _obj({"dryRun": {"type": "boolean"}}),
        "RunRequest": _obj({"mode": {"enum": ["incremental", "full"]}, "dryRun": {"type": "boolean"}}),
        "MatchCoupleRequest": _obj({"createNew": {"type": "boolean"}, "syncAfter": {"type": "boolean"},
                                    "dryRun": {"type": "boolean"}}),
        "FullSyncRequest": _obj({"mappings": {"type": "array", "items": mapping, "minItems": 1},
                                 "dryRun": {"type": "boolean"}}),
        "ResetDefaultsRequest": _obj({"confirm": {"type": "boolean"},
                                      "names": {"type": "array", "items": mapping, "minItems": 1}}),
        "RetryRequest": {"oneOf": [_obj(action, ("mapping", "erpIds")),
                                   _obj({"mapping": mapping, "all": {"const": True}}, ("all",))]},
        "SynchronizeRequest": _obj({**action, "erpIds": {**_IDS, "maxItems": INLINE_LIMIT}, "direction": {"enum": ["toCrm", "fromCrm"]}},
                                   ("mapping", "erpIds", "direction")),
        "ActionRequest": _obj(action, ("mapping", "erpIds")),
        "UncoupleRequest": _obj({"erpIds": _IDS}, ("erpIds",)),
    }


# --- operations -------------------------------------------------------------------------------------------


def component_schemas() -> dict[str, Schema]:
    return {**_mapping_schemas(), **_answer_schemas(), **_request_schemas()}


ROUTE_NAME_PATTERN = _ROUTE_NAME
ref = _ref
obj = _obj
