"""core.rules.plan and core.rules.coupling_state: every branch of the per-record decision, table-driven, no I/O."""
from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest

from core.rules.coupling_state import applied_state, next_error_state
from core.errors import Conflict
from core.rules.fields import NOT_SYNCED, LookupTable, decode_pair, synced_hashes
from core.model import (
    Coupling, DeletionConflictPolicy, Direction, ErrorCategory, FieldMapping, Mapping, Record, Side,
    UpdateConflictPolicy,
)
from core.rules.plan import (
    RESULT_FAILURE, RESULT_SUCCESS, Action, ActionKind, auto_direction, changed_sides, plan_page, plan_record,
    source_unchanged,
)

TO, FROM = Direction.TO_CRM, Direction.FROM_CRM
T0 = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.timezone.utc)
ERP_ID = "e0000000-0000-0000-0000-000000000001"
CRM_ID = "c0000000-0000-0000-0000-000000000001"
EUR_ERP = "e0000000-0000-0000-0000-0000000000e1"
EUR_CRM = "c0000000-0000-0000-0000-0000000000e1"
USD_ERP = "e0000000-0000-0000-0000-0000000000e2"

M = Mapping(
    "CUSTOMER", "customers", "accounts", "account", "accountid", Direction.BIDIRECTIONAL,
    (
        FieldMapping(None, "customertypecode", TO, constant=3),
        FieldMapping("displayName", "name"),
        FieldMapping("city", "address1_city"),
        FieldMapping("creditLimit", "creditlimit", TO),
        FieldMapping("currencyId", "transactioncurrencyid", lookup="CURRENCY"),
        FieldMapping("number", "accountnumber", TO, transform="prefix:BC-"),
    ),
)
ERP = {"displayName": "Acme", "city": "Utrecht", "creditLimit": 100, "currencyId": EUR_ERP, "number": "C1"}
CRM = {"name": "Acme", "address1_city": "Utrecht", "creditlimit": 100, "transactioncurrencyid": EUR_CRM,
       "customertypecode": 3, "accountnumber": "BC-C1"}
LOOKUPS = LookupTable.of({("CURRENCY", Side.ERP): {EUR_ERP: EUR_CRM}, ("CURRENCY", Side.CRM): {EUR_CRM: EUR_ERP}})


def ms(n: float) -> dt.timedelta:
    return dt.timedelta(milliseconds=n)


def erp(at: dt.timedelta = dt.timedelta(0), **over: Any) -> Record:
    return Record(ERP_ID, T0 + at, {**ERP, **over}, etag='W/"erp1"')


def crm(at: dt.timedelta = dt.timedelta(0), **over: Any) -> Record:
    return Record(CRM_ID, T0 + at, {**CRM, **over}, etag='W/"7"')


def synced(mapping: Mapping = M, **over: Any) -> Coupling:
    """A coupling as it stands right after a sync of `erp()` and `crm()`."""
    state: dict[str, Any] = {"erp_modified_on": T0, "crm_modified_on": T0, "erp_result": RESULT_SUCCESS,
                             "crm_result": RESULT_SUCCESS, "field_hashes": synced_hashes(mapping, ERP, CRM)}
    return Coupling(mapping.name, ERP_ID, CRM_ID, **{**state, **over})


def plan(direction: Direction, e: Record | None, c: Record | None, coupling: Coupling | None, mapping: Mapping = M,
         **kw: Any) -> Action:
    source, destination = (e, c) if direction is TO else (c, e)
    assert source is not None
    return plan_record(mapping=mapping, direction=direction, source=source, coupling=coupling,
                       destination=destination, lookups=kw.pop("lookups", LOOKUPS), **kw)


def with_policy(policy: UpdateConflictPolicy) -> Mapping:
    return dataclasses.replace(M, update_conflict=policy)


