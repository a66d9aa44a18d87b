"""Mappings as data through HTTP (F7, X15): CRUD with versions, exact-field validation, If-Match, reset-defaults.

Each test works on a mapping name of its own (the Mappings table outlives a test), except reset-defaults, which
changes the VENDOR default and restores it.
"""
from __future__ import annotations

import copy
import uuid
from typing import Any

import pytest

from tests.e2e.conftest import App

pytestmark = pytest.mark.e2e


def _name() -> str:
    return "T" + uuid.uuid4().hex[:10].upper()


def _definition(name: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "erpEntity": "customers", "crmEntity": "accounts", "crmTable": "account", "crmIdField": "accountid",
        "direction": "bidirectional",
        "fieldMappings": [{"erpField": "displayName", "crmField": "name"},
                          {"erpField": "city", "crmField": "address1_city", "direction": "toCrm"}],
    }
    if name:
        body["name"] = name
    return body


class TestMappingCrud:
    def test_put_creates_then_replaces_and_keeps_every_version(self, app: App) -> None:
        name = _name()

        created = app.call("PUT", f"/mappings/{name}", json=_definition())
        changed = _definition(name)
        changed["paused"] = True
        replaced = app.call("PUT", f"/mappings/{name}", json=changed)

        assert created.status_code == 201, created.text
        assert created.json()["name"] == name and created.json()["version"] == 1
        assert replaced.status_code == 200 and replaced.json()["version"] == 2 and replaced.json()["paused"] is True
        got = app.call("GET", f"/mappings/{name}")
        assert got.status_code == 200 and got.json()["paused"] is True and got.headers["ETag"]
        versions = app.call("GET", f"/mappings/{name}/versions").json()["value"]
        assert [(v["version"], v["paused"]) for v in versions] == [(1, False), (2, True)]
        assert name in [m["name"] for m in app.call("GET", "/mappings").json()["value"]]

    def test_patch_replaces_top_level_keys_and_keeps_the_rest(self, app: App) -> None:
        name = _name()
        app.call("PUT", f"/mappings/{name}", json=_definition())

        resp = app.call("PATCH", f"/mappings/{name}", json={"direction": "toCrm", "erpFilter": "blocked eq ' '"})

        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert (body["direction"], body["erpFilter"], body["version"]) == ("toCrm", "blocked eq ' '", 2)
        assert [f["crmField"] for f in body["fieldMappings"]] == ["name", "address1_city"]

    def test_a_stale_if_match_is_refused_and_changes_nothing(self, app: App) -> None:
        name = _name()
        etag = app.call("PUT", f"/mappings/{name}", json=_definition()).headers["ETag"]
        fresh = app.call("PATCH", f"/mappings/{name}", json={"paused": True}, headers={"If-Match": etag})
        assert fresh.status_code == 200, fresh.text

        stale = app.call("PATCH", f"/mappings/{name}", json={"paused": False}, headers={"If-Match": etag})
        stale_put = app.call("PUT", f"/mappings/{name}", json=_definition(), headers={"If-Match": etag})

        assert stale.status_code == 412 and stale_put.status_code == 412
        assert stale.json()["field"] == "If-Match"
        assert app.call("GET", f"/mappings/{name}").json()["paused"] is True

    def test_unknown_mapping_is_404_naming_name(self, app: App) -> None:
        resp = app.call("GET", f"/mappings/{_name()}")

        assert resp.status_code == 404 and resp.json()["field"] == "name"

    def test_delete_is_refused_while_coupled_unless_forced(self, app: App) -> None:
        name = _name()
        app.call("PUT", f"/mappings/{name}", json=_definition())
        [erp_id] = app.seed("erp", "customers", 1)
        [crm_id] = app.seed("crm", "accounts", 1)
        assert app.call("POST", "/couplings", json={"mapping": name, "erpId": erp_id, "crmId": crm_id}).status_code == 201

        refused = app.call("DELETE", f"/mappings/{name}")
        forced = app.call("DELETE", f"/mappings/{name}?force=true")

        assert refused.status_code == 409 and refused.json()["reason"] == "hasCouplings"
        assert forced.status_code == 204
        assert app.call("GET", f"/mappings/{name}").status_code == 404
        assert erp_id in app.bc_records("customers") and crm_id in app.crm_records("accounts", "accountid")
        # X15: the versions outlive the mapping.
        assert len(app.call("GET", f"/mappings/{name}/versions").json()["value"]) == 1

    def test_an_uncoupled_mapping_deletes_with_204(self, app: App) -> None:
        name = _name()
        app.call("PUT", f"/mappings/{name}", json=_definition())

        assert app.call("DELETE", f"/mappings/{name}").status_code == 204
        assert app.call("GET", f"/mappings/{name}").status_code == 404


