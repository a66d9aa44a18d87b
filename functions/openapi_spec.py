"""The OpenAPI 3.1 document of every HTTP route (SPEC §4), as plain data: no I/O, built on each call.

Patterns come from the parsers themselves (`core.commands`, `core.store.mapping_codec`), so the document
cannot drift from what the triggers accept; a unit test checks it lists exactly the registered routes.
"""
from __future__ import annotations

from typing import Any

from core.commands import GUID, MAPPING_NAME
from core.errors_view import INLINE_LIMIT
from core.model import (
    DeletePolicy, DeletionConflictPolicy, Direction, ErrorCategory, JobStatus, JobType, SyncDirection,
    UpdateConflictPolicy,
)
from core.store.mapping_codec import NAME_PATTERN
from functions.admin_page import ASSETS

__all__ = ["build_document", "PROBLEM_STATUSES"]

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
    # RFC 7396 merge patch: any key, null resets it to its default (core.mappings.merge_patch).
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

def _json(schema: Schema, media: str = "application/json") -> Schema:
    return {"content": {media: {"schema": schema}}}


def _param(name: str, where: str, schema: Schema, *, required: bool = False, text: str = "") -> Schema:
    return {"name": name, "in": where, "required": required or where == "path", "schema": schema,
            "description": text}


_PATH_NAME = _param("name", "path", ROUTE_NAME_SCHEMA, text="A mapping name, any case (CUSTOMER).")
_PATH_MAPPING = _param("mapping", "path", ROUTE_NAME_SCHEMA, text="A mapping name, any case (CUSTOMER).")
_TOP = _param("top", "query", {"type": "integer", "minimum": 1, "maximum": 1000}, text="At most this many.")
# An empty ?mapping= means no filter, as the admin page's "all" choice sends it.
_QUERY_MAPPING = _param("mapping", "query", {"type": "string", "pattern": f"^$|{_ROUTE_NAME}"},
                        text="Only this mapping; empty or absent = every mapping.")
_IF_MATCH = _param("If-Match", "header", {"type": "string"}, text="The ETag read; `*` = must exist.")
_ETAG = {"ETag": {"description": "The mapping's version tag, for If-Match.", "schema": {"type": "string"}}}


def _op(op_id: str, summary: str, ok: dict[int, Schema | None], *, errors: tuple[int, ...] = PROBLEM_STATUSES,
        params: tuple[Schema, ...] = (), body: Schema | None = None, body_required: bool = True,
        headers: dict[str, Schema] | None = None, anonymous: bool = False) -> Schema:
    """One operation; `ok` maps a success status to its JSON schema (None: no body)."""
    responses: dict[str, Schema] = {}
    for status, schema in ok.items():
        answer: Schema = {"description": summary}
        if schema is not None:
            answer.update(_json(schema))
        if headers:
            answer["headers"] = headers
        responses[str(status)] = answer
    for status in errors:
        responses[str(status)] = {"$ref": f"#/components/responses/Problem{status}"}
    op: Schema = {"operationId": op_id, "summary": summary, "responses": responses}
    if params:
        op["parameters"] = list(params)
    if body is not None:
        op["requestBody"] = {"required": body_required, **_json(body)}
    if anonymous:
        op["security"] = []
    else:
        responses["401"] = {"$ref": "#/components/responses/Unauthorized"}
    return op