class TestUncoupled:
    def test_sync_only_coupled_skips(self) -> None:
        action = plan(TO, erp(), None, None)
        assert (action.kind, action.reason) == (ActionKind.SKIP, "not coupled")

    @pytest.mark.parametrize(("mapping", "force"), [(dataclasses.replace(M, sync_only_coupled=False), False), (M, True)],
                             ids=["sync-all", "forced"])
    def test_insert_writes_every_field_of_the_direction(self, mapping: Mapping, force: bool) -> None:
        action = plan(TO, erp(), None, None, mapping, force=force)
        assert action.kind is ActionKind.INSERT
        assert dict(action.changes) == {"customertypecode": 3, "name": "Acme", "address1_city": "Utrecht",
                                        "creditlimit": 100, "transactioncurrencyid": EUR_CRM, "accountnumber": "BC-C1"}
        assert (action.erp_id, action.crm_id) == (ERP_ID, None)
        # The hashes it stores make the inserted pair look synced.
        assert action.field_hashes == synced_hashes(M, ERP, CRM)

    def test_insert_with_an_uncoupled_lookup_fails_as_dependency(self) -> None:
        action = plan(TO, erp(currencyId=USD_ERP), None, None, force=True)
        assert (action.kind, action.category) == (ActionKind.FAIL, ErrorCategory.DEPENDENCY)
        assert "CURRENCY" in (action.reason or "")

    def test_match_is_coupled_and_force_modified(self) -> None:
        match = crm(name="ACME", address1_city="Utrecht")
        action = plan_record(mapping=M, direction=TO, source=erp(), coupling=None, destination=None,
                             lookups=LOOKUPS, match=match)
        assert (action.kind, action.crm_id, dict(action.changes)) == (ActionKind.COUPLE, CRM_ID, {"name": "Acme"})
        assert action.destination_etag == 'W/"7"'


class TestSkips:
    def test_skipped_coupling_is_skipped_unless_forced(self) -> None:
        coupling = synced(skipped=True)
        assert plan(TO, erp(ms(5000), displayName="New"), crm(), coupling).kind is ActionKind.SKIP
        assert plan(TO, erp(ms(5000), displayName="New"), crm(), coupling, force=True).kind is ActionKind.MODIFY

    def test_direction_the_mapping_does_not_allow(self) -> None:
        one_way = dataclasses.replace(M, direction=TO)
        action = plan(FROM, erp(), crm(ms(5000), name="X"), synced(one_way), one_way)
        assert action.kind is ActionKind.SKIP and "fromCrm" in (action.reason or "")


class TestChangeDetection:
    @pytest.mark.parametrize(("delta_ms", "stored", "changed"), [
        (0, T0, False), (9, T0, False), (9.999, T0, False), (10, T0, True), (250, T0, True), (-500, T0, False),
        (0, None, True),
    ], ids=["same", "9ms-equal", "just-under-10ms", "10ms-changed", "later", "earlier", "never-synced"])
    def test_10ms_rule(self, delta_ms: float, stored: dt.datetime | None, changed: bool) -> None:
        coupling = synced(erp_modified_on=stored)
        assert changed_sides(coupling, T0 + ms(delta_ms), T0) == (changed, False)
        action = plan(TO, erp(ms(delta_ms)), crm(), coupling)  # same values: only the timestamp speaks
        assert (action.kind is ActionKind.UNCHANGED) and action.refresh is changed

    @pytest.mark.parametrize("delta_ms", [0, 5, -500], ids=["same-instant", "same-second", "earlier-clock"])
    def test_an_edit_the_timestamp_hides_is_seen_by_the_field_hashes(self, delta_ms: float) -> None:
        # Dataverse keeps whole seconds: a person's edit in the second of Koppel's own write has the same
        # modifiedon. The value differs from the last synced one, so the side still counts as changed.
        action = plan(TO, erp(ms(delta_ms), displayName="Acme BV"), crm(), synced())
        assert action.kind is ActionKind.MODIFY and dict(action.changes) == {"name": "Acme BV"}

    @pytest.mark.parametrize(("result", "skipped", "retried"), [
        (RESULT_FAILURE, False, True), (RESULT_FAILURE, True, False), (RESULT_SUCCESS, False, False),
    ], ids=["failed-retried", "failed-but-skipped", "succeeded"])
    def test_failed_write_is_retried(self, result: str, skipped: bool, retried: bool) -> None:
        coupling = synced(crm_result=result, skipped=skipped)
        assert changed_sides(coupling, T0, T0) == (retried, False)
        action = plan(TO, erp(), crm(), coupling, force=skipped)
        assert (action.kind is ActionKind.UNCHANGED) and action.refresh is (retried or skipped)

    def test_source_not_changed_is_unchanged_without_refresh(self) -> None:
        action = plan(TO, erp(), crm(ms(60_000), name="CRM edit"), synced())
        assert (action.kind, action.refresh) == (ActionKind.UNCHANGED, False)

    def test_changed_record_with_no_differing_field_refreshes(self) -> None:
        action = plan(TO, erp(ms(60_000)), crm(), synced())
        assert (action.kind, action.refresh, dict(action.changes)) == (ActionKind.UNCHANGED, True, {})
        assert action.source_modified_on == T0 + ms(60_000)


