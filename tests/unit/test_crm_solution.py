"""The CRM ribbon (crm-solution/): the ribbon XML wires the button to the web resource, and the script
behaves under xrm-mock (node's test runner, driven from here so CI runs it)."""
from __future__ import annotations

import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from functions.openapi_spec import build_document

ROOT = Path(__file__).resolve().parents[2]
SOLUTION = ROOT / "crm-solution"
SCRIPT = SOLUTION / "src/WebResources/koppel_ribbon.js"
FORMS = {"account": "Account", "contact": "Contact", "product": "Product"}


@pytest.mark.parametrize("entity", sorted(FORMS))
def test_the_form_ribbon_runs_the_web_resource_with_the_form(entity: str) -> None:
    ribbon = ET.parse(SOLUTION / f"src/Entities/{FORMS[entity]}/RibbonDiff.xml").getroot()
    assert ribbon.tag == "RibbonDiffXml"
    (action,) = ribbon.iter("CustomAction")
    assert action.get("Location", "").startswith(f"Mscrm.Form.{entity}.")
    (button,) = action.iter("Button")
    commands = {c.get("Id"): c for c in ribbon.iter("CommandDefinition")}
    (js,) = commands[button.get("Command")].iter("JavaScriptFunction")
    assert js.get("Library") == "$webresource:koppel_/ribbon.js"
    assert [p.get("Value") for p in js.iter("CrmParameter")] == ["PrimaryControl"]
    namespace, function = js.get("FunctionName", "").rsplit(".", 1)
    assert namespace == "Koppel.Ribbon" and f"{function}: {function}" in SCRIPT.read_text()
    labels = {label.get("Id") for label in ribbon.iter("LocLabel")}
    assert button.get("LabelText", "").removeprefix("$LocLabels:") in labels


def test_the_solution_ships_the_web_resource_and_its_settings() -> None:
    manifest = ET.parse(SOLUTION / "src/Other/Solution.xml").getroot()
    roots = {(r.get("type"), r.get("schemaName")) for r in manifest.iter("RootComponent")}
    assert {("1", e) for e in FORMS} | {("61", "koppel_/ribbon.js")} <= roots
    data = ET.parse(SOLUTION / "src/WebResources/koppel_ribbon.js.data.xml").getroot()
    assert data.findtext("Name") == "koppel_/ribbon.js"
    assert (SOLUTION / "src" / data.findtext("FileName", "").lstrip("/")).resolve() == SCRIPT.resolve()
    for name in re.findall(r"koppel_(?:AppUrl|RibbonKey)", SCRIPT.read_text()):
        assert ("380", name) in roots and (SOLUTION / f"src/environmentvariabledefinitions/{name}").is_dir()


def test_the_script_calls_the_documented_route_with_its_body() -> None:
    op = build_document()["paths"]["/crm/sync"]["post"]
    schema = op["requestBody"]["content"]["application/json"]["schema"]
    ref = schema["$ref"].rsplit("/", 1)[1]
    body = build_document()["components"]["schemas"][ref]
    text = SCRIPT.read_text()
    assert '"/api/crm/sync"' in text and 'method: "POST"' in text
    assert set(body["properties"]) == set(body["required"]) == {"entity", "crmId"}
    assert "JSON.stringify({ entity: entity, crmId: crmId })" in text


def test_the_ribbon_script_under_xrm_mock() -> None:
    node = shutil.which("node")
    if node is None or not (ROOT / "node_modules/xrm-mock/package.json").exists():
        pytest.fail("node and the npm devDependency xrm-mock are needed: scripts/bootstrap installs them (npm ci)")
    done = subprocess.run([node, "--test", str(SOLUTION / "test")], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert re.search(r"^# pass [1-9]", done.stdout, re.M) and re.search(r"^# fail 0$", done.stdout, re.M)
