"""The OpenAPI 3.1 document of every HTTP route (SPEC §4), as plain data: no I/O, built on each call.

A unit test checks it lists exactly the registered routes; the schemas live in `functions.openapi_schemas`.
"""
from __future__ import annotations

from functions.admin_page import ASSETS
from functions.openapi_schemas import (
    GUID_SCHEMA, PROBLEM_STATUSES, ROUTE_NAME_PATTERN, ROUTE_NAME_SCHEMA, Schema, component_schemas, obj, ref,
)

__all__ = ["build_document", "PROBLEM_STATUSES"]


def _json(schema: Schema, media: str = "application/json") -> Schema:
    return {"content": {media: {"schema": schema}}}


def _param(name: str, where: str, schema: Schema, *, required: bool = False, text: str = "") -> Schema:
    return {"name": name, "in": where, "required": required or where == "path", "schema": schema,
            "description": text}


_PATH_NAME = _param("name", "path", ROUTE_NAME_SCHEMA, text="A mapping name, any case (CUSTOMER).")
_PATH_MAPPING = _param("mapping", "path", ROUTE_NAME_SCHEMA, text="A mapping name, any case (CUSTOMER).")
_TOP = _param("top", "query", {"type": "integer", "minimum": 1, "maximum": 1000}, text="At most this many.")
# An empty ?mapping= means no filter, as the admin page's "all" choice sends it.
_QUERY_MAPPING = _param("mapping", "query", {"type": "string", "pattern": f"^$|{ROUTE_NAME_PATTERN}"},
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
        "/health": {"get": _op("health", "Is Koppel up.", {200: ref("Health")}, errors=(), anonymous=True)},
        "/connection": {"get": _op("connection_check", "Can Koppel reach each side (F1).",
                                   {200: ref("Connection")}, errors=(503,))},
        "/openapi.json": {"get": _op("openapi_document", "This document.", {200: {"type": "object"}}, errors=())},
        "/couplings": {"post": _op("couple", "Couple a record, or create its counterpart (F2).",
                                   {201: ref("CoupleResult")}, body=ref("CoupleRequest"))},
        "/couplings/{mapping}": {"get": _op(
            "get_coupling", "One coupling by erpId or crmId, else a page of couplings.",
            {200: {"oneOf": [ref("CouplingPage"), ref("Coupling")]}}, errors=(400, 404, 503),
            params=(_PATH_MAPPING, _param("erpId", "query", guid), _param("crmId", "query", guid),
                    _param("skipped", "query", {"type": "string", "enum": ["true", "false"]}), _TOP,
                    _param("continuation", "query", {"type": "string"})))},
        "/couplings/{mapping}/{erpId}": {"delete": _op(
            "uncouple", "Uncouple one record; no record is deleted (F6).", {204: None}, errors=(400, 404, 409, 503),
            params=(_PATH_MAPPING, _param("erpId", "path", guid)))},
        "/couplings/{mapping}/uncouple": {"post": _op(
            "uncouple_many", "Uncouple many records: inline up to 1,000 ids, else a background job (F6).",
            {200: obj({"uncoupled": {"type": "integer"}}, ("uncoupled",)), 202: ref("Job")},
            errors=(400, 404, 503), params=(_PATH_MAPPING,), body=ref("UncoupleRequest"))},
        "/mappings/{name}/uncouple-all": {"post": _op(
            "uncouple_all", "Uncouple every record of a mapping as a background job (F6); no record is deleted.",
            {202: ref("Job")}, errors=(400, 404, 503), params=(_PATH_NAME,))},
        "/sync": {"post": _op("sync_records", "Synchronize one coupled record now (F3: 200 with the outcome); "
                              "several ids run as a background job (F5: 202 with the job).",
                              {200: ref("SyncOutcome"), 202: ref("Job")}, body=ref("SyncRequest"))},
        "/crm/sync": {"post": _op("crm_sync", "Synchronize one CRM row from the ribbon (F4).",
                                  {200: ref("RibbonAnswer")}, body=ref("CrmSyncRequest"))},
        "/mappings": {"get": _op("list_mappings", "Every mapping.", {200: ref("MappingList")}, errors=(503,))},
        "/mappings/reset-defaults": {"post": _op(
            "reset_default_mappings", "Diff against the shipped defaults; applied only with confirm (X15).",
            {200: ref("ResetDefaultsResult")}, errors=(400, 409, 503), body=ref("ResetDefaultsRequest"),
            body_required=False)},
        "/mappings/{name}": {
            "get": _op("get_mapping", "One mapping.", {200: ref("Mapping")}, errors=(400, 404, 503),
                       params=(_PATH_NAME,), headers=_ETAG),
            "put": _op("put_mapping", "Create or replace a mapping (F7).", {200: ref("Mapping"), 201: ref("Mapping")},
                       errors=(400, 404, 409, 412, 503), params=(_PATH_NAME, _IF_MATCH), body=ref("Mapping"),
                       headers=_ETAG),
            "patch": {**_op("patch_mapping", "Merge-patch a mapping; validated as a whole.", {200: ref("Mapping")},
                            errors=(400, 404, 409, 412, 503), params=(_PATH_NAME, _IF_MATCH), headers=_ETAG),
                      "requestBody": {"required": True, **_json(ref("MappingPatch"), "application/merge-patch+json")}},
            "delete": _op("delete_mapping", "Delete a mapping; force also removes its couplings.", {204: None},
                          errors=(400, 404, 409, 503), params=(
                              _PATH_NAME, _param("force", "query", {"type": "string", "enum": ["true", "false"]}))),
        },
        "/mappings/{name}/versions": {"get": _op("mapping_versions", "Every version of a mapping, oldest first.",
                                                 {200: ref("MappingList")}, errors=(400, 404, 503),
                                                 params=(_PATH_NAME,))},
        "/mappings/{name}/sync": {"post": _op(
            "run_sync", "Queue a synchronization of the mapping now (F8, F13, X5).", {202: ref("RunAccepted")},
            errors=(400, 404, 409, 503), params=(_PATH_NAME,), body=ref("RunRequest"), body_required=False)},
        "/mappings/{name}/reconcile": {"post": _op(
            "reconcile", "Queue a drift reconciliation of the mapping: compare every coupled pair, repair drift (X9).",
            {202: ref("Job")}, errors=(400, 404, 409, 503), params=(_PATH_NAME,), body=ref("ReconcileRequest"),
            body_required=False)},
        "/mappings/{name}/pause": {"post": _op(
            "pause_mapping", "Pause the mapping: no run does work until it is resumed (X12).",
            {200: ref("PauseState")}, errors=(400, 404, 503), params=(_PATH_NAME,), body=ref("PauseRequest"),
            body_required=False)},
        "/mappings/{name}/resume": {"post": _op(
            "resume_mapping", "Resume the mapping; its next run catches up from the watermarks (X12).",
            {200: ref("PauseState")}, errors=(400, 404, 503), params=(_PATH_NAME,))},
        "/mappings/{name}/match-couple": {"post": _op(
            "match_couple", "Couple the uncoupled records by their match fields as a background job (F12).",
            {202: ref("Job")}, errors=(400, 404, 503), params=(_PATH_NAME,), body=ref("MatchCoupleRequest"),
            body_required=False)},
        "/setup/full-sync-plan": {"get": _op(
            "full_sync_plan", "Per mapping in dependency order: counts per side and the recommended run (F13).",
            {200: ref("FullSyncPlan")}, errors=(502, 503))},
        "/setup/full-sync": {"post": _op(
            "full_sync", "Queue the recommended run of each mapping, in dependency order (F13, X5).",
            {202: ref("FullSyncPlan")}, errors=(400, 404, 502, 503), body=ref("FullSyncRequest"),
            body_required=False)},
        "/jobs": {"get": _op("list_jobs", "Jobs, newest first (F11).", {200: ref("JobList")}, errors=(400, 503),
                             params=(_QUERY_MAPPING, _TOP))},
        "/jobs/{id}": {"get": _op("get_job", "One job with its counters and error rows.", {200: ref("JobDetail")},
                                  errors=(400, 404, 503), params=(_param("id", "path", guid),))},
        "/errors": {"get": _op("list_sync_errors", "Failed and skipped couplings (F10).", {200: ref("ErrorList")},
                               errors=(400, 404, 503), params=(_QUERY_MAPPING, _TOP))},
        "/errors/retry": {"post": _op("retry_sync_errors", "Retry failed couplings.", {200: ref("ActionResults")},
                                      body=ref("RetryRequest"))},
        "/errors/synchronize": {"post": _op("synchronize_sync_errors", "Synchronize couplings in one direction.",
                                            {200: ref("ActionResults")}, body=ref("SynchronizeRequest"))},
        "/errors/restore": {"post": _op("restore_sync_errors", "Re-create the deleted side and re-couple.",
                                        {200: ref("ActionResults")}, body=ref("ActionRequest"))},
        "/errors/delete-couplings": {"post": _op("delete_error_couplings", "Delete the couplings (never records).",
                                                 {200: ref("ActionResults")}, body=ref("ActionRequest"))},
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
            {202: ref("NotificationsAccepted")}, errors=(400, 401, 503), anonymous=True, body_required=False,
            body=ref("ErpNotifications"),
            params=(_param("validationToken", "query", {"type": "string"}, text="Echoed as text/plain."),)),
            "responses": {**_op("erp_webhook", "", {202: ref("NotificationsAccepted")}, errors=(400, 401, 503),
                                anonymous=True)["responses"],
                          "200": {"description": "The handshake: the validationToken, echoed.",
                                  **_json({"type": "string"}, "text/plain")}},
        }},
        "/webhooks/crm": {"post": _op(
            "crm_webhook", "Dataverse webhook (X2): a RemoteExecutionContext of Create, Update or Delete.",
            {202: ref("NotificationsAccepted")}, errors=(400, 401, 503), anonymous=True,
            body=ref("CrmExecutionContext"),
            params=(_param("x-koppel-secret", "header", {"type": "string"}, text="KOPPEL_WEBHOOK_SECRET."),))},
    }


def _responses() -> dict[str, Schema]:
    words = {400: "Bad input; `field` names what to fix.", 404: "Not found.", 409: "Conflict; `reason` says which.",
             422: "The record failed.", 502: "A side refused or failed to authenticate.",
             503: "A setting is missing (`setting`) or a side is unavailable.",
             401: "A webhook's secret is missing or wrong (anonymous routes only).",
             412: "The resource changed since the version in If-Match."}
    out: dict[str, Schema] = {f"Problem{s}": {"description": w, **_json(ref("Problem"), "application/problem+json")}
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
            "schemas": component_schemas(),
            "responses": _responses(),
            "securitySchemes": {
                "functionKey": {"type": "apiKey", "in": "header", "name": "x-functions-key"},
                "functionKeyQuery": {"type": "apiKey", "in": "query", "name": "code"},
            },
        },
    }