def _bad(field: str) -> tuple[dict[str, Any], str]:
    body = _definition()
    body["fieldMappings"] = [*body["fieldMappings"], *[{"erpField": e, "crmField": c}
                                                   for e, c in (("email", "emailaddress1"), ("website", "websiteurl"))]]
    if field == "fieldMappings[3].direction":
        body["fieldMappings"][3]["direction"] = "sideways"
    elif field == "direction":
        body["direction"] = "up"
    elif field == "schedule.intervalMin":
        body["schedule"] = {"intervalMin": 0}
    elif field == "crmTable":
        del body["crmTable"]
    elif field == "fieldMappings[1].bogus":
        body["fieldMappings"][1]["bogus"] = 1
    elif field == "name":
        body["name"] = "OTHER"
    return body, field


BAD = ["fieldMappings[3].direction", "direction", "schedule.intervalMin", "crmTable", "fieldMappings[1].bogus", "name"]


class TestMappingValidation:
    @pytest.mark.parametrize("field", BAD, ids=BAD)
    def test_put_names_the_exact_field_and_stores_nothing(self, app: App, field: str) -> None:
        name = _name()
        app.call("PUT", f"/mappings/{name}", json=_definition())
        body, expected = _bad(field)

        resp = app.call("PUT", f"/mappings/{name}", json=body)

        assert resp.status_code == 400, resp.text
        assert resp.json()["field"] == expected
        assert len(app.call("GET", f"/mappings/{name}/versions").json()["value"]) == 1

    def test_patch_is_validated_as_a_whole(self, app: App) -> None:
        name = _name()
        app.call("PUT", f"/mappings/{name}", json=_definition())
        fields = copy.deepcopy(_definition()["fieldMappings"])
        fields[1]["direction"] = "nowhere"

        resp = app.call("PATCH", f"/mappings/{name}", json={"fieldMappings": fields})

        assert resp.status_code == 400 and resp.json()["field"] == "fieldMappings[1].direction"
        assert app.call("GET", f"/mappings/{name}").json()["version"] == 1


class TestResetDefaults:
    def test_answers_a_diff_and_applies_only_when_confirmed(self, app: App) -> None:
        patched = app.call("PATCH", "/mappings/VENDOR", json={"paused": True, "erpFilter": "blocked eq 'All'"})
        assert patched.status_code == 200, patched.text

        dry = app.call("POST", "/mappings/reset-defaults", json={"names": ["VENDOR"]})
        assert dry.status_code == 200, dry.text
        [diff] = dry.json()["value"]
        assert diff["change"] == "replace" and set(diff["changedKeys"]) == {"paused", "erpFilter"}
        assert not diff["applied"]
        assert app.call("GET", "/mappings/VENDOR").json()["paused"] is True

        applied = app.call("POST", "/mappings/reset-defaults", json={"names": ["VENDOR"], "confirm": True})

        assert applied.status_code == 200 and applied.json()["value"][0]["applied"] is True
        now = app.call("GET", "/mappings/VENDOR").json()
        assert now["paused"] is False and now["erpFilter"] != "blocked eq 'All'"
        # The customization is not dropped silently: it stays as the previous version.
        versions = app.call("GET", "/mappings/VENDOR/versions").json()["value"]
        assert versions[-2]["paused"] is True
        again = app.call("POST", "/mappings/reset-defaults", json={}).json()["value"]
        assert {d["name"]: d["change"] for d in again}["VENDOR"] == "unchanged"

    def test_reset_defaults_is_not_taken_for_a_mapping_name(self, app: App) -> None:
        resp = app.call("GET", "/mappings/reset-defaults")

        assert resp.status_code == 404 and resp.json()["field"] == "name"