def _paths() -> dict[str, dict[str, Schema]]:
    """Every route under /api, keyed as the blueprints register them (`/` + route)."""
    guid = GUID_SCHEMA
    return {
        "/health": {"get": _op("health", "Is Koppel up.", {200: _ref("Health")}, errors=(), anonymous=True)},
        "/connection": {"get": _op("connection_check", "Can Koppel reach each side (F1).",
                                   {200: _ref("Connection")}, errors=(503,))},
        "/openapi.json": {"get": _op("openapi_document", "This document.", {200: {"type": "object"}}, errors=())},
        "/couplings": {"post": _op("couple", "Couple a record, or create its counterpart (F2).",
                                   {201: _ref("CoupleResult")}, body=_ref("CoupleRequest"))},
        "/couplings/{mapping}": {"get": _op(
            "get_coupling", "One coupling by erpId or crmId, else a page of couplings.",
            {200: {"oneOf": [_ref("CouplingPage"), _ref("Coupling")]}}, errors=(400, 404, 503),
            params=(_PATH_MAPPING, _param("erpId", "query", guid), _param("crmId", "query", guid),
                    _param("skipped", "query", {"type": "string", "enum": ["true", "false"]}), _TOP,
                    _param("continuation", "query", {"type": "string"})))},
        "/couplings/{mapping}/{erpId}": {"delete": _op(
            "uncouple", "Uncouple one record; no record is deleted (F6).", {204: None}, errors=(400, 404, 409, 503),
            params=(_PATH_MAPPING, _param("erpId", "path", guid)))},
        "/couplings/{mapping}/uncouple": {"post": _op(
            "uncouple_many", "Uncouple many records: inline up to 1,000 ids, else a background job (F6).",
            {200: _obj({"uncoupled": {"type": "integer"}}, ("uncoupled",)), 202: _ref("Job")},
            errors=(400, 404, 503), params=(_PATH_MAPPING,), body=_ref("UncoupleRequest"))},
        "/mappings/{name}/uncouple-all": {"post": _op(
            "uncouple_all", "Uncouple every record of a mapping as a background job (F6); no record is deleted.",
            {202: _ref("Job")}, errors=(400, 404, 503), params=(_PATH_NAME,))},
        "/sync": {"post": _op("sync_records", "Synchronize one coupled record now (F3: 200 with the outcome); "
                              "several ids run as a background job (F5: 202 with the job).",
                              {200: _ref("SyncOutcome"), 202: _ref("Job")}, body=_ref("SyncRequest"))},
        "/crm/sync": {"post": _op("crm_sync", "Synchronize one CRM row from the ribbon (F4).",
                                  {200: _ref("RibbonAnswer")}, body=_ref("CrmSyncRequest"))},
        "/mappings": {"get": _op("list_mappings", "Every mapping.", {200: _ref("MappingList")}, errors=(503,))},
        "/mappings/reset-defaults": {"post": _op(
            "reset_default_mappings", "Diff against the shipped defaults; applied only with confirm (X15).",
            {200: _ref("ResetDefaultsResult")}, errors=(400, 409, 503), body=_ref("ResetDefaultsRequest"),
            body_required=False)},
        "/mappings/{name}": {
            "get": _op("get_mapping", "One mapping.", {200: _ref("Mapping")}, errors=(400, 404, 503),
                       params=(_PATH_NAME,), headers=_ETAG),
            "put": _op("put_mapping", "Create or replace a mapping (F7).", {200: _ref("Mapping"), 201: _ref("Mapping")},
                       errors=(400, 404, 409, 503), params=(_PATH_NAME, _IF_MATCH), body=_ref("Mapping"),
                       headers=_ETAG),
            "patch": {**_op("patch_mapping", "Merge-patch a mapping; validated as a whole.", {200: _ref("Mapping")},
                            errors=(400, 404, 409, 503), params=(_PATH_NAME, _IF_MATCH), headers=_ETAG),
                      "requestBody": {"required": True, **_json(_ref("MappingPatch"), "application/merge-patch+json")}},
            "delete": _op("delete_mapping", "Delete a mapping; force also removes its couplings.", {204: None},
                          errors=(400, 404, 409, 503), params=(
                              _PATH_NAME, _param("force", "query", {"type": "string", "enum": ["true", "false"]}))),
        },
        "/mappings/{name}/versions": {"get": _op("mapping_versions", "Every version of a mapping, oldest first.",
                                                 {200: _ref("MappingList")}, errors=(400, 404, 503),
                                                 params=(_PATH_NAME,))},
        "/mappings/{name}/sync": {"post": _op(
            "run_sync", "Queue a synchronization of the mapping now (F8, F13, X5).", {202: _ref("RunAccepted")},
            errors=(400, 404, 409, 503), params=(_PATH_NAME,), body=_ref("RunRequest"), body_required=False)},
        "/mappings/{name}/reconcile": {"post": _op(
            "reconcile", "Queue a drift reconciliation of the mapping: compare every coupled pair, repair drift (X9).",
            {202: _ref("Job")}, errors=(400, 404, 409, 503), params=(_PATH_NAME,), body=_ref("ReconcileRequest"),
            body_required=False)},
        "/mappings/{name}/pause": {"post": _op(
            "pause_mapping", "Pause the mapping: no run does work until it is resumed (X12).",
            {200: _ref("PauseState")}, errors=(400, 404, 503), params=(_PATH_NAME,), body=_ref("PauseRequest"),
            body_required=False)},
        "/mappings/{name}/resume": {"post": _op(
            "resume_mapping", "Resume the mapping; its next run catches up from the watermarks (X12).",
            {200: _ref("PauseState")}, errors=(400, 404, 503), params=(_PATH_NAME,))},
        "/mappings/{name}/match-couple": {"post": _op(
            "match_couple", "Couple the uncoupled records by their match fields as a background job (F12).",
            {202: _ref("Job")}, errors=(400, 404, 503), params=(_PATH_NAME,), body=_ref("MatchCoupleRequest"),
            body_required=False)},
        "/setup/full-sync-plan": {"get": _op(
            "full_sync_plan", "Per mapping in dependency order: counts per side and the recommended run (F13).",
            {200: _ref("FullSyncPlan")}, errors=(502, 503))},
        "/setup/full-sync": {"post": _op(
            "full_sync", "Queue the recommended run of each mapping, in dependency order (F13, X5).",
            {202: _ref("FullSyncPlan")}, errors=(400, 404, 502, 503), body=_ref("FullSyncRequest"),
            body_required=False)},
        "/jobs": {"get": _op("list_jobs", "Jobs, newest first (F11).", {200: _ref("JobList")}, errors=(400, 503),
                             params=(_QUERY_MAPPING, _TOP))},
        "/jobs/{id}": {"get": _op("get_job", "One job with its counters and error rows.", {200: _ref("JobDetail")},
                                  errors=(400, 404, 503), params=(_param("id", "path", guid),))},
        "/errors": {"get": _op("list_sync_errors", "Failed and skipped couplings (F10).", {200: _ref("ErrorList")},
                               errors=(400, 404, 503), params=(_QUERY_MAPPING, _TOP))},
        "/errors/retry": {"post": _op("retry_sync_errors", "Retry failed couplings.", {200: _ref("ActionResults")},
                                      body=_ref("RetryRequest"))},
        "/errors/synchronize": {"post": _op("synchronize_sync_errors", "Synchronize couplings in one direction.",
                                            {200: _ref("ActionResults")}, body=_ref("SynchronizeRequest"))},
        "/errors/restore": {"post": _op("restore_sync_errors", "Re-create the deleted side and re-couple.",
                                        {200: _ref("ActionResults")}, body=_ref("ActionRequest"))},
        "/errors/delete-couplings": {"post": _op("delete_error_couplings", "Delete the couplings (never records).",
                                                 {200: _ref("ActionResults")}, body=_ref("ActionRequest"))},
        "/console": {"get": {**_op("serve_console_page", "The admin page (X6) in the Accept-Language language; "
                                   "open it with ?code=, its script sends that key to the routes above.",
                                   {200: None}, errors=()),
                             "responses": {**_op("serve_console_page", "", {}, errors=())["responses"],
                                           "200": {"description": "The page.",
                                                   **_json({"type": "string"}, "text/html")}}}},
        "/console/assets/{file}": {"get": {**_op(
            "serve_console_asset", "The admin page's script and stylesheet (static, no data).", {},
            errors=(404,), anonymous=True, params=(_param("file", "path", {"type": "string", "enum": sorted(ASSETS)}),)),
            "responses": {"200": {"description": "The file.", "content": {
                "text/javascript": {"schema": {"type": "string"}}, "text/css": {"schema": {"type": "string"}}}},
                "404": {"$ref": "#/components/responses/Problem404"}}}},
        "/webhooks/erp": {"post": {**_op(
            "erp_webhook", "BC change notifications (X2); `?validationToken=` is the subscription handshake.",
            {202: _ref("NotificationsAccepted")}, errors=(400, 401, 503), anonymous=True, body_required=False,
            body=_ref("ErpNotifications"),
            params=(_param("validationToken", "query", {"type": "string"}, text="Echoed as text/plain."),)),
            "responses": {**_op("erp_webhook", "", {202: _ref("NotificationsAccepted")}, errors=(400, 401, 503),
                                anonymous=True)["responses"],
                          "200": {"description": "The handshake: the validationToken, echoed.",
                                  **_json({"type": "string"}, "text/plain")}},
        }},
        "/webhooks/crm": {"post": _op(
            "crm_webhook", "Dataverse webhook (X2): a RemoteExecutionContext of Create, Update or Delete.",
            {202: _ref("NotificationsAccepted")}, errors=(400, 401, 503), anonymous=True,
            body=_ref("CrmExecutionContext"),
            params=(_param("x-koppel-secret", "header", {"type": "string"}, text="KOPPEL_WEBHOOK_SECRET."),))},
    }