class TestModify:
    def test_only_differing_fields_are_written_with_the_etag(self) -> None:
        action = plan(TO, erp(ms(1000), displayName="Acme BV"), crm(), synced())
        assert (action.kind, dict(action.changes)) == (ActionKind.MODIFY, {"name": "Acme BV"})
        assert action.destination_etag == 'W/"7"'
        assert action.field_hashes == synced_hashes(M, {**ERP, "displayName": "Acme BV"}, {**CRM, "name": "Acme BV"})
        assert not action.destination_pending

    def test_constant_and_transform_restored_when_destination_drifted(self) -> None:
        action = plan(TO, erp(ms(1000)), crm(customertypecode=1, accountnumber="C1"), synced())
        assert dict(action.changes) == {"customertypecode": 3, "accountnumber": "BC-C1"}

    def test_transform_runs_backwards_fromCrm(self) -> None:
        mapping = dataclasses.replace(M, field_mappings=(FieldMapping("number", "accountnumber", transform="prefix:BC-"),))
        coupling = dataclasses.replace(synced(mapping), field_hashes=synced_hashes(mapping, ERP, CRM))
        action = plan(FROM, erp(), crm(ms(1000), accountnumber="BC-C2"), coupling, mapping)
        assert dict(action.changes) == {"number": "C2"}

    def test_not_null_keeps_the_destination_value(self) -> None:
        mapping = dataclasses.replace(M, field_mappings=(
            FieldMapping("displayName", "name"), FieldMapping("salespersonCode", "ownerid", TO, not_null=True)))
        action = plan(TO, erp(ms(1000), displayName="Acme BV", salespersonCode=""), crm(ownerid="u1"),
                      synced(mapping), mapping)
        assert dict(action.changes) == {"name": "Acme BV"}

    @pytest.mark.parametrize(("clear", "kind", "changes"), [
        (False, ActionKind.FAIL, {}), (True, ActionKind.MODIFY, {"transactioncurrencyid": None}),
    ], ids=["fails", "clear-on-failure"])
    def test_uncoupled_lookup(self, clear: bool, kind: ActionKind, changes: dict[str, Any]) -> None:
        fms = tuple(dataclasses.replace(f, clear_on_failure=clear) if f.lookup else f for f in M.field_mappings)
        mapping = dataclasses.replace(M, field_mappings=fms)
        action = plan(TO, erp(ms(1000), currencyId=USD_ERP), crm(), synced(mapping), mapping)
        assert (action.kind, dict(action.changes)) == (kind, changes)
        if clear:  # cleared, but not synced: the next time the ERP record is read the lookup is retried
            assert decode_pair(action.field_hashes["currencyId|transactioncurrencyid"])[0] == NOT_SYNCED  # type: ignore[index]
        else:
            assert action.category is ErrorCategory.DEPENDENCY and action.failures[0].field == "transactioncurrencyid"

    def test_one_way_mapping_ignores_destination_changes(self) -> None:
        one_way = dataclasses.replace(M, direction=TO)
        action = plan(TO, erp(ms(1000), displayName="Acme BV"), crm(ms(2000), name="CRM name"), synced(one_way), one_way)
        assert (action.kind, dict(action.changes)) == (ActionKind.MODIFY, {"name": "Acme BV"})


BOTH_CHANGED_SAME_FIELD = (erp(ms(1000), displayName="ERP name"), crm(ms(2000), name="CRM name"))


