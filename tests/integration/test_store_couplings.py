"""CouplingStore on Azurite: the atomic one-counterpart constraint, bulk paths, etags and lookups by page."""
from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from core.errors import AlreadyCoupled, InvalidInput, StaleWrite
from core.model import Coupling, ErrorCategory, Side
from core.store import FAILURE, Storage
from core.store.couplings import SCAN_ABOVE

T0 = dt.datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=dt.timezone.utc)


@pytest.fixture(name="storage")
def _storage(azurite: str) -> Storage:
    """A Storage whose tables no other test sees (unique prefix)."""
    return Storage.from_connection_string(azurite, prefix="t" + uuid.uuid4().hex[:12])


def _c(erp: str, crm: str, mapping: str = "CUSTOMER", **kw: object) -> Coupling:
    return Coupling(mapping=mapping, erp_id=erp, crm_id=crm, **kw)  # type: ignore[arg-type]


class TestCouple:
    def test_couple_stores_every_field_and_both_directions_find_it(self, storage: Storage) -> None:
        # Arrange
        full = _c("E1", "C1", erp_modified_on=T0, crm_modified_on=T0 + dt.timedelta(seconds=1),
                  field_hashes={"displayName|name": "abc"}, erp_result="success", crm_result=FAILURE,
                  erp_job_id="j1", crm_job_id="j2", skipped=True, last_error="boom",
                  last_error_category=ErrorCategory.VALIDATION, error_count=2, coupled_on=T0)
        # Act
        stored = storage.couplings.couple(full)
        # Assert
        assert stored.etag
        by_erp = storage.couplings.erp_to_crm("CUSTOMER", "E1")
        assert by_erp == stored
        assert by_erp is not None and by_erp.erp_modified_on == T0  # microseconds kept
        assert storage.couplings.crm_to_erp("CUSTOMER", "C1") == stored
        assert storage.couplings.erp_to_crm("CUSTOMER", "E2") is None
        assert storage.couplings.crm_to_erp("CUSTOMER", "C2") is None
        assert storage.couplings.erp_to_crm("VENDOR", "E1") is None

    @pytest.mark.parametrize(("second", "side", "record"), [(("E1", "C2"), "erp", "E1"), (("E2", "C1"), "crm", "C1")],
                             ids=["erp-side-taken", "crm-side-taken"])
    def test_second_counterpart_is_refused_naming_the_side(self, storage: Storage, second: tuple[str, str],
                                                           side: str, record: str) -> None:
        storage.couplings.couple(_c("E1", "C1"))
        with pytest.raises(AlreadyCoupled) as caught:
            storage.couplings.couple(_c(*second))
        assert (caught.value.side, caught.value.record_id) == (side, record)
        # The failed transaction left nothing behind: the free side is still free.
        free_erp, free_crm = second
        assert storage.couplings.count("CUSTOMER") == 1
        assert storage.couplings.crm_to_erp("CUSTOMER", free_crm) is None or free_crm == "C1"
        assert storage.couplings.erp_to_crm("CUSTOMER", free_erp) is None or free_erp == "E1"

    def test_keys_with_forbidden_characters_are_stored(self, storage: Storage) -> None:
        odd = _c("a/b\\c#d?e|f%", "x/y", mapping="ITEM-PRODUCT")
        storage.couplings.couple(odd)
        assert storage.couplings.erp_to_crm("ITEM-PRODUCT", "a/b\\c#d?e|f%") is not None
        assert storage.couplings.crm_to_erp("ITEM-PRODUCT", "x/y") is not None


def _race(n: int, make: Callable[[int], Coupling], storage: Storage) -> list[Coupling | AlreadyCoupled]:
    barrier = threading.Barrier(n)

    def attempt(i: int) -> Coupling | AlreadyCoupled:
        barrier.wait()
        try:
            return storage.couplings.couple(make(i))
        except AlreadyCoupled as exc:
            return exc

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(attempt, range(n)))


