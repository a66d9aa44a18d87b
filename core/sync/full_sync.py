"""Full synchronization (SPEC F13, bc-behaviour §2.12): the plan that recommends per mapping full sync, match-based
coupling or nothing, and the run that carries it out mapping after mapping in dependency order.

A mapping with data on both sides is match-coupled first and then fully synchronized, so records that match are
coupled, never duplicated; a mapping with one empty side is fully synchronized (every record created there).
"""
from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping as MappingABC, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from core.crm.client import TABLES
from core.deps import Deps
from core.erp.client import ENTITIES
from core.errors import InvalidInput, KoppelError, NotFound, Rejected
from core.sync.matching import match_levels, run_match_coupling
from core.model import Direction, Job, JobStatus, JobType, Mapping
from core.sync.passes import queue_sync_jobs, run_mapping

__all__ = ["Recommendation", "PlanLine", "Step", "dependency_order", "recommend", "plan_full_sync",
           "queue_full_sync", "run_full_sync"]

log = logging.getLogger("koppel.full_sync")
_FINISHED = (JobStatus.SUCCEEDED, JobStatus.PARTIAL, JobStatus.FAILED)


class Recommendation(str, Enum):
    FULL_SYNC = "fullSync"
    MATCH_COUPLING = "matchCoupling"
    NOTHING = "nothing"


@dataclass(frozen=True, slots=True)
class PlanLine:
    """One mapping's line of the plan: its record counts per side and what to run."""

    mapping: str
    depends_on: tuple[str, ...]
    erp_count: int
    crm_count: int
    recommendation: Recommendation
    error: str | None = None  # a side refused the count (e.g. the mapping's filter): nothing is recommended


@dataclass(frozen=True, slots=True)
class Step:
    """A queued line: the coupling job (match-coupling lines) and the sync jobs, one per direction."""

    mapping: str
    depends_on: tuple[str, ...]
    coupling_job: str | None
    sync_jobs: tuple[str, ...]
    line: PlanLine | None = None

    @property
    def job_ids(self) -> tuple[str, ...]:
        return ((self.coupling_job,) if self.coupling_job else ()) + self.sync_jobs

    def to_json(self) -> dict[str, Any]:
        return {"mapping": self.mapping, "dependsOn": list(self.depends_on), "couplingJob": self.coupling_job,
                "syncJobs": list(self.sync_jobs)}

    @classmethod
    def from_json(cls, body: MappingABC[str, Any]) -> Step:
        coupling = body.get("couplingJob")
        return cls(str(body["mapping"]), tuple(str(d) for d in body.get("dependsOn") or ()),
                   str(coupling) if coupling else None, tuple(str(j) for j in body.get("syncJobs") or ()))


def dependency_order(mappings: Sequence[Mapping]) -> list[Mapping]:
    """The mappings with every mapping after the ones it depends on (stored order otherwise kept).
    A dependency on a mapping not in the list is ignored; a cycle keeps the cyclic ones in stored order."""
    by_name = {m.name: m for m in mappings}
    placed: dict[str, Mapping] = {}
    visiting: set[str] = set()

    def place(m: Mapping) -> None:
        if m.name in placed or m.name in visiting:
            return
        visiting.add(m.name)
        for dep in m.depends_on:
            if dep in by_name:
                place(by_name[dep])
        visiting.discard(m.name)
        placed[m.name] = m

    for m in mappings:
        place(m)
    return list(placed.values())


def recommend(mapping: Mapping, erp_count: int, crm_count: int) -> Recommendation:
    """bc-behaviour §2.12: both sides empty → nothing; both have data → match coupling; one side → full sync
    (nothing when the mapping's direction cannot carry the records from the side that has them)."""
    if erp_count and crm_count:
        return Recommendation.MATCH_COUPLING if match_levels(mapping) else Recommendation.FULL_SYNC
    if erp_count and mapping.direction.allows(Direction.TO_CRM):
        return Recommendation.FULL_SYNC
    if crm_count and mapping.direction.allows(Direction.FROM_CRM):
        return Recommendation.FULL_SYNC
    return Recommendation.NOTHING


def _selected(deps: Deps, names: Sequence[str] | None) -> list[Mapping]:
    deps.settings.erp()  # F1: the plan reads both sides (503 naming a missing setting)
    deps.settings.crm()
    stored = deps.storage().mappings.list()
    if names is None:
        return dependency_order(stored)
    known = {m.name for m in stored}
    for i, name in enumerate(names):
        if name not in known:
            raise NotFound(f"There is no mapping named {name}.", field=f"mappings[{i}]")
    return dependency_order([m for m in stored if m.name in set(names)])