class TestUpdateConflict:
    @pytest.mark.parametrize(("policy", "direction", "kind", "changes"), [
        (UpdateConflictPolicy.FAIL, TO, ActionKind.CONFLICT, {}),
        (UpdateConflictPolicy.FAIL, FROM, ActionKind.CONFLICT, {}),
        (UpdateConflictPolicy.MERGE, TO, ActionKind.CONFLICT, {}),
        (UpdateConflictPolicy.ERP_WINS, TO, ActionKind.MODIFY, {"name": "ERP name"}),
        (UpdateConflictPolicy.ERP_WINS, FROM, ActionKind.SKIP, {}),
        (UpdateConflictPolicy.CRM_WINS, TO, ActionKind.SKIP, {}),
        (UpdateConflictPolicy.CRM_WINS, FROM, ActionKind.MODIFY, {"displayName": "CRM name"}),
    ], ids=["fail-toCrm", "fail-fromCrm", "merge", "erpWins-winner", "erpWins-loser", "crmWins-loser",
            "crmWins-winner"])
    def test_same_field_changed_on_both_sides(self, policy: UpdateConflictPolicy, direction: Direction,
                                              kind: ActionKind, changes: dict[str, Any]) -> None:
        mapping = with_policy(policy)
        action = plan(direction, *BOTH_CHANGED_SAME_FIELD, synced(mapping), mapping)
        assert (action.kind, dict(action.changes)) == (kind, changes)
        if kind is ActionKind.CONFLICT:
            assert action.category is ErrorCategory.CONFLICT and action.conflicts[0].key == "displayName|name"
        if kind is ActionKind.SKIP:
            assert action.reason == "the other side wins"

    def test_merge_conflict_lists_both_values_and_the_last_synced_hash(self) -> None:
        action = plan(TO, *BOTH_CHANGED_SAME_FIELD, synced())
        (conflict,) = action.conflicts
        assert (conflict.erp_value, conflict.crm_value) == ("ERP name", "CRM name")
        assert conflict.last_synced == synced().field_hashes["displayName|name"]
        assert action.changes == {} and action.field_hashes == synced().field_hashes

    def test_fail_policy_without_a_bidirectional_difference_modifies(self) -> None:
        mapping = with_policy(UpdateConflictPolicy.FAIL)
        action = plan(TO, erp(ms(1000), creditLimit=500), crm(ms(2000), description="unmapped"), synced(mapping), mapping)
        assert (action.kind, dict(action.changes)) == (ActionKind.MODIFY, {"creditlimit": 500})

    def test_merge_same_value_on_both_sides_only_refreshes_the_hash(self) -> None:
        action = plan(TO, erp(ms(1000), displayName="Same"), crm(ms(2000), name="Same"), synced())
        assert (action.kind, action.refresh, dict(action.changes)) == (ActionKind.UNCHANGED, True, {})
        assert action.field_hashes["displayName|name"] == synced_hashes(M, {"displayName": "Same"}, {"name": "Same"})[
            "displayName|name"]

    def test_force_overwrites_destination_changes(self) -> None:
        action = plan(TO, *BOTH_CHANGED_SAME_FIELD, synced(), force=True)
        assert (action.kind, dict(action.changes)) == (ActionKind.MODIFY, {"name": "ERP name"})


class TestMerge:
    def test_disjoint_changes_flow_both_ways_and_then_settle(self) -> None:
        """ERP renames, CRM moves city: toCrm writes the name only, fromCrm the city, then nothing (SPEC §5.2, §5.3)."""
        e1, c1 = erp(ms(1000), displayName="Acme BV"), crm(ms(2000), address1_city="Delft")
        to_crm = plan(TO, e1, c1, synced())
        assert (to_crm.kind, dict(to_crm.changes)) == (ActionKind.MODIFY, {"name": "Acme BV"})
        assert to_crm.destination_pending  # the CRM city must still look changed to the fromCrm pass
        assert to_crm.field_hashes["city|address1_city"] == synced().field_hashes["city|address1_city"]
        c2 = Record(CRM_ID, T0 + ms(3000), {**c1.fields, **to_crm.changes}, etag='W/"8"')  # Koppel's write
        coupling = applied_state(synced(), to_crm, destination_modified_on=c2.modified_on)
        assert coupling.crm_modified_on == T0  # held back

        from_crm = plan(FROM, e1, c2, coupling)
        assert (from_crm.kind, dict(from_crm.changes)) == (ActionKind.MODIFY, {"city": "Delft"})
        assert not from_crm.destination_pending
        e2 = Record(ERP_ID, T0 + ms(4000), {**e1.fields, **from_crm.changes}, etag='W/"erp2"')
        coupling = applied_state(coupling, from_crm, destination_modified_on=e2.modified_on)

        assert plan(TO, e2, c2, coupling).kind is ActionKind.UNCHANGED
        assert plan(FROM, e2, c2, coupling).kind is ActionKind.UNCHANGED

    def test_invariant_3_koppel_own_write_is_not_a_change(self) -> None:
        to_crm = plan(TO, erp(ms(1000), displayName="Acme BV"), crm(), synced())
        written = Record(CRM_ID, T0 + ms(1500), {**CRM, **to_crm.changes}, etag='W/"8"')
        coupling = applied_state(synced(), to_crm, destination_modified_on=written.modified_on)
        back = plan(FROM, erp(ms(1000), displayName="Acme BV"), written, coupling)
        assert (back.kind, back.refresh) == (ActionKind.UNCHANGED, False)
        # Even if the timestamps had not been stored, the field hashes show nothing to send back.
        stale_times = coupling.with_changes(crm_modified_on=None)
        assert plan(FROM, erp(ms(1000), displayName="Acme BV"), written, stale_times).changes == {}

    def test_destination_only_change_is_not_overwritten(self) -> None:
        """SPEC §5.4: a CRM-only edit survives the toCrm pass of an ERP edit to another field."""
        action = plan(TO, erp(ms(1000), creditLimit=200), crm(ms(2000), name="CRM name"), synced())
        assert dict(action.changes) == {"creditlimit": 200} and action.destination_pending


