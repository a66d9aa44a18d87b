"""Issue 11 rules through HTTP: mappings are validated on write (F7) and schedule changes take effect at once (F8).

Every refused write answers 400 problem+json naming the exact field, stores nothing and makes no version.
Each test works on a mapping of its own (the Mappings table outlives a test).
"""
from __future__ import annotations

import copy
import datetime as dt
import json
import uuid
from typing import Any

import pytest

from core.deps import Deps
from core.queue import local_queue
from tests.e2e.conftest import App

pytestmark = pytest.mark.e2e


def _name() -> str:
    return "R" + uuid.uuid4().hex[:10].upper()


def _definition() -> dict[str, Any]:
    return {
        "erpEntity": "customers", "crmEntity": "accounts", "crmTable": "account", "crmIdField": "accountid",
        "direction": "bidirectional", "dependsOn": ["CURRENCY"],
        "fieldMappings": [{"erpField": "displayName", "crmField": "name"},
                          {"erpField": "city", "crmField": "address1_city", "direction": "toCrm"},
                          {"erpField": "currencyId", "crmField": "transactioncurrencyid", "lookup": "CURRENCY"},
                          {"erpField": "email", "crmField": "emailaddress1"}],
    }


def _field(n: int, **changes: Any) -> dict[str, Any]:
    fields = copy.deepcopy(_definition()["fieldMappings"])
    fields[n].update(changes)
    return {"fieldMappings": fields}


# (id, merge patch, the field the problem must name)
INVALID = [
    ("depends-on-no-mapping", {"dependsOn": ["NOPE"]}, "dependsOn[0]"),
    ("lookup-no-mapping", _field(2, lookup="NOPE"), "fieldMappings[2].lookup"),
    ("lookup-key-no-field", _field(2, lookup="CURRENCY:colour"), "fieldMappings[2].lookup"),
    ("erp-field-unknown", _field(3, erpField="colour"), "fieldMappings[3].erpField"),
    ("crm-field-unknown", _field(1, crmField="address9_city"), "fieldMappings[1].crmField"),
    ("crm-field-missing", _field(3, crmField=None), "fieldMappings[3].crmField"),
    ("erp-field-missing", _field(0, erpField=None), "fieldMappings[0].erpField"),
    ("erp-filter-unclosed", {"erpFilter": "(blocked eq ' ') or (number ne '"}, "erpFilter"),
    ("erp-filter-sql", {"erpFilter": "DROP TABLE customers; --"}, "erpFilter"),
    ("erp-filter-unknown-field", {"erpFilter": "colour eq 'red'"}, "erpFilter"),
    ("crm-filter-dangling", {"crmFilter": "statecode eq 0 and"}, "crmFilter"),
    ("erp-entity-unknown", {"erpEntity": "salesOrders"}, "erpEntity"),
]


def _versions(app: App, name: str) -> int:
    return len(app.call("GET", f"/mappings/{name}/versions").json()["value"])


def _raw(app: App, method: str, path: str, text: str) -> Any:
    """Send JSON text as is: `\\ud800` escapes are valid JSON that requests' encoder would never write."""
    return app.call(method, path, data=text.encode("ascii"), headers={"Content-Type": "application/json"})


@pytest.fixture(name="mapping")
def _mapping(app: App) -> str:
    name = _name()
    resp = app.call("PUT", f"/mappings/{name}", json=_definition())
    assert resp.status_code == 201, resp.text
    return name


