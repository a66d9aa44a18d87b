"""Match-based coupling (SPEC F12, bc-behaviour §2.9): couple every uncoupled ERP record of a mapping to its one
uncoupled CRM match, priority level by priority level, as a background job; optionally create the rest and sync.

Bulk throughout (X1): ERP records are read in pages with the mapping's filter, their couplings found per page,
and each priority level costs one CRM `In(...)` query per field and page, never one per record.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping as MappingABC, Sequence
from dataclasses import dataclass
from itertools import groupby

from core.deps import Deps
from core.sync.engine import sync_page
from core.errors import AlreadyCoupled, InvalidInput, KoppelError
from core.rules.fields import normalize
from core.model import (
    Counters, Coupling, Direction, ErrorCategory, Job, JobStatus, JobType, Mapping, Record, Side, SyncError,
    UpdateConflictPolicy,
)
from core.sync.loading import load_mapping, read_records

__all__ = ["MatchField", "NO_MATCH", "PAGE", "match_levels", "match_value", "pick_matches", "sync_after_direction",
           "queue_match_coupling", "run_match_coupling"]

PAGE = 1_000  # ERP records matched per step: one CRM query per level and field covers them
NO_MATCH = "no unique uncoupled match"
_FINISHED = (JobStatus.SUCCEEDED, JobStatus.PARTIAL, JobStatus.FAILED)


@dataclass(frozen=True, slots=True)
class MatchField:
    """One criterion of a priority level: the ERP field whose value the CRM field must hold."""

    erp_field: str
    crm_field: str
    case_sensitive: bool = False


def match_levels(mapping: Mapping) -> list[tuple[MatchField, ...]]:
    """The match criteria grouped by `match_priority`, lowest first (bc-behaviour §2.9 step 2).

    Fields with a lookup, constant or transform are left out: their two sides hold different values."""
    usable = sorted((fm for fm in mapping.field_mappings
                     if fm.enabled and fm.match_priority is not None and fm.erp_field and fm.crm_field
                     and fm.lookup is None and fm.constant is None and fm.transform is None),
                    key=lambda fm: fm.match_priority or 0)
    return [tuple(MatchField(fm.erp_field or "", fm.crm_field or "", fm.case_sensitive) for fm in group)
            for _, group in groupby(usable, key=lambda fm: fm.match_priority)]


def match_value(value: object, case_sensitive: bool) -> str | None:
    """The form two values are matched in: trimmed, empty is None, folded case unless case-sensitive."""
    v = normalize(value)
    if v is None:
        return None
    text = str(v)
    return text if case_sensitive else text.casefold()


def _key(fields: MappingABC[str, object], level: Sequence[MatchField], side: Side) -> tuple[tuple[str, str], ...]:
    """The level's non-empty criteria and values of one record (bc-behaviour §2.9 3.3: empty values are skipped)."""
    out = []
    for f in level:
        v = match_value(fields.get(f.erp_field if side is Side.ERP else f.crm_field), f.case_sensitive)
        if v is not None:
            out.append((f.crm_field, v))
    return tuple(out)


def pick_matches(sources: Sequence[Record], candidates: Iterable[Record], level: Sequence[MatchField],
                 taken: set[str], ambiguous: dict[str, list[str]] | None = None) -> dict[str, str]:
    """ERP id → CRM id for every source with exactly one uncoupled candidate matching all its non-empty criteria.

    `taken` holds CRM ids already coupled (or picked earlier in this run); picks are added to it, so no CRM row
    is picked twice even when two sources match it (the second one goes on to the next level). Sources with more
    than one candidate are noted in `ambiguous` (ERP id → the CRM ids), so the failure can name them."""
    pool = [c for c in candidates if c.id not in taken]
    picks: dict[str, str] = {}
    for src in sources:
        key = _key(src.fields, level, Side.ERP)
        if not key:
            continue
        hits = [c for c in pool if c.id not in taken
                and all(match_value(c.fields.get(crm), _sensitive(level, crm)) == v for crm, v in key)]
        if len(hits) == 1:
            picks[src.id] = hits[0].id
            taken.add(hits[0].id)
        elif hits and ambiguous is not None:
            ambiguous[src.id] = [c.id for c in hits]
    return picks


