"""The CRM ribbon's script (crm-solution/) in a real headless Chromium, against the running app and emulators.

The page stands in for the Dynamics 365 form: a small Xrm (form notifications, the user's language, the
environment variables, openUrl) around the unchanged web resource. It is served from the app's own origin,
as Azure's CORS setting (infra/main.bicep) lets the Dynamics origin call the app.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from core.i18n import text
from tests.e2e.conftest import App
from tests.e2e.test_admin_page import _browser

__all__ = ["_browser"]
pytestmark = pytest.mark.e2e

SCRIPT = Path(__file__).resolve().parents[2] / "crm-solution/src/WebResources/koppel_ribbon.js"
FORM = """<!doctype html><meta charset="utf-8"><div id="note"></div><script>
var opened = [];
var Xrm = {
  Utility: { getGlobalContext: () => ({ userSettings: { languageId: %(lcid)d } }) },
  WebApi: { retrieveMultipleRecords: async () => ({ entities: [
    { schemaname: "koppel_AppUrl", environmentvariabledefinition_environmentvariablevalue: [{ value: %(url)s }] },
    { schemaname: "koppel_RibbonKey", environmentvariabledefinition_environmentvariablevalue: [{ value: %(key)s }] }] }) },
  Navigation: { openUrl: (url) => opened.push(url) },
};
var form = {
  data: { entity: { getEntityName: () => %(entity)s, getId: () => %(id)s } },
  ui: { setFormNotification: (m, level) => { const n = document.getElementById("note"); n.textContent = m;
                                             n.dataset.level = level; },
        clearFormNotification: () => { document.getElementById("note").textContent = ""; } },
};
</script><script src="ribbon.js"></script>"""


def _form(browser: Any, app: App, entity: str, crm_id: str, lcid: int) -> Any:
    page = browser.new_page()
    base = app.api.removesuffix("/api")
    html = FORM % {"lcid": lcid, "url": json.dumps(base), "key": json.dumps(app.key), "entity": json.dumps(entity),
                   "id": json.dumps("{" + crm_id.upper() + "}")}
    page.route(f"{base}/crm-form/form.html", lambda r: r.fulfill(status=200, content_type="text/html", body=html))
    page.route(f"{base}/crm-form/ribbon.js",
               lambda r: r.fulfill(status=200, content_type="text/javascript", body=SCRIPT.read_text()))
    page.goto(f"{base}/crm-form/form.html")
    return page


def test_the_button_synchronizes_a_coupled_account_and_opens_the_bc_customer(browser: Any, app: App) -> None:
    [erp_id] = app.seed("erp", "customers", 1)
    [crm_id] = app.seed("crm", "accounts", 1)
    assert app.call("POST", "/couplings", json={"mapping": "CUSTOMER", "erpId": erp_id, "crmId": crm_id,
                                                "sync": "toCrm"}).status_code == 201
    app.edit("crm", "accounts", crm_id, {"name": "Ribbon Test BV"})
    page = _form(browser, app, "account", crm_id, lcid=1043)
    answer = page.evaluate("Koppel.Ribbon.syncToBusinessCentral(form)")
    assert answer["erpId"] == erp_id and answer["action"] == "synchronized", answer
    note = page.locator("#note")
    assert note.get_attribute("data-level") == "INFO"
    assert note.text_content() == page.evaluate("Koppel.Ribbon.TEXTS.nl.synchronized")
    assert page.evaluate("opened") == [answer["erpUrl"]] and erp_id in answer["erpUrl"]
    assert app.bc_records("customers")[erp_id]["displayName"] == "Ribbon Test BV"
    page.close()


def test_an_uncoupled_account_gets_the_reason_in_danish_as_a_warning(browser: Any, app: App) -> None:
    [crm_id] = app.seed("crm", "accounts", 1)
    page = _form(browser, app, "account", crm_id, lcid=1030)
    assert page.evaluate("Koppel.Ribbon.syncToBusinessCentral(form)") is None
    note = page.locator("#note")
    assert note.get_attribute("data-level") == "WARNING"
    assert note.text_content() == text("ribbon.not-coupled-only-coupled", "da")
    assert page.evaluate("opened") == []
    page.close()