class TestDeletedCounterpart:
    @pytest.mark.parametrize(("policy", "kind", "category"), [
        (DeletionConflictPolicy.FAIL, ActionKind.FAIL, ErrorCategory.DELETED_COUNTERPART),
        (DeletionConflictPolicy.RESTORE, ActionKind.RESTORE, None),
        (DeletionConflictPolicy.UNCOUPLE, ActionKind.UNCOUPLE, None),
    ], ids=["fail", "restore", "uncouple"])
    def test_policy(self, policy: DeletionConflictPolicy, kind: ActionKind, category: ErrorCategory | None) -> None:
        mapping = dataclasses.replace(M, deletion_conflict=policy)
        action = plan_record(mapping=mapping, direction=TO, source=erp(ms(1000)), coupling=synced(mapping),
                             destination=None, destination_missing=True, lookups=LOOKUPS)
        assert (action.kind, action.category, action.crm_id) == (kind, category, CRM_ID)
        if kind is ActionKind.RESTORE:
            assert len(action.changes) == 6 and action.changes["name"] == "Acme"


class TestPlanPage:
    def test_routes_each_record(self) -> None:
        lost = Coupling("CUSTOMER", "e-lost", "c-gone")
        sources = [erp(ms(1000), displayName="Acme BV"), Record("e-new", T0, ERP), Record("e-lost", T0, ERP)]
        actions = plan_page(M, TO, sources, {ERP_ID: synced(), "e-lost": lost}, {CRM_ID: crm()}, LOOKUPS)
        assert [a.kind for a in actions] == [ActionKind.MODIFY, ActionKind.SKIP, ActionKind.FAIL]
        assert actions[2].category is ErrorCategory.DELETED_COUNTERPART


class TestAutoDirection:
    @pytest.mark.parametrize(("policy", "e", "c", "expected"), [
        (UpdateConflictPolicy.MERGE, erp(), crm(), ()),
        (UpdateConflictPolicy.MERGE, erp(ms(1000), displayName="X"), crm(), (TO,)),
        (UpdateConflictPolicy.MERGE, erp(), crm(ms(1000), name="X"), (FROM,)),
        (UpdateConflictPolicy.MERGE, erp(ms(1000), displayName="X"), crm(ms(1000), address1_city="Y"), (TO, FROM)),
        (UpdateConflictPolicy.MERGE, *BOTH_CHANGED_SAME_FIELD, Conflict),
        (UpdateConflictPolicy.FAIL, *BOTH_CHANGED_SAME_FIELD, Conflict),
        (UpdateConflictPolicy.ERP_WINS, *BOTH_CHANGED_SAME_FIELD, (TO,)),
        (UpdateConflictPolicy.CRM_WINS, *BOTH_CHANGED_SAME_FIELD, (FROM,)),
    ], ids=["neither", "erp-only", "crm-only", "both-disjoint", "merge-clash", "fail-clash", "erpWins", "crmWins"])
    def test_bidirectional(self, policy: UpdateConflictPolicy, e: Record, c: Record, expected: Any) -> None:
        mapping = with_policy(policy)
        result = auto_direction(mapping, e, c, synced(mapping), LOOKUPS)
        if expected is Conflict:
            assert isinstance(result, Conflict) and result.reason == "updateConflict"
        else:
            assert result == expected

    def test_one_way_mapping_only_runs_its_direction(self) -> None:
        one_way = dataclasses.replace(M, direction=TO)
        assert auto_direction(one_way, erp(), crm(ms(1000), name="X"), synced(one_way)) == ()
        assert auto_direction(one_way, erp(ms(1000)), crm(), synced(one_way)) == (TO,)