def plan_full_sync(deps: Deps, names: Sequence[str] | None = None) -> list[PlanLine]:
    """The plan per mapping in dependency order, from one cheap count request per side and mapping.

    Raises:
        NotFound: a name in `names` is not a mapping.
    """
    lines = []
    for m in _selected(deps, names):
        if m.erp_entity not in ENTITIES or m.crm_entity not in TABLES:  # stored as data; the clients refuse them
            lines.append(PlanLine(m.name, m.depends_on, 0, 0, Recommendation.NOTHING,
                                  f"Koppel cannot read {m.erp_entity} / {m.crm_entity}."))
            continue
        try:
            erp_count = deps.erp().count(m.erp_entity, m.erp_filter)
            crm_count = deps.crm().count(m.crm_entity, m.crm_id_field, m.crm_filter)
        except Rejected as err:  # one mapping's bad filter must not hide the plan of the others
            lines.append(PlanLine(m.name, m.depends_on, 0, 0, Recommendation.NOTHING, err.message))
            continue
        lines.append(PlanLine(m.name, m.depends_on, erp_count, crm_count, recommend(m, erp_count, crm_count)))
    return lines


def queue_full_sync(deps: Deps, names: Sequence[str] | None = None, *, dry_run: bool = False) -> list[Step]:
    """Plan, create the QUEUED jobs of every line, and send ONE message that runs the lines in order, so a
    mapping starts only after its dependencies finished (bc-behaviour §2.12 `Start()`).

    Raises:
        NotFound: a name in `names` is not a mapping.
        InvalidInput: `names` is empty.
    """
    if names is not None and not names:
        raise InvalidInput("mappings", "Name at least one mapping, or leave mappings out for all of them.")
    jobs = deps.storage().jobs
    steps = []
    for line in plan_full_sync(deps, names):
        mapping = deps.storage().mappings.get(line.mapping)
        if line.recommendation is Recommendation.NOTHING:
            steps.append(Step(line.mapping, line.depends_on, None, (), line))
            continue
        coupling = None
        if line.recommendation is Recommendation.MATCH_COUPLING:
            coupling = jobs.create(Job(deps.new_id(), mapping.name, JobType.COUPLING, None, JobStatus.QUEUED,
                                       deps.clock(), dry_run=dry_run)).id
        syncs = tuple(j.id for j in queue_sync_jobs(deps, mapping, dry_run=dry_run))
        steps.append(Step(line.mapping, line.depends_on, coupling, syncs, line))
    queued = [s for s in steps if s.job_ids]
    if queued:
        deps.queue().send({"kind": "full-sync", "dryRun": dry_run, "steps": [s.to_json() for s in queued]},
                          message_id=f"full-sync-{queued[0].job_ids[0]}")
    return steps


def _fail(deps: Deps, job_ids: Sequence[str], message: str) -> None:
    jobs = deps.storage().jobs
    for job_id in job_ids:
        job = jobs.get(job_id)
        if job.status not in _FINISHED:
            jobs.update(dataclasses.replace(job, status=JobStatus.FAILED, finished_on=deps.clock(), message=message))


def run_full_sync(deps: Deps, steps: Sequence[Step], *, owner: str, dry_run: bool = False) -> list[Job]:
    """Run the queued lines in order: match coupling (when queued), then a full pass per direction
    (`run_mapping(mode="full")`). A line whose dependency did not finish fails with the reason and runs nothing.
    Redelivery is safe: finished jobs are not run again.

    Returns:
        The jobs run, as they finished.
    """
    failed: set[str] = set()
    done: list[Job] = []
    for step in steps:
        blocked = [d for d in step.depends_on if d in failed]
        if blocked:
            _fail(deps, step.job_ids, f"Not run: mapping {', '.join(blocked)}, which it depends on, did not finish.")
            failed.add(step.mapping)
            continue
        try:
            if step.coupling_job:
                # Unmatched records are created here (not failed): the full passes that follow would create them anyway.
                job = run_match_coupling(deps, step.coupling_job, step.mapping, create_new=True, sync_after=False,
                                         dry_run=dry_run)
                done.append(job)
                if job.status is JobStatus.FAILED:
                    raise KoppelError(f"Match-based coupling of {step.mapping} failed: {job.message}")
            done.extend(run_mapping(deps, step.mapping, owner=owner, dry_run=dry_run, mode="full",
                                    job_ids=step.sync_jobs))
        except KoppelError as err:
            log.warning("full sync of %s stopped: %s", step.mapping, err.message)
            _fail(deps, step.job_ids, err.message)
        if any(deps.storage().jobs.get(i).status not in (JobStatus.SUCCEEDED, JobStatus.PARTIAL)
               for i in step.job_ids):
            failed.add(step.mapping)
    return done
