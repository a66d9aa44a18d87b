"""The BC actions (bc-extension/, AL): the shape of the extension, and every call it makes against /openapi.json.

No AL compiler can be installed here, so the AL is read as text: each procedure's `Send(<method>, <route>, Body)`,
the fields it adds to `Body`, and the answer members it reads must be in the OpenAPI document the app serves.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from functions.openapi_spec import build_document

ROOT = Path(__file__).resolve().parents[2]
EXT = ROOT / "bc-extension"
PAGES = {"Customer Card": "CUSTOMER", "Customer List": "CUSTOMER", "Vendor Card": "VENDOR", "Vendor List": "VENDOR",
         "Contact Card": "CONTACT", "Contact List": "CONTACT", "Item Card": "ITEM-PRODUCT", "Item List": "ITEM-PRODUCT"}
ACTIONS = ("Set up coupling", "Synchronize now", "Delete coupling")


def _al() -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted((EXT / "src").glob("*.al"))}


def _procedures(source: str) -> dict[str, str]:
    """procedure name → its text up to the next procedure (AL has no nested procedures)."""
    parts = re.split(r"^\s*(?:local\s+)?procedure\s+(\w+)", source, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2]))


def _calls() -> list[dict[str, Any]]:
    """Every call the client codeunit makes: method, OpenAPI path, query names, body fields, answer members read."""
    (client,) = [s for s in _al().values() if 'codeunit 50100 "Koppel Client"' in s]
    calls = []
    for name, body in _procedures(client).items():
        for m in re.finditer(r"\b(?:Try)?Send\('(\w+)',\s*(Path\('([^']+)'[^)]*\)|'([^']+)')(?:\s*\+\s*'\?([^']+))?",
                             body):
            query = re.findall(r"(\w+)=", m[5] or "")
            calls.append({
                "procedure": name, "method": m[1].lower(), "path": m[3] or m[4], "query": query,
                "fields": re.findall(r"\bBody\.Add\('(\w+)'", body),
                "reads": re.findall(r"\bMember\(Answer, '(\w+)'\)", body),
            })
    return calls


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _properties(doc: dict[str, Any], schema: dict[str, Any]) -> set[str]:
    schema = _resolve(doc, schema)
    names = set(schema.get("properties", {}))
    for key in ("allOf", "oneOf", "anyOf"):
        for part in schema.get(key, []):
            names |= _properties(doc, part)
    return names


def test_app_json_declares_the_extension() -> None:
    app = json.loads((EXT / "app.json").read_text())
    assert {"id", "name", "publisher", "version", "idRanges", "runtime", "application"} <= set(app)
    low, high = app["idRanges"][0]["from"], app["idRanges"][0]["to"]
    ids = [(kind, int(i)) for s in _al().values()
           for kind, i in re.findall(r"^(table|page|codeunit|pageextension) (\d+)", s, re.M)]
    assert ids and all(low <= i <= high for _, i in ids) and len(ids) == len(set(ids)), ids


@pytest.mark.parametrize("page", sorted(PAGES))
def test_each_card_and_list_has_the_three_actions_for_its_mapping(page: str) -> None:
    (ext,) = [s for s in _al().values() if re.search(rf'^pageextension \d+ "[^"]+" extends "{page}"', s, re.M)]
    for caption in ACTIONS:
        assert f"Caption = '{caption}';" in ext, (page, caption)
    assert f"MappingTok: Label '{PAGES[page]}', Locked = true;" in ext
    for call in ("Dialog.Run(MappingTok, Rec.SystemId)", "Koppel.SynchronizeNow(MappingTok, Ids, 'auto')",
                 "Koppel.DeleteCoupling(MappingTok, Rec.SystemId)"):
        assert call in ext, (page, call)


def test_the_mappings_the_actions_name_are_default_mappings() -> None:
    from core.rules.defaults import default_mappings

    assert set(PAGES.values()) <= {m.name for m in default_mappings()}


def test_every_call_the_al_makes_is_a_route_method_and_body_of_the_openapi_document() -> None:
    doc = build_document()
    calls = _calls()
    assert {(c["method"], c["path"]) for c in calls} >= {
        ("post", "/couplings"), ("post", "/sync"), ("delete", "/couplings/{mapping}/{erpId}"), ("get", "/connection")}
    for call in calls:
        where = f'{call["procedure"]}: {call["method"].upper()} {call["path"]}'
        op = doc["paths"].get(call["path"], {}).get(call["method"])
        assert op is not None, f"{where} is not in /openapi.json"
        params = {p["name"] for p in op.get("parameters", []) if p["in"] == "query"}
        assert set(call["query"]) <= params, f"{where}: query {set(call['query']) - params} not documented"
        if call["method"] == "post" and "requestBody" in op:
            schema = _resolve(doc, op["requestBody"]["content"]["application/json"]["schema"])
            allowed, required = set(schema["properties"]), set(schema.get("required", []))
            assert set(call["fields"]) <= allowed, f"{where}: fields {set(call['fields']) - allowed} not in the body"
            assert required <= set(call["fields"]), f"{where}: required {required - set(call['fields'])} never sent"
        else:
            assert not call["fields"], f"{where} sends a body the route does not take"
        answers: set[str] = set()
        for code, response in op["responses"].items():
            if code.startswith("2") and "content" in response:
                answers |= _properties(doc, response["content"]["application/json"]["schema"])
        assert set(call["reads"]) <= answers, f"{where}: reads {set(call['reads']) - answers}, not in the answer"


def test_the_function_key_is_kept_in_isolated_storage_and_sent_as_a_header() -> None:
    al = _al()
    table = al["KoppelSetup.Table.al"]
    assert "IsolatedStorage.Set(KeyName, FunctionKey, DataScope::Company)" in table
    fields = re.findall(r"field\(\d+; \"([^\"]+)\"", table)
    assert not [f for f in fields if "key" in f.lower() and f != "Primary Key"], "the key must not be a table field"
    client = al["KoppelClient.Codeunit.al"]
    assert "Headers.Add('x-functions-key', FunctionKey)" in client and "FunctionKey: SecretText" in client
    assert "Headers.Add('Accept-Language', LanguageTag())" in client


def test_readme_says_the_al_was_not_compiled_here() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "has not been compiled here" in readme and "bc-extension/" in readme