def _no_match_reason(candidates: Sequence[str] | None, fields: str) -> str:
    """Which of the two failures it was: several candidates (named, so a person can pick one) or none at all."""
    if candidates:
        shown = ", ".join(candidates[:10]) + (f" and {len(candidates) - 10} more" if len(candidates) > 10 else "")
        return (f"Failed to couple: {len(candidates)} uncoupled CRM rows match equally ({shown}); couple the right "
                "one by hand.")
    return f"Failed to couple: no uncoupled CRM row matches on {fields}."


def _sensitive(level: Sequence[MatchField], crm_field: str) -> bool:
    return next(f.case_sensitive for f in level if f.crm_field == crm_field)


def sync_after_direction(mapping: Mapping) -> Direction:
    """bc-behaviour §2.9 step 5: a one-way mapping syncs its way; a bidirectional one as its conflict policy
    says (crmWins → fromCrm), else toCrm."""
    if mapping.direction is not Direction.BIDIRECTIONAL:
        return mapping.direction
    return Direction.FROM_CRM if mapping.update_conflict is UpdateConflictPolicy.CRM_WINS else Direction.TO_CRM


def queue_match_coupling(deps: Deps, mapping_name: str, *, create_new: bool = False, sync_after: bool = False,
                         dry_run: bool = False) -> Job:
    """Create a QUEUED coupling job and send it to the worker; answered at once (202).

    Raises:
        NotFound: no such mapping.
        InvalidInput: the mapping has no match fields (bc-behaviour §2.9 step 2).
    """
    mapping = load_mapping(deps, mapping_name)
    if not match_levels(mapping):
        raise InvalidInput("mapping", f"Mapping {mapping.name} has no field with a matchPriority to match on.")
    job = deps.storage().jobs.create(Job(deps.new_id(), mapping.name, JobType.COUPLING, None, JobStatus.QUEUED,
                                         deps.clock(), dry_run=dry_run))
    deps.queue().send({"kind": "match-couple", "jobId": job.id, "mapping": mapping.name, "createNew": create_new,
                       "syncAfter": sync_after, "dryRun": dry_run}, message_id=f"match-couple-{job.id}")
    return job


def run_match_coupling(deps: Deps, job_id: str, mapping_name: str, create_new: bool, sync_after: bool, *,
                       dry_run: bool = False) -> Job:
    """Run a queued F12 job over every uncoupled ERP record of the mapping.

    Args:
        deps: clients and stores.
        job_id: the QUEUED coupling job; a redelivered message finds it finished and does nothing again.
        mapping_name: the mapping.
        create_new: create the CRM row of a record without a match (also when the mapping says so).
        sync_after: synchronize the newly coupled pairs (direction: `sync_after_direction`).
        dry_run: count what would be coupled or created; write nothing (X5).

    Returns:
        The finished job with counters coupled, inserted, failed (and modified/unchanged after a sync).
    """
    jobs = deps.storage().jobs
    job = jobs.get(job_id)
    if job.status in _FINISHED:
        return job
    job = jobs.update(dataclasses.replace(job, status=JobStatus.RUNNING, started_on=deps.clock()))
    counters = Counters()
    try:
        mapping = load_mapping(deps, mapping_name)
        create = (create_new or mapping.create_new_on_no_match) and mapping.direction.allows(Direction.TO_CRM)
        fields = mapping.source_fields(Side.ERP)
        for page in deps.erp().read_changed_since(mapping.erp_entity, None, fields, mapping.erp_filter):
            for start in range(0, len(page), PAGE):
                step = _Step(deps, mapping, job.id, dry_run)
                counters += step.run(page[start:start + PAGE], create, sync_after)
                job = jobs.update(dataclasses.replace(job, counters=counters))
        status = JobStatus.PARTIAL if counters.failed else JobStatus.SUCCEEDED
        message = (f"{counters.failed} record(s) not coupled: {NO_MATCH} was found; each error row says whether "
                   "several rows matched (and which) or none.") if counters.failed else None
    except KoppelError as err:
        status, message = JobStatus.FAILED, err.message
    return jobs.update(dataclasses.replace(job, status=status, finished_on=deps.clock(), counters=counters,
                                           progress=1.0, message=message))