class TestErrorState:
    @pytest.mark.parametrize(("errors", "skipped"), [
        ([(ErrorCategory.VALIDATION, "bad email")], False),
        ([(ErrorCategory.VALIDATION, "bad email")] * 2, True),
        ([(ErrorCategory.VALIDATION, "bad email"), (ErrorCategory.VALIDATION, "bad phone")], False),
        ([(ErrorCategory.THROTTLED, "429")] * 5, False),
        ([(ErrorCategory.TRANSIENT, "503")] * 5, False),
        ([(ErrorCategory.DEPENDENCY, "currency")] * 2, True),
    ], ids=["once", "twice-same", "twice-different", "throttled-never", "transient-never", "dependency-twice"])
    def test_same_non_transient_error_twice_skips(self, errors: list[tuple[ErrorCategory, str]], skipped: bool) -> None:
        coupling = synced()
        for category, message in errors:
            coupling = next_error_state(coupling, category, message, destination=Side.CRM, job_id="j1")
        assert coupling.skipped is skipped
        assert (coupling.crm_result, coupling.erp_result, coupling.crm_job_id) == (RESULT_FAILURE, RESULT_SUCCESS, "j1")
        assert coupling.last_error == errors[-1][1]

    def test_success_clears_the_error_and_moves_timestamps_forward_only(self) -> None:
        failed = next_error_state(synced(), ErrorCategory.VALIDATION, "bad", destination=Side.CRM)
        action = plan(TO, erp(ms(1000), displayName="Acme BV"), crm(), failed)
        after = applied_state(failed, action, destination_modified_on=T0 - ms(5000), job_id="j2")
        assert (after.crm_result, after.last_error, after.error_count, after.crm_job_id) == (RESULT_SUCCESS, None, 0, "j2")
        assert (after.erp_modified_on, after.crm_modified_on) == (T0 + ms(1000), T0)

    def test_nothing_recorded_for_a_conflict(self) -> None:
        action = plan(TO, *BOTH_CHANGED_SAME_FIELD, synced())
        assert applied_state(synced(), action) == synced()


class TestPending:
    REVERSE_ONLY = dataclasses.replace(M, field_mappings=(
        FieldMapping("displayName", "name", TO), FieldMapping("phoneNumber", "telephone1", FROM)))

    @pytest.mark.parametrize(("baseline", "crm_phone", "pending"), [
        (True, "020 1234", True), (True, None, False), (False, "020 1234", False),
    ], ids=["reverse-field-edited", "reverse-field-untouched", "no-baseline"])
    def test_reverse_only_field_edited_on_the_destination(self, baseline: bool, crm_phone: str | None,
                                                          pending: bool) -> None:
        m = self.REVERSE_ONLY
        hashes = synced_hashes(m, ERP, CRM)
        if not baseline:
            del hashes["phoneNumber|telephone1"]
        coupling = synced(m, field_hashes=hashes)
        action = plan(TO, erp(ms(1000), displayName="Acme BV"), crm(ms(2000), telephone1=crm_phone), coupling, m)
        assert (action.kind, dict(action.changes)) == (ActionKind.MODIFY, {"name": "Acme BV"})
        assert action.destination_pending is pending


class TestSourceUnchanged:
    """The engine's shortcut: a provably unchanged source needs no destination read and no plan."""

    def test_right_after_a_sync_both_sides_are_unchanged(self) -> None:
        assert source_unchanged(M, Side.ERP, erp(), synced())
        assert source_unchanged(M, Side.CRM, crm(), synced())

    @pytest.mark.parametrize(("record", "coupling"), [
        (erp(ms(10)), synced()),
        (erp(displayName="Edited in the same second"), synced()),
        (erp(), synced(crm_result=RESULT_FAILURE)),
        (erp(), synced(skipped=True)),
        (erp(), synced(field_hashes={})),
        (erp(), None),
    ], ids=["timestamp-later", "value-changed", "failed-write-to-retry", "skipped", "no-baseline", "uncoupled"])
    def test_anything_less_certain_goes_through_the_planner(self, record: Record, coupling: Coupling | None) -> None:
        assert not source_unchanged(M, Side.ERP, record, coupling)