class TestConcurrentCouple:
    def test_invariant_1_fifty_threads_one_erp_id_exactly_one_wins(self, storage: Storage) -> None:
        results = _race(50, lambda i: _c("E1", f"C{i}"), storage)
        winners = [r for r in results if isinstance(r, Coupling)]
        assert len(winners) == 1
        assert all(r.side == "erp" for r in results if isinstance(r, AlreadyCoupled))
        assert storage.couplings.count("CUSTOMER") == 1
        assert len(storage.couplings.find_by_crm("CUSTOMER", [f"C{i}" for i in range(50)])) == 1
        # No loser left a pointer behind: every other CRM id can still be coupled.
        losers = [f"C{i}" for i in range(50) if f"C{i}" != winners[0].crm_id]
        again = storage.couplings.couple_many([_c(f"F{n}", crm) for n, crm in enumerate(losers)])
        assert all(isinstance(r, Coupling) for r in again)

    def test_invariant_1_fifty_threads_one_crm_id_exactly_one_wins(self, storage: Storage) -> None:
        results = _race(50, lambda i: _c(f"E{i}", "C1"), storage)
        assert sum(isinstance(r, Coupling) for r in results) == 1
        assert all(r.side == "crm" for r in results if isinstance(r, AlreadyCoupled))
        assert len(storage.couplings.find_by_erp("CUSTOMER", [f"E{i}" for i in range(50)])) == 1


class TestCoupleMany:
    def test_bulk_over_100_rows_drops_only_the_clashing_couplings_in_input_order(self, storage: Storage) -> None:
        # Arrange: 120 couplings = 240 rows (5 transactions); 2 clash with stored ones, 1 with an earlier input.
        storage.couplings.couple(_c("E5", "X"))
        storage.couplings.couple(_c("Y", "C70"))
        batch = [_c(f"E{i}", f"C{i}") for i in range(120)] + [_c("E3", "C999")]
        # Act
        results = storage.couplings.couple_many(batch)
        # Assert
        clashes = {i: r for i, r in enumerate(results) if isinstance(r, AlreadyCoupled)}
        assert {i: (r.side, r.record_id) for i, r in clashes.items()} == {
            5: ("erp", "E5"), 70: ("crm", "C70"), 120: ("erp", "E3")}
        assert all(isinstance(r, Coupling) and r.etag and r.erp_id == f"E{i}" for i, r in enumerate(results)
                   if i not in clashes)
        assert storage.couplings.count("CUSTOMER") == 2 + 118

    def test_bulk_spans_mappings(self, storage: Storage) -> None:
        results = storage.couplings.couple_many([_c("E1", "C1"), _c("E1", "C1", mapping="VENDOR")])
        assert all(isinstance(r, Coupling) for r in results)
        assert storage.couplings.count("VENDOR") == 1


class TestUpdate:
    def test_update_with_current_etag_writes_and_stale_etag_raises(self, storage: Storage) -> None:
        stored = storage.couplings.couple(_c("E1", "C1"))
        updated = storage.couplings.update(stored.with_changes(crm_result="success", error_count=0,
                                                               field_hashes={"a": "1"}))
        assert updated.etag != stored.etag
        assert storage.couplings.erp_to_crm("CUSTOMER", "E1") == updated
        with pytest.raises(StaleWrite):
            storage.couplings.update(stored.with_changes(crm_result=FAILURE))

    def test_update_of_an_uncoupled_coupling_is_stale(self, storage: Storage) -> None:
        stored = storage.couplings.couple(_c("E1", "C1"))
        storage.couplings.uncouple("CUSTOMER", "E1")
        with pytest.raises(StaleWrite):
            storage.couplings.update(stored)

    def test_update_many_over_100_marks_only_stale_ones(self, storage: Storage) -> None:
        stored = [r for r in storage.couplings.couple_many([_c(f"E{i}", f"C{i}") for i in range(130)])
                  if isinstance(r, Coupling)]
        storage.couplings.update(stored[7].with_changes(skipped=True))  # someone else wins E7
        results = storage.couplings.update_many([c.with_changes(erp_result="success") for c in stored])
        assert [i for i, r in enumerate(results) if isinstance(r, StaleWrite)] == [7]
        assert all(c.erp_result == "success" for c in storage.couplings.iter_all("CUSTOMER") if c.erp_id != "E7")


class TestReplaceCrm:
    def test_replace_moves_the_pointer_atomically(self, storage: Storage) -> None:
        stored = storage.couplings.couple(_c("E1", "C1"))
        moved = storage.couplings.replace_crm(stored.with_changes(crm_modified_on=T0), "C2")
        assert moved.crm_id == "C2" and moved.crm_modified_on == T0
        assert storage.couplings.crm_to_erp("CUSTOMER", "C1") is None
        assert storage.couplings.crm_to_erp("CUSTOMER", "C2") == moved
        storage.couplings.couple(_c("E9", "C1"))  # the old CRM id is free again

    def test_replace_onto_a_coupled_crm_id_is_refused_and_changes_nothing(self, storage: Storage) -> None:
        stored = storage.couplings.couple(_c("E1", "C1"))
        storage.couplings.couple(_c("E2", "C2"))
        with pytest.raises(AlreadyCoupled) as caught:
            storage.couplings.replace_crm(stored, "C2")
        assert caught.value.side == "crm"
        assert storage.couplings.crm_to_erp("CUSTOMER", "C1") == stored

    def test_replace_with_a_stale_etag_is_stale(self, storage: Storage) -> None:
        stored = storage.couplings.couple(_c("E1", "C1"))
        storage.couplings.update(stored)
        with pytest.raises(StaleWrite):
            storage.couplings.replace_crm(stored, "C2")
        assert storage.couplings.crm_to_erp("CUSTOMER", "C2") is None