@dataclass
class _Step:
    """One chunk of ERP records through every level, then create-new or fail, then the optional sync."""

    deps: Deps
    mapping: Mapping
    job_id: str
    dry_run: bool

    def run(self, records: Sequence[Record], create: bool, sync_after: bool) -> Counters:
        store = self.deps.storage().couplings
        coupled = store.find_by_erp(self.mapping.name, [r.id for r in records])
        # bc-behaviour §2.9 3.1: re-checked per chunk, since another job may have coupled some meanwhile.
        remaining = [r for r in records if r.id not in coupled]
        counters, new = Counters(), []
        taken: set[str] = set()
        ambiguous: dict[str, list[str]] = {}
        for level in match_levels(self.mapping):
            if not remaining:
                break
            picks = pick_matches(remaining, self._candidates(remaining, level, taken), level, taken, ambiguous)
            done, elsewhere = self._couple(picks)
            new += done
            counters = counters.bump("coupled", len(done))
            gone = {c.erp_id for c in done} | elsewhere
            remaining = [r for r in remaining if r.id not in gone]
        if remaining and create:
            result = sync_page(self.deps, self.mapping, Direction.TO_CRM, remaining, job_id=self.job_id, force=True,
                               dry_run=self.dry_run)
            counters += result.counters
        elif remaining:
            counters = counters.bump("failed", len(remaining))
            self._no_match_rows(remaining, ambiguous)
        if sync_after and new and not self.dry_run:
            counters += self._sync(new, {r.id: r for r in records})
        return counters

    def _candidates(self, sources: Sequence[Record], level: Sequence[MatchField], taken: set[str]) -> list[Record]:
        """The CRM rows holding any source's value of the level's first non-empty field; coupled ones join `taken`."""
        wanted: dict[str, list[str]] = {}
        for src in sources:
            if key := _key(src.fields, level, Side.ERP):
                first_crm, _ = key[0]
                erp_field = next(f.erp_field for f in level if f.crm_field == first_crm)
                wanted.setdefault(first_crm, []).append(str(normalize(src.fields.get(erp_field))))
        crm, found = self.deps.crm(), {}
        fields = [f.crm_field for f in level]
        for crm_field, values in wanted.items():
            for row in crm.read_by_field(self.mapping.crm_entity, self.mapping.crm_id_field, crm_field, values,
                                         fields, self.mapping.crm_filter):
                found[row.id] = row
        already = self.deps.storage().couplings.find_by_crm(self.mapping.name, list(found))
        taken.update(already)
        return list(found.values())

    def _couple(self, picks: dict[str, str]) -> tuple[list[Coupling], set[str]]:
        """The couplings made, and the ERP ids someone else coupled meanwhile (neither matched nor created)."""
        now = self.deps.clock()
        wanted = [Coupling(self.mapping.name, erp_id, crm_id, coupled_on=now) for erp_id, crm_id in picks.items()]
        if self.dry_run or not wanted:
            return wanted, set()
        results = self.deps.storage().couplings.couple_many(wanted)
        # A clash means another job coupled one side meanwhile: never a second coupling (SPEC §5.1). A clash on
        # the CRM side leaves the ERP record for the next level; on the ERP side the record is done.
        done = [c for c in results if isinstance(c, Coupling)]
        elsewhere = {c.erp_id for c, res in zip(wanted, results) if isinstance(res, AlreadyCoupled) and res.side == "erp"}
        return done, elsewhere

    def _no_match_rows(self, records: Sequence[Record], ambiguous: MappingABC[str, list[str]]) -> None:
        if self.dry_run:
            return
        now = self.deps.clock()
        fields = ", ".join(f"{f.erp_field}/{f.crm_field}" for level in match_levels(self.mapping) for f in level)
        self.deps.storage().errors.add_many([
            SyncError(id=self.deps.new_id(), job_id=self.job_id, mapping=self.mapping.name, erp_id=r.id, crm_id=None,
                      direction=None, category=ErrorCategory.CONFLICT, message=_no_match_reason(ambiguous.get(r.id), fields),
                      detail=None, occurred_on=now)
            for r in records])

    def _sync(self, new: Sequence[Coupling], erp_records: MappingABC[str, Record]) -> Counters:
        direction = sync_after_direction(self.mapping)
        if direction is Direction.TO_CRM:
            sources = [erp_records[c.erp_id] for c in new]
        else:
            sources = list(read_records(self.deps, self.mapping, Side.CRM, [c.crm_id for c in new]).values())
        result = sync_page(self.deps, self.mapping, direction, sources, job_id=self.job_id, force=True)
        return result.counters
