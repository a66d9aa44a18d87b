"""The OpenAPI document: valid 3.1, exactly the registered routes, and the parsers' own rules."""
from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import azure.functions as func
import pytest
from openapi_spec_validator import validate

import function_app
from core.commands import parse_couple, parse_crm_sync, parse_sync, require_guid, require_mapping_name
from core.errors import InvalidInput
from core.actions.errors_view import parse_action
from devhost.invoke import FunctionInfo, functions_of
from functions.openapi_spec import build_document

GUID = "6f9619ff-8b86-d011-b42d-00c04fc964ff"


def _http_functions() -> list[FunctionInfo]:
    # functions_of caches get_functions(), which raises when called twice on one app.
    return [f for f in functions_of(function_app.app) if f.trigger_type == "httpTrigger"]


def _registered() -> set[tuple[str, str]]:
    return {("/" + f.trigger.route, str(getattr(m, "value", m)).lower())
            for f in _http_functions() for m in f.trigger.methods}


def _documented(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {(path, method) for path, ops in doc["paths"].items() for method in ops}


@pytest.fixture(name="doc")
def _doc() -> dict[str, Any]:
    """A fresh document (it is built on each call, so tests cannot share mutations)."""
    return build_document()


class TestDocument:
    def test_is_valid_openapi_3_1(self, doc: dict[str, Any]) -> None:
        assert doc["openapi"] == "3.1.0"
        validate(doc)

    def test_lists_every_registered_route_and_method(self, doc: dict[str, Any]) -> None:
        missing = _registered() - _documented(doc)
        assert not missing, f"routes registered in function_app but missing from the document: {sorted(missing)}"

    def test_lists_no_route_that_is_not_registered(self, doc: dict[str, Any]) -> None:
        extra = _documented(doc) - _registered()
        assert not extra, f"documented but not registered: {sorted(extra)}"

    def test_operation_ids_are_the_function_names(self, doc: dict[str, Any]) -> None:
        by_route = {("/" + f.trigger.route, str(getattr(m, "value", m)).lower()): f.name
                    for f in _http_functions() for m in f.trigger.methods}
        assert {k: doc["paths"][k[0]][k[1]]["operationId"] for k in by_route} == by_route

    def test_security_matches_each_routes_auth_level(self, doc: dict[str, Any]) -> None:
        # SPEC §4: every route but /health (and webhooks) needs the function key.
        for f in _http_functions():
            anonymous = str(getattr(f.trigger.auth_level, "value", f.trigger.auth_level)).lower() == "anonymous"
            for m in f.trigger.methods:
                op = doc["paths"]["/" + f.trigger.route][str(getattr(m, "value", m)).lower()]
                assert (op.get("security") == []) == anonymous, f.name
                # Anonymous routes (webhooks) may answer their own 401 problem, never the host's empty one.
                host_401 = op["responses"].get("401") == {"$ref": "#/components/responses/Unauthorized"}
                assert host_401 != anonymous, f.name
        schemes = doc["components"]["securitySchemes"]
        assert schemes["functionKey"] == {"type": "apiKey", "in": "header", "name": "x-functions-key"}
        assert schemes["functionKeyQuery"] == {"type": "apiKey", "in": "query", "name": "code"}

    def test_errors_are_problem_json_with_the_rfc_9457_members(self, doc: dict[str, Any]) -> None:
        problem = doc["components"]["schemas"]["Problem"]
        assert {"type", "title", "status", "detail", "field", "setting", "reason"} <= set(problem["properties"])
        for status in ("400", "404", "409", "422", "503"):
            content = doc["components"]["responses"][f"Problem{status}"]["content"]
            assert list(content) == ["application/problem+json"]

    def test_path_parameters_are_declared_for_every_template_segment(self, doc: dict[str, Any]) -> None:
        for path, ops in doc["paths"].items():
            names = set(re.findall(r"\{(\w+)\}", path))
            for op in ops.values():
                assert {p["name"] for p in op.get("parameters", []) if p["in"] == "path"} == names, path


def _pattern(doc: dict[str, Any], path: str, name: str) -> re.Pattern[str]:
    params = next(iter(doc["paths"][path].values()))["parameters"]
    return re.compile(next(p for p in params if p["name"] == name)["schema"]["pattern"])


class TestPatternsAgreeWithTheParsers:
    @pytest.mark.parametrize("value", ["CUSTOMER", "customer", "ITEM-PRODUCT", "A_1", "", "-X", "X" * 21, "a b",
                                       "CUSTOMER/1", "Ω"], ids=repr)
    def test_mapping_name(self, doc: dict[str, Any], value: str) -> None:
        documented = _pattern(doc, "/mappings/{name}", "name").search(value) is not None
        try:
            require_mapping_name(value)
            accepted = True
        except InvalidInput:
            accepted = False
        assert documented == accepted

    @pytest.mark.parametrize("value", [GUID, GUID.upper(), GUID[:-1], "x" + GUID[1:], "42", ""], ids=repr)
    def test_guid(self, doc: dict[str, Any], value: str) -> None:
        documented = _pattern(doc, "/jobs/{id}", "id").search(value) is not None
        try:
            require_guid(value, "id")
            accepted = True
        except InvalidInput:
            accepted = False
        assert documented == accepted


_VALID_BODIES: list[tuple[str, Callable[[Any], Any], dict[str, Any]]] = [
    ("CoupleRequest", parse_couple, {"mapping": "CUSTOMER", "erpId": GUID, "crmId": GUID}),
    ("SyncRequest", parse_sync, {"mapping": "CUSTOMER", "erpIds": [GUID]}),
    ("CrmSyncRequest", parse_crm_sync, {"entity": "account", "crmId": GUID}),
    ("SynchronizeRequest", lambda b: parse_action(b, "synchronize"),
     {"mapping": "CUSTOMER", "erpIds": [GUID], "direction": "toCrm"}),
    ("ActionRequest", lambda b: parse_action(b, "restore"), {"mapping": "CUSTOMER", "erpIds": [GUID]}),
]


class TestClosedBodies:
    @pytest.mark.parametrize(("schema", "parse", "body"), _VALID_BODIES, ids=[b[0] for b in _VALID_BODIES])
    def test_documented_closed_and_the_parser_refuses_unknown_fields(
            self, doc: dict[str, Any], schema: str, parse: Callable[[Any], Any], body: dict[str, Any]) -> None:
        assert doc["components"]["schemas"][schema]["additionalProperties"] is False
        assert set(body) <= set(doc["components"]["schemas"][schema]["properties"])
        parse(body)  # the documented fields are accepted...
        with pytest.raises(InvalidInput) as err:
            parse({**body, "surplus": 1})  # ...and anything else is refused, naming it
        assert err.value.field == "surplus"


class TestServedDocument:
    def test_get_openapi_json_answers_the_document(self) -> None:
        info = next(f for f in _http_functions() if f.trigger.route == "openapi.json")
        req = func.HttpRequest("GET", "http://localhost/api/openapi.json", headers={}, params={}, route_params={},
                               body=b"")
        resp = info.user_function(req)
        assert resp.status_code == 200
        assert resp.mimetype == "application/json"
        assert json.loads(resp.get_body()) == build_document()
