"""core.sync.drift's pure comparison: which coupled pairs drifted, and which way each is repaired (SPEC X9)."""
from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from core.sync.drift import PairCheck, changed_keys, check_pair, differing_fields, main_direction
from core.rules.fields import LookupTable, synced_hashes
from core.model import Coupling, Mapping, Record, Side, UpdateConflictPolicy
from core.rules.plan import RESULT_FAILURE, RESULT_SUCCESS
# The planner tests' mapping and records: a pair right after a sync, with the currency coupled.
from tests.unit.test_plan import CRM, CRM_ID, ERP, ERP_ID, EUR_CRM, EUR_ERP, FROM, M, T0, TO

TABLE = LookupTable.of({("CURRENCY", Side.ERP): {EUR_ERP: EUR_CRM}, ("CURRENCY", Side.CRM): {EUR_CRM: EUR_ERP}})
LOOKUPS = {TO: TABLE, FROM: TABLE}


def ms(n: float) -> dt.timedelta:
    return dt.timedelta(milliseconds=n)


def erp(at: dt.timedelta = dt.timedelta(0), **over: Any) -> Record:
    return Record(ERP_ID, T0 + at, {**ERP, **over})


def crm(at: dt.timedelta = dt.timedelta(0), **over: Any) -> Record:
    return Record(CRM_ID, T0 + at, {**CRM, **over})


def synced(mapping: Mapping = M, erp_fields: dict[str, Any] = ERP, crm_fields: dict[str, Any] = CRM,
           **over: Any) -> Coupling:
    state: dict[str, Any] = {"erp_modified_on": T0, "crm_modified_on": T0, "erp_result": RESULT_SUCCESS,
                             "crm_result": RESULT_SUCCESS,
                             "field_hashes": synced_hashes(mapping, erp_fields, crm_fields)}
    return Coupling(mapping.name, ERP_ID, CRM_ID, **{**state, **over})


def check(e: Record, c: Record, coupling: Coupling | None = None, mapping: Mapping = M, **kw: Any) -> PairCheck:
    return check_pair(mapping, coupling or synced(mapping), e, c, LOOKUPS, **kw)


def test_a_pair_as_synced_is_in_sync() -> None:
    assert differing_fields(M, erp(), crm(), LOOKUPS) == ()
    assert not check(erp(), crm()).drifted


def test_a_crm_edit_that_kept_modifiedon_is_drift_repaired_from_crm() -> None:
    result = check(erp(), crm(name="Acme Renamed"))
    assert result.drifted and result.crm_changed and not result.erp_changed
    assert result.differing == ("displayName|name",)
    assert result.directions == (FROM,) and not result.force


def test_an_erp_edit_that_kept_its_timestamp_is_repaired_to_crm() -> None:
    result = check(erp(city="Delft"), crm())
    assert result.drifted and result.directions == (TO,) and not result.force


def test_edits_on_both_sides_run_both_passes_through_the_normal_rules() -> None:
    result = check(erp(city="Delft"), crm(ms(5), name="Other"))
    assert result.drifted and result.directions == (TO, FROM) and not result.force


def test_a_change_the_next_incremental_pass_reads_is_not_drift() -> None:
    assert not check(erp(), crm(ms(10), name="Acme Renamed")).drifted
    assert not check(erp(dt.timedelta(minutes=1), city="Delft"), crm()).drifted


def test_a_change_behind_the_watermark_is_drift() -> None:
    # Later than the stored time, but before the CRM watermark: no incremental pass will read it again.
    later = crm(dt.timedelta(minutes=1), name="Acme Renamed")
    result = check(erp(), later, crm_watermark=T0 + dt.timedelta(minutes=5))
    assert result.drifted and result.directions == (FROM,)
    assert not check(erp(), later, crm_watermark=T0 + dt.timedelta(seconds=30)).drifted


def test_a_wrong_baseline_is_forced_in_the_mappings_direction() -> None:
    # Both sides hold what the coupling stored, yet they differ: the stored hashes lie.
    wrong = synced(crm_fields={**CRM, "name": "Stale"})
    result = check(erp(), crm(name="Stale"), wrong)
    assert result.drifted and not result.erp_changed and not result.crm_changed
    assert result.directions == (TO,) and result.force
    crm_wins = dataclasses.replace(M, update_conflict=UpdateConflictPolicy.CRM_WINS)
    assert check(erp(), crm(name="Stale"), synced(crm_wins, crm_fields={**CRM, "name": "Stale"}),
                 crm_wins).directions == (FROM,)


def test_an_edit_with_an_older_modified_time_flows_like_any_edit() -> None:
    # The CRM row is older than the time stored at the last sync yet holds another value: its values, not its
    # clock, say it changed, so it flows to the ERP (writing the ERP's value over it would revert the edit).
    result = check(erp(), crm(-dt.timedelta(minutes=1), name="Old"))
    assert result.drifted and result.directions == (FROM,) and not result.force


def test_a_one_way_mapping_repairs_toward_its_destination() -> None:
    to_crm = dataclasses.replace(M, direction=TO)
    result = check(erp(), crm(ms(50), name="Edited in Dataverse"), synced(to_crm), to_crm)
    assert result.drifted and result.directions == (TO,) and result.force
    assert main_direction(to_crm) is TO


def test_transforms_and_lookups_compare_in_the_destinations_terms() -> None:
    # accountnumber carries a prefix and the currency ids differ by design: neither is drift.
    assert differing_fields(M, erp(), crm(), LOOKUPS) == ()
    assert len(differing_fields(M, erp(number="C2"), crm(), LOOKUPS)) == 1
    # An untranslatable lookup is an error of its own, not drift.
    assert differing_fields(M, erp(), crm(), {TO: LookupTable(), FROM: LookupTable()}) == ()


def test_failed_or_skipped_couplings_are_left_to_the_incremental_retries() -> None:
    assert not check(erp(), crm(name="X"), synced(crm_result=RESULT_FAILURE)).drifted
    assert not check(erp(), crm(name="X"), synced(skipped=True)).drifted


def test_changed_keys_compare_each_side_with_its_stored_hash() -> None:
    coupling = synced()
    assert changed_keys(M, coupling, Side.CRM, crm(name="X")) != ()
    assert changed_keys(M, coupling, Side.ERP, erp()) == ()
    assert changed_keys(M, dataclasses.replace(coupling, field_hashes={}), Side.ERP, erp()) != ()


def test_a_blank_the_service_replaced_with_its_default_is_not_drift() -> None:
    # The ERP has no currency (blank); Dataverse keeps its base currency; the last sync stored exactly that.
    blank_erp = {**ERP, "currencyId": None}
    coupling = synced(erp_fields=blank_erp)
    one_way = {TO: TABLE, FROM: LookupTable()}  # the base currency has no ERP counterpart
    assert not check_pair(M, coupling, erp(currencyId=None), crm(), one_way).drifted
    # ...but a blank the ERP got unseen since the last sync is drift.
    assert check_pair(M, synced(), erp(currencyId=None), crm(), one_way).drifted
