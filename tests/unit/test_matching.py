"""Match-based coupling's pure parts (F12) and the full-sync plan's rules (F13)."""
from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from core.rules.defaults import default_mappings
from core.sync.full_sync import Recommendation, Step, dependency_order, recommend
from core.sync.matching import MatchField, match_levels, pick_matches, sync_after_direction
from core.model import Direction, FieldMapping, Mapping, Record, UpdateConflictPolicy

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
DEFAULTS = {m.name: m for m in default_mappings()}


def rec(rid: str, **fields: object) -> Record:
    return Record(rid, T0, fields)


class TestMatchLevels:
    def test_groups_by_priority_lowest_first_and_leaves_out_lookups_constants_and_transforms(self) -> None:
        m = dataclasses.replace(DEFAULTS["CUSTOMER"], field_mappings=(
            FieldMapping("displayName", "name", match_priority=1),
            FieldMapping("city", "address1_city", match_priority=1, case_sensitive=True),
            FieldMapping("number", "accountnumber", match_priority=0),
            FieldMapping("currencyId", "transactioncurrencyid", lookup="CURRENCY", match_priority=0),
            FieldMapping("email", "emailaddress1", transform="lower", match_priority=2),
        ))
        assert match_levels(m) == [(MatchField("number", "accountnumber"),),
                                   (MatchField("displayName", "name"), MatchField("city", "address1_city", True))]


class TestPickMatches:
    LEVEL = (MatchField("displayName", "name"),)

    def test_one_match_ignoring_case_and_spaces_is_picked(self) -> None:
        taken: set[str] = set()
        assert pick_matches([rec("e1", displayName="Contoso ")], [rec("c1", name="CONTOSO")], self.LEVEL,
                            taken) == {"e1": "c1"}
        assert taken == {"c1"}

    def test_case_sensitive_fields_compare_exactly(self) -> None:
        level = (MatchField("displayName", "name", case_sensitive=True),)
        assert pick_matches([rec("e1", displayName="Contoso")], [rec("c1", name="CONTOSO")], level, set()) == {}

    @pytest.mark.parametrize("candidates,taken", [
        ([rec("c1", name="A"), rec("c2", name="a")], set()),
        ([rec("c1", name="A")], {"c1"}),
        ([], set()),
    ], ids=["ambiguous", "already-coupled", "none"])
    def test_no_unique_uncoupled_match_picks_nothing(self, candidates: list[Record], taken: set[str]) -> None:
        assert pick_matches([rec("e1", displayName="a")], candidates, self.LEVEL, taken) == {}

    def test_empty_values_never_match(self) -> None:
        assert pick_matches([rec("e1", displayName="  ")], [rec("c1", name="")], self.LEVEL, set()) == {}

    def test_a_crm_row_is_picked_for_one_source_only(self) -> None:
        picks = pick_matches([rec("e1", displayName="A"), rec("e2", displayName="a")], [rec("c1", name="A")],
                             self.LEVEL, set())
        assert picks == {"e1": "c1"}


class TestSyncAfterDirection:
    @pytest.mark.parametrize("direction,policy,expected", [
        (Direction.TO_CRM, UpdateConflictPolicy.CRM_WINS, Direction.TO_CRM),
        (Direction.FROM_CRM, UpdateConflictPolicy.ERP_WINS, Direction.FROM_CRM),
        (Direction.BIDIRECTIONAL, UpdateConflictPolicy.CRM_WINS, Direction.FROM_CRM),
        (Direction.BIDIRECTIONAL, UpdateConflictPolicy.ERP_WINS, Direction.TO_CRM),
        (Direction.BIDIRECTIONAL, UpdateConflictPolicy.MERGE, Direction.TO_CRM),
    ], ids=["toCrm", "fromCrm", "crmWins", "erpWins", "merge"])
    def test_follows_the_mapping_then_the_conflict_policy(self, direction: Direction, policy: UpdateConflictPolicy,
                                                         expected: Direction) -> None:
        m = dataclasses.replace(DEFAULTS["CUSTOMER"], direction=direction, update_conflict=policy)
        assert sync_after_direction(m) is expected


class TestPlan:
    @pytest.mark.parametrize("erp,crm,direction,expected", [
        (0, 0, Direction.BIDIRECTIONAL, Recommendation.NOTHING),
        (5, 0, Direction.BIDIRECTIONAL, Recommendation.FULL_SYNC),
        (0, 5, Direction.BIDIRECTIONAL, Recommendation.FULL_SYNC),
        (5, 5, Direction.BIDIRECTIONAL, Recommendation.MATCH_COUPLING),
        (0, 5, Direction.TO_CRM, Recommendation.NOTHING),
    ], ids=["both-empty", "crm-empty", "erp-empty", "both", "one-way-cannot-carry"])
    def test_recommendation_by_which_sides_have_records(self, erp: int, crm: int, direction: Direction,
                                                        expected: Recommendation) -> None:
        m = dataclasses.replace(DEFAULTS["CUSTOMER"], direction=direction)
        assert recommend(m, erp, crm) is expected

    def test_dependencies_come_first_whatever_the_stored_order(self) -> None:
        d = DEFAULTS
        stored: list[Mapping] = [d["CONTACT"], d["ITEM-PRODUCT"], d["VENDOR"], d["CUSTOMER"], d["CURRENCY"]]
        order = [m.name for m in dependency_order(stored)]
        assert order.index("CURRENCY") < order.index("CUSTOMER") < order.index("CONTACT")
        assert order.index("VENDOR") < order.index("CONTACT") and len(order) == 5

    def test_a_queued_step_survives_the_message(self) -> None:
        step = Step("CUSTOMER", ("CURRENCY",), "j1", ("j2", "j3"))
        assert Step.from_json(step.to_json()) == step and step.job_ids == ("j1", "j2", "j3")