class TestValidatedOnWrite:
    @pytest.mark.parametrize(("patch", "field"), [(p, f) for _, p, f in INVALID], ids=[i for i, _, _ in INVALID])
    def test_patch_names_the_field_and_stores_nothing(self, app: App, mapping: str, patch: dict[str, Any],
                                                      field: str) -> None:
        resp = app.call("PATCH", f"/mappings/{mapping}", json=patch)

        assert resp.status_code == 400, resp.text
        assert resp.headers["Content-Type"].startswith("application/problem+json")
        assert resp.json()["field"] == field
        assert _versions(app, mapping) == 1
        assert app.call("GET", f"/mappings/{mapping}").json() == {
            **app.call("GET", f"/mappings/{mapping}/versions").json()["value"][0]}

    @pytest.mark.parametrize(("patch", "field"), [(p, f) for _, p, f in INVALID], ids=[i for i, _, _ in INVALID])
    def test_put_of_a_new_mapping_stores_nothing(self, app: App, patch: dict[str, Any], field: str) -> None:
        name = _name()

        resp = app.call("PUT", f"/mappings/{name}", json={**_definition(), **patch})

        assert resp.status_code == 400 and resp.json()["field"] == field, resp.text
        assert app.call("GET", f"/mappings/{name}").status_code == 404

    @pytest.mark.parametrize(("body", "field"), [
        ('{"erpFilter": "number eq \'\\ud800\'"}', "erpFilter"),
        ('{"fieldMappings": [{"erpField": "displayName", "crmField": "na\\udc00me"}]}', "fieldMappings[0].crmField"),
    ], ids=["filter", "field-name"])
    def test_a_lone_surrogate_is_refused_naming_the_field(self, app: App, mapping: str, body: str,
                                                          field: str) -> None:
        resp = _raw(app, "PATCH", f"/mappings/{mapping}", body)

        assert resp.status_code == 400 and resp.json()["field"] == field, resp.text
        assert _versions(app, mapping) == 1

    def test_a_lone_surrogate_in_a_pause_reason_is_refused(self, app: App, mapping: str) -> None:
        resp = _raw(app, "POST", f"/mappings/{mapping}/pause", '{"reason": "disk \\ud83d full"}')

        assert resp.status_code == 400 and resp.json()["field"] == "reason", resp.text
        assert app.call("GET", f"/mappings/{mapping}").json()["paused"] is False
        listing = app.call("GET", "/mappings")
        json.loads(listing.content.decode("utf-8"))  # strict: every string is real text

    def test_valid_filters_and_references_are_stored(self, app: App, mapping: str) -> None:
        resp = app.call("PATCH", f"/mappings/{mapping}", json={
            "erpFilter": "blocked eq ' ' and (city eq 'Zürich' or city eq 'O''Hara')",
            "crmFilter": "statecode eq 0 and _transactioncurrencyid_value ne null"})

        assert resp.status_code == 200, resp.text
        assert _versions(app, mapping) == 2


class TestScheduleChange:
    def test_patching_the_schedule_recomputes_the_next_run_at_once(self, app: App, mapping: str) -> None:
        deps = Deps.from_env()
        ran = app.call("POST", f"/mappings/{mapping}/sync", json={})
        assert ran.status_code == 202, ran.text
        assert local_queue("koppel-jobs").drain(120)
        before = deps.storage().state.get(mapping)
        assert before.last_run_on is not None and before.next_run_on is not None
        assert before.next_run_on - before.last_run_on >= dt.timedelta(minutes=30)  # the default schedule

        resp = app.call("PATCH", f"/mappings/{mapping}",
                        json={"schedule": {"intervalMin": 1, "inactivityTimeoutMin": 1}})

        assert resp.status_code == 200, resp.text
        after = deps.storage().state.get(mapping)
        assert after.next_run_on == before.last_run_on + dt.timedelta(minutes=1)
        assert (after.erp_watermark, after.crm_watermark) == (before.erp_watermark, before.crm_watermark)


@pytest.mark.parametrize("name", ["CURRENCY", "CUSTOMER", "VENDOR", "CONTACT", "ITEM-PRODUCT"])
def test_every_default_mapping_ships_the_spec_inactivity_timeout(app: App, name: str) -> None:
    shipped = app.call("GET", f"/mappings/{name}/versions").json()["value"][0]  # the first version is the default

    assert shipped["schedule"] == {"intervalMin": 30, "inactivityTimeoutMin": 720}


class TestProblemLanguage:
    @pytest.mark.parametrize(("lang", "expected"), [
        ("nl-NL", "Er is geen toewijzing NOPE om van af te hangen."),
        ("da", "Der er ingen tilknytning ved navn NOPE at afhænge af."),
        ("fr, en;q=0.5", "There is no mapping named NOPE to depend on."),
    ])
    def test_a_validation_detail_speaks_the_callers_language(self, app: App, mapping: str, lang: str,
                                                            expected: str) -> None:
        resp = app.call("PATCH", f"/mappings/{mapping}", json={"dependsOn": ["NOPE"]},
                        headers={"Accept-Language": lang})

        assert resp.status_code == 400 and resp.json()["detail"] == expected
        assert resp.json()["field"] == "dependsOn[0]"  # the facts stay as they are

    def test_not_found_and_conflict_details_are_translated(self, app: App, mapping: str) -> None:
        missing = app.call("GET", f"/mappings/{mapping}X", headers={"Accept-Language": "nl"})
        app.call("PATCH", f"/mappings/{mapping}", json={"fieldMappings": [
            *_definition()["fieldMappings"], {"erpField": "phoneNumber", "crmField": "telephone1", "lookup": mapping}]})
        other = _name()
        assert app.call("PUT", f"/mappings/{other}", json={**_definition(), "dependsOn": [mapping]}).status_code == 201
        in_use = app.call("DELETE", f"/mappings/{mapping}", headers={"Accept-Language": "da"})

        assert missing.status_code == 404 and missing.json()["detail"] == f"Er is geen toewijzing met de naam {mapping}X."
        assert in_use.status_code == 409
        assert in_use.json()["detail"] == f"Tilknytning {mapping} bruges af {other}; ret dem først, eller brug force=true."
