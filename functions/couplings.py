"""Couple, look up and uncouple records (F2, F6): the ERP extension's "Set up coupling" and "Delete coupling"."""
from __future__ import annotations

import azure.functions as func

from core.actions import coupling, uncoupling
from core.commands import (
    parse_couple, parse_ids, parse_object, parse_page_query, require_guid, require_mapping_name,
)
from core.model import Job
from core.errors import InvalidInput
from functions.deps import deps
from functions.http import empty, guarded, json_response, read_json
from functions.jobs import job_json
from functions.views import coupling_json, coupling_page_json, couple_result_json

bp = func.Blueprint()


@bp.route(route="couplings", methods=["POST"])
def couple(req: func.HttpRequest) -> func.HttpResponse:
    return guarded(req, lambda: json_response(couple_result_json(coupling.couple_record(parse_couple(read_json(req)), deps())), 201))


@bp.route(route="couplings/{mapping}", methods=["GET"])
def get_coupling(req: func.HttpRequest) -> func.HttpResponse:
    def run() -> func.HttpResponse:
        mapping = require_mapping_name(req.route_params.get("mapping"))
        erp_id, crm_id = req.params.get("erpId"), req.params.get("crmId")
        if erp_id is not None and crm_id is not None:
            raise InvalidInput("erpId", "Give one of the query parameters erpId or crmId, not both.")
        if erp_id is None and crm_id is None:
            return json_response(coupling_page_json(coupling.list_couplings(mapping, parse_page_query(req.params), deps())))
        if erp_id is not None:
            return json_response(coupling_json(coupling.find_coupling(mapping, deps(), erp_id=require_guid(erp_id, "erpId"))))
        return json_response(coupling_json(coupling.find_coupling(mapping, deps(), crm_id=require_guid(crm_id, "crmId"))))

    return guarded(req, run)


@bp.route(route="couplings/{mapping}/{erpId}", methods=["DELETE"])
def uncouple(req: func.HttpRequest) -> func.HttpResponse:
    def run() -> func.HttpResponse:
        mapping = require_mapping_name(req.route_params.get("mapping"))
        coupling.uncouple_record(mapping, require_guid(req.route_params.get("erpId"), "erpId"), deps())
        return empty(204)

    return guarded(req, run)


@bp.route(route="couplings/{mapping}/uncouple", methods=["POST"])
def uncouple_many(req: func.HttpRequest) -> func.HttpResponse:
    def run() -> func.HttpResponse:
        mapping = require_mapping_name(req.route_params.get("mapping"))
        body = parse_object(read_json(req), {"erpIds"}, {"erpIds"})
        answer = uncoupling.uncouple_many(mapping, parse_ids(body["erpIds"], "erpIds"), deps())
        if isinstance(answer, Job):
            return json_response(job_json(answer), 202, {"Location": f"/api/jobs/{answer.id}"})
        return json_response({"uncoupled": answer})

    return guarded(req, run)


@bp.route(route="mappings/{name}/uncouple-all", methods=["POST"])
def uncouple_all(req: func.HttpRequest) -> func.HttpResponse:
    def run() -> func.HttpResponse:
        job = uncoupling.queue_uncouple_all(require_mapping_name(req.route_params.get("name"), "name"), deps())
        return json_response(job_json(job), 202, {"Location": f"/api/jobs/{job.id}"})

    return guarded(req, run)
