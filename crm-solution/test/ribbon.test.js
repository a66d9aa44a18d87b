// The ribbon script under xrm-mock (node --test; tests/unit/test_crm_solution.py runs it).
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const { XrmMockGenerator } = require("xrm-mock");
const Koppel = require("../src/WebResources/koppel_ribbon.js");

const ROW = "{6F9619FF-8B86-D011-B42D-00C04FC964FF}";
const ERP_URL = "https://businesscentral.dynamics.com/t/production?page=21&filter=x";

function form({ entity = "account", lcid = 1033, settings = { koppel_AppUrl: "https://koppel.example/", koppel_RibbonKey: "k1" } } = {}) {
  XrmMockGenerator.initialise({ entity: { entityName: entity, id: ROW } });
  XrmMockGenerator.context.userSettings.languageId = lcid;
  Xrm.WebApi.retrieveMultipleRecords = async (table) => {
    assert.equal(table, "environmentvariabledefinition");
    return { entities: Object.entries(settings).map(([schemaname, value]) => ({
      schemaname, defaultvalue: "", environmentvariabledefinition_environmentvariablevalue: [{ value }] })) };
  };
  return XrmMockGenerator.getFormContext();
}

function answer(status, body) {
  const calls = [];
  global.fetch = async (url, init) => {
    calls.push({ url, init });
    return { ok: status < 300, status, json: async () => body };
  };
  return calls;
}

const notifications = (f) => f.ui.formNotifications || [];

test("a coupled row: posts entity and id in the user's language, shows the answer, opens the BC record", async () => {
  const f = form({ lcid: 1043 });
  const calls = answer(200, { erpId: "e1", erpUrl: ERP_URL, action: "synchronized", mapping: "CUSTOMER" });
  await Koppel.Ribbon.syncToBusinessCentral(f);
  assert.equal(calls.length, 1);
  assert.equal(calls[0].url, "https://koppel.example/api/crm/sync");
  assert.equal(calls[0].init.method, "POST");
  assert.equal(calls[0].init.headers["Accept-Language"], "nl");
  assert.equal(calls[0].init.headers["x-functions-key"], "k1");
  assert.deepEqual(JSON.parse(calls[0].init.body), { entity: "account", crmId: "6f9619ff-8b86-d011-b42d-00c04fc964ff" });
  assert.deepEqual(notifications(f), [{ message: Koppel.Ribbon.TEXTS.nl.synchronized, level: "INFO", uniqueId: "koppel-ribbon" }]);
  assert.deepEqual(Xrm.Navigation.urlCalls.map((c) => c.url), [ERP_URL]);
});

test("a created record says so in Danish", async () => {
  const f = form({ entity: "product", lcid: 1030 });
  const calls = answer(200, { erpId: "e2", erpUrl: ERP_URL, action: "created", mapping: "ITEM-PRODUCT" });
  await Koppel.Ribbon.syncToBusinessCentral(f);
  assert.equal(JSON.parse(calls[0].init.body).entity, "product");
  assert.equal(calls[0].init.headers["Accept-Language"], "da");
  assert.equal(notifications(f)[0].message, Koppel.Ribbon.TEXTS.da.created);
});

test("a 409 shows Koppel's reason as a warning and opens nothing", async () => {
  const f = form({ entity: "contact" });
  answer(409, { type: "about:blank", title: "Conflict", status: 409, reason: "notCoupled",
                detail: "This contact is not coupled, and the mapping only synchronizes coupled records." });
  await Koppel.Ribbon.syncToBusinessCentral(f);
  assert.deepEqual(notifications(f).map((n) => [n.level, n.message]),
                   [["WARNING", "This contact is not coupled, and the mapping only synchronizes coupled records."]]);
  assert.equal(Xrm.Navigation.urlCalls.length, 0);
});

test("an unknown language falls back to English; a failed request is an error in the form", async () => {
  const f = form({ lcid: 1031 });
  global.fetch = async () => { throw new TypeError("fetch failed"); };
  await Koppel.Ribbon.syncToBusinessCentral(f);
  assert.deepEqual(notifications(f).map((n) => [n.level, n.message]), [["ERROR", Koppel.Ribbon.TEXTS.en.unreachable]]);
});

test("without the environment variables it says what to set and calls nothing", async () => {
  const f = form({ settings: { koppel_AppUrl: "", koppel_RibbonKey: "" } });
  const calls = answer(200, {});
  await Koppel.Ribbon.syncToBusinessCentral(f);
  assert.equal(calls.length, 0);
  assert.equal(notifications(f)[0].level, "ERROR");
  assert.match(notifications(f)[0].message, /koppel_AppUrl/);
});