class TestUncouple:
    def test_uncouple_frees_both_sides(self, storage: Storage) -> None:
        stored = storage.couplings.couple(_c("E1", "C1"))
        assert storage.couplings.uncouple("CUSTOMER", "E1") == stored
        assert storage.couplings.uncouple("CUSTOMER", "E1") is None
        storage.couplings.couple(_c("E2", "C1"))
        storage.couplings.couple(_c("E1", "C3"))

    def test_uncouple_many_and_all_count_couplings(self, storage: Storage) -> None:
        storage.couplings.couple_many([_c(f"E{i}", f"C{i}") for i in range(160)])
        storage.couplings.couple(_c("E1", "C1", mapping="VENDOR"))
        assert storage.couplings.uncouple_many("CUSTOMER", [f"E{i}" for i in range(60)] + ["nope"]) == 60
        assert storage.couplings.crm_to_erp("CUSTOMER", "C10") is None
        assert storage.couplings.uncouple_all("CUSTOMER") == 100
        assert storage.couplings.count("CUSTOMER") == 0
        assert storage.couplings.find_by_crm("CUSTOMER", ["C150"]) == {}
        assert storage.couplings.count("VENDOR") == 1


class TestFind:
    @pytest.mark.parametrize("n", [3, SCAN_ABOVE + 20], ids=["or-queries", "partition-scan"])
    def test_find_by_either_side_answers_only_the_coupled_ids(self, storage: Storage, n: int) -> None:
        storage.couplings.couple_many([_c(f"E{i}", f"C{i}") for i in range(0, 2 * n, 2)])  # even ids coupled
        erp = storage.couplings.find_by_erp("CUSTOMER", [f"E{i}" for i in range(2 * n)])
        crm = storage.couplings.find_by_crm("CUSTOMER", [f"C{i}" for i in range(2 * n)])
        assert sorted(erp) == sorted(f"E{i}" for i in range(0, 2 * n, 2))
        assert sorted(crm) == sorted(f"C{i}" for i in range(0, 2 * n, 2))
        assert crm["C2"].erp_id == "E2" and erp["E2"].crm_id == "C2"
        assert storage.couplings.find_by_erp("CUSTOMER", []) == {}


class TestListing:
    def test_list_page_follows_an_opaque_continuation(self, storage: Storage) -> None:
        storage.couplings.couple_many([_c(f"E{i:03d}", f"C{i}") for i in range(25)])
        seen, token = [], None
        while True:
            page, token = storage.couplings.list_page("CUSTOMER", top=10, continuation=token)
            seen += [c.erp_id for c in page]
            if token is None:
                break
            assert token.replace("-", "").replace("_", "").isalnum()  # URL-safe
        assert seen == [f"E{i:03d}" for i in range(25)]

    def test_list_page_filters_skipped_and_failed(self, storage: Storage) -> None:
        storage.couplings.couple_many([
            _c("E1", "C1"), _c("E2", "C2", skipped=True, crm_result=FAILURE), _c("E3", "C3", erp_result=FAILURE),
            _c("E4", "C4", crm_result="success")])
        ids = lambda cs: [c.erp_id for c in cs]  # noqa: E731
        assert ids(storage.couplings.list_page("CUSTOMER", skipped=True)[0]) == ["E2"]
        assert ids(storage.couplings.list_page("CUSTOMER", skipped=False)[0]) == ["E1", "E3", "E4"]
        assert ids(storage.couplings.list_page("CUSTOMER", failed_only=True)[0]) == ["E2", "E3"]
        assert ids(storage.couplings.iter_failed("CUSTOMER", Side.ERP)) == ["E3"]
        assert ids(storage.couplings.iter_failed("CUSTOMER", Side.CRM)) == []  # E2 is skipped
        assert ids(storage.couplings.iter_all("CUSTOMER")) == ["E1", "E2", "E3", "E4"]

    def test_a_forged_continuation_is_invalid_input(self, storage: Storage) -> None:
        with pytest.raises(InvalidInput) as caught:
            storage.couplings.list_page("CUSTOMER", continuation="not*base64")
        assert caught.value.field == "continuation"
