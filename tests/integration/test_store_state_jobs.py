"""StateStore and JobStore on Azurite: etag-conditional state, an exclusive run lease, jobs newest first."""
from __future__ import annotations

import dataclasses
import datetime as dt
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from core.errors import Conflict, NotFound, StaleWrite
from core.model import Counters, Direction, Job, JobStatus, JobType
from core.store import MappingState, Storage

T0 = dt.datetime(2026, 3, 1, 12, 0, 0, 250000, tzinfo=dt.timezone.utc)


@pytest.fixture(name="storage")
def _storage(azurite: str) -> Storage:
    """A Storage whose tables no other test sees (unique prefix)."""
    return Storage.from_connection_string(azurite, prefix="t" + uuid.uuid4().hex[:12])


class TestStateStore:
    def test_unsaved_state_is_fresh_and_saving_round_trips_every_field(self, storage: Storage) -> None:
        fresh = storage.state.get("CUSTOMER")
        assert fresh == MappingState("CUSTOMER")
        full = dataclasses.replace(
            fresh, erp_watermark=T0, crm_watermark=T0 + dt.timedelta(seconds=1), erp_boundary_ids=("a", "b"),
            crm_boundary_ids=("c",), crm_delta_link="https://x/accounts?$deltatoken=1", last_run_on=T0,
            next_run_on=T0 + dt.timedelta(minutes=30), idle=True)
        saved = storage.state.save(full)
        assert saved.etag and storage.state.get("CUSTOMER") == saved
        assert [s.mapping for s in storage.state.list()] == ["CUSTOMER"]

    def test_saving_with_a_stale_etag_or_creating_twice_is_stale(self, storage: Storage) -> None:
        saved = storage.state.save(MappingState("CUSTOMER"))
        storage.state.save(dataclasses.replace(saved, idle=True))
        with pytest.raises(StaleWrite):
            storage.state.save(dataclasses.replace(saved, erp_watermark=T0))
        with pytest.raises(StaleWrite):
            storage.state.save(MappingState("CUSTOMER"))

    def test_lease_is_refused_while_held_and_taken_when_expired(self, storage: Storage) -> None:
        mine = storage.state.acquire_lease("CUSTOMER", "runner-a", T0, 60)
        assert mine is not None and mine.is_leased(T0, "runner-a")
        assert storage.state.acquire_lease("CUSTOMER", "runner-b", T0 + dt.timedelta(seconds=59), 60) is None
        renewed = storage.state.renew_lease(mine, T0 + dt.timedelta(seconds=50), 60)
        assert storage.state.acquire_lease("CUSTOMER", "runner-b", T0 + dt.timedelta(seconds=100), 60) is None
        theirs = storage.state.acquire_lease("CUSTOMER", "runner-b", T0 + dt.timedelta(seconds=111), 60)
        assert theirs is not None and theirs.lease_owner == "runner-b"
        with pytest.raises(StaleWrite):  # runner-a's lease is lost: its renew must fail
            storage.state.renew_lease(renewed, T0 + dt.timedelta(seconds=112), 60)

    def test_released_lease_can_be_taken_by_another_runner(self, storage: Storage) -> None:
        mine = storage.state.acquire_lease("CUSTOMER", "runner-a", T0, 600)
        assert mine is not None
        released = storage.state.release_lease(mine)
        assert released.lease_owner is None
        assert storage.state.acquire_lease("CUSTOMER", "runner-b", T0, 600) is not None

    def test_invariant_runs_never_overlap_twenty_threads_one_lease(self, storage: Storage) -> None:
        storage.state.save(MappingState("CUSTOMER"))  # both the create race and the update race are covered below
        barrier = threading.Barrier(20)

        def attempt(i: int) -> MappingState | None:
            barrier.wait()
            return storage.state.acquire_lease("CUSTOMER", f"runner-{i}", T0, 60)

        with ThreadPoolExecutor(20) as pool:
            winners = [r for r in pool.map(attempt, range(20)) if r is not None]
        assert len(winners) == 1
        assert storage.state.get("CUSTOMER").lease_owner == winners[0].lease_owner

    def test_two_first_acquirers_of_a_never_saved_state_do_not_both_win(self, storage: Storage) -> None:
        barrier = threading.Barrier(10)

        def attempt(i: int) -> MappingState | None:
            barrier.wait()
            return storage.state.acquire_lease("VENDOR", f"runner-{i}", T0, 60)

        with ThreadPoolExecutor(10) as pool:
            assert sum(r is not None for r in pool.map(attempt, range(10))) == 1


def _job(job_id: str, mapping: str = "CUSTOMER", minutes: int = 0) -> Job:
    return Job(id=job_id, mapping=mapping, type=JobType.SYNC, direction=Direction.TO_CRM, status=JobStatus.RUNNING,
               started_on=T0 + dt.timedelta(minutes=minutes))


class TestJobStore:
    def test_create_get_update_round_trip(self, storage: Storage) -> None:
        created = storage.jobs.create(_job("j1"))
        assert created.etag and storage.jobs.get("j1") == created
        done = dataclasses.replace(created, status=JobStatus.PARTIAL, finished_on=T0 + dt.timedelta(minutes=1),
                                   counters=Counters(inserted=3, failed=1), progress=1.0, message="done")
        updated = storage.jobs.update(done)
        assert storage.jobs.get("j1") == updated
        listed = dataclasses.replace(updated, etag=None)  # read from index copies: update from get(), not these
        assert storage.jobs.list("CUSTOMER") == [listed] == storage.jobs.list()  # the copies follow the job

    def test_create_twice_conflicts_and_stale_update_is_refused(self, storage: Storage) -> None:
        created = storage.jobs.create(_job("j1"))
        with pytest.raises(Conflict):
            storage.jobs.create(_job("j1"))
        storage.jobs.update(dataclasses.replace(created, progress=0.5))
        with pytest.raises(StaleWrite):
            storage.jobs.update(dataclasses.replace(created, progress=0.7))
        assert storage.jobs.get("j1").progress == 0.5

    def test_get_of_an_unknown_job_is_not_found(self, storage: Storage) -> None:
        with pytest.raises(NotFound):
            storage.jobs.get("nope")

    def test_list_is_newest_first_per_mapping_and_overall_and_honours_top(self, storage: Storage) -> None:
        for n in range(6):
            storage.jobs.create(_job(f"j{n}", "CUSTOMER" if n % 2 else "VENDOR", minutes=n))
        assert [j.id for j in storage.jobs.list(None, top=4)] == ["j5", "j4", "j3", "j2"]
        assert [j.id for j in storage.jobs.list("CUSTOMER", top=10)] == ["j5", "j3", "j1"]
        assert [j.id for j in storage.jobs.list("VENDOR", top=2)] == ["j4", "j2"]


class TestJobStarting:
    def test_a_queued_job_that_starts_later_is_listed_once(self, storage: Storage) -> None:
        job = storage.jobs.create(_job(str(uuid.uuid4()), minutes=0))

        started = storage.jobs.update(dataclasses.replace(job, status=JobStatus.RUNNING,
                                                          started_on=job.started_on + dt.timedelta(minutes=5)))
        storage.jobs.update(dataclasses.replace(started, status=JobStatus.SUCCEEDED))

        overall = [j.id for j in storage.jobs.list(top=1000)]
        per_mapping = [j.id for j in storage.jobs.list("CUSTOMER", top=1000)]
        assert overall.count(job.id) == 1 and per_mapping.count(job.id) == 1
        assert storage.jobs.get(job.id).status is JobStatus.SUCCEEDED