def _responses() -> dict[str, Schema]:
    words = {400: "Bad input; `field` names what to fix.", 404: "Not found.", 409: "Conflict; `reason` says which.",
             422: "The record failed.", 502: "A side refused or failed to authenticate.",
             503: "A setting is missing (`setting`) or a side is unavailable.",
             401: "A webhook's secret is missing or wrong (anonymous routes only)."}
    out: dict[str, Schema] = {f"Problem{s}": {"description": w, **_json(_ref("Problem"), "application/problem+json")}
                              for s, w in words.items()}
    # The Functions host answers a missing or wrong key itself, with an empty body.
    out["Unauthorized"] = {"description": "Missing or wrong function key (empty body, from the host)."}
    return out


def build_document(server_url: str = "/api") -> Schema:
    """The whole OpenAPI 3.1 document; `server_url` is where the routes live (the host's route prefix)."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "Koppel", "version": "1.0.0",
                 "description": "Couples Business Central records with Dataverse rows and keeps them in sync."},
        "servers": [{"url": server_url}],
        "security": [{"functionKey": []}, {"functionKeyQuery": []}],
        "paths": _paths(),
        "components": {
            "schemas": {**_mapping_schemas(), **_answer_schemas(), **_request_schemas()},
            "responses": _responses(),
            "securitySchemes": {
                "functionKey": {"type": "apiKey", "in": "header", "name": "x-functions-key"},
                "functionKeyQuery": {"type": "apiKey", "in": "query", "name": "code"},
            },
        },
    }
