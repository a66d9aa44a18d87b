"""JobStore: the Jobs table, the synchronization log (F11).

Layout (one partition, "job", so a job and its index rows change in one transaction):
`j|<id>` is the job, read by id in one point read; `t|<newest-first time>|<id>` and
`m|<mapping>|<newest-first time>|<id>` are copies kept in step with it, so "newest first", overall or per
mapping, is one ascending range scan that stops after `top` rows. Jobs are few (one per pass), so one
partition's ~2,000 entities/s is ample, and copies beat an index of ids that would cost a read per job listed.
"""
from __future__ import annotations

import builtins
import datetime as dt
from dataclasses import fields, replace
from typing import Any

from core.errors import Conflict, NotFound, StaleWrite
from core.model import Counters, Direction, Job, JobStatus, JobType
from core.store._tables import (
    STORAGE_ERRORS,
    TableClient,
    TableTransactionError,
    UpdateMode,
    dumps,
    failed_op,
    first_rows,
    from_utc,
    if_match,
    inverted_ms,
    key,
    loads,
    range_filter,
    to_utc,
    translate,
    translated,
)

__all__ = ["JobStore"]

_PK = "job"
_COUNTERS = {f.name for f in fields(Counters)}


def _row_keys(job: Job) -> tuple[str, str, str]:
    newest_first = inverted_ms(job.started_on)
    return (f"j|{key(job.id)}", f"t|{newest_first}|{key(job.id)}",
            f"m|{key(job.mapping)}|{newest_first}|{key(job.id)}")


def _to_entity(job: Job, row_key: str) -> dict[str, Any]:
    return {
        "PartitionKey": _PK, "RowKey": row_key, "Id": job.id, "Mapping": job.mapping, "Type": job.type.value,
        "Direction": job.direction.value if job.direction else None, "Status": job.status.value,
        "StartedOn": to_utc(job.started_on), "FinishedOn": to_utc(job.finished_on) if job.finished_on else None,
        "Counters": dumps(job.counters.to_json()), "Progress": float(job.progress), "Message": job.message,
        "DryRun": job.dry_run,
    }


def _from_entity(e: Any, *, updatable: bool = True) -> Job:
    counters = loads(e.get("Counters"), {})
    direction = e.get("Direction")
    return Job(
        id=e["Id"], mapping=e["Mapping"], type=JobType(e["Type"]), direction=Direction(direction) if direction else None,
        status=JobStatus(e["Status"]), started_on=from_utc(e["StartedOn"]),  # type: ignore[arg-type]
        finished_on=from_utc(e.get("FinishedOn")),
        # Counters written by a newer version may hold names this one doesn't know: keep the known ones.
        counters=Counters(**{k: int(v) for k, v in counters.items() if k in _COUNTERS}),
        progress=float(e.get("Progress", 0.0)), message=e.get("Message"), dry_run=bool(e.get("DryRun", False)),
        etag=e.metadata["etag"] if updatable else None,
    )


class JobStore:
    """Create, update (etag), get, and list jobs newest first."""

    def __init__(self, table: TableClient):
        self._table = table

    def create(self, job: Job) -> Job:
        """Raises: Conflict: a job with this id exists (a redelivered start message: read it instead)."""
        ops = [("create", _to_entity(job, rk)) for rk in _row_keys(job)]
        try:
            replies = self._table.submit_transaction(ops)
        except TableTransactionError as err:
            if failed_op(err)[1] == "EntityAlreadyExists":
                raise Conflict(f"The job {job.id} already exists.", reason="exists") from err
            raise translate("create job", err) from err
        except STORAGE_ERRORS as err:
            raise translate("create job", err) from err
        return replace(job, etag=replies[0]["etag"])

    def update(self, job: Job) -> Job:
        """Replace the job (and its index copies) if unchanged since read.

        Raises:
            StaleWrite: the job changed since it was read (another chunk of it ran meanwhile).
        """
        job_key, *copies = _row_keys(job)
        ops: builtins.list[Any] = [
            ("update", _to_entity(job, job_key), {"mode": UpdateMode.REPLACE, **if_match(job.etag)})]
        ops += [("upsert", _to_entity(job, rk), {"mode": UpdateMode.REPLACE}) for rk in copies]
        # The index copies are keyed by start time: when a queued job starts, its old copies must go.
        stored = self._stored_started_on(job.id)
        if stored is not None and stored != job.started_on:
            ops += [("delete", {"PartitionKey": _PK, "RowKey": rk})
                    for rk in _row_keys(replace(job, started_on=stored))[1:]]
        try:
            replies = self._table.submit_transaction(ops)
        except TableTransactionError as err:
            if failed_op(err)[1] in ("UpdateConditionNotSatisfied", "ResourceNotFound"):
                raise StaleWrite(f"The job {job.id} changed since it was read.") from err
            raise translate("update job", err) from err
        except STORAGE_ERRORS as err:
            raise translate("update job", err) from err
        return replace(job, etag=replies[0]["etag"])

    def _stored_started_on(self, job_id: str) -> Any:
        rows = list(self._table.query_entities("PartitionKey eq @pk and RowKey eq @rk", select=["StartedOn"],
                                               parameters={"pk": _PK, "rk": f"j|{key(job_id)}"}))
        return from_utc(rows[0]["StartedOn"]) if rows else None

    def running_before(self, before: dt.datetime) -> builtins.list[Job]:
        """The RUNNING jobs whose row has not changed since `before`: the row's Timestamp is the job's heartbeat,
        as every running job writes its counters and progress page by page."""
        with translated("list running jobs"):
            rows = self._table.query_entities(
                "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi and Status eq @running and Timestamp lt @before",
                parameters={"pk": _PK, "lo": "j|", "hi": "j}", "running": JobStatus.RUNNING.value, "before": before})
            return [_from_entity(e) for e in rows]

    def get(self, job_id: str) -> Job:
        """Raises: NotFound: no job with this id."""
        with translated("read job"):
            rows = list(self._table.query_entities("PartitionKey eq @pk and RowKey eq @rk",
                                                   parameters={"pk": _PK, "rk": f"j|{key(job_id)}"}))
        if not rows:
            raise NotFound(f"There is no job {job_id}.", field="id")
        return _from_entity(rows[0])

    def list(self, mapping: str | None = None, top: int = 50) -> builtins.list[Job]:
        """The newest `top` jobs, of one mapping or of all.

        They are read from the index copies, whose etags are not the job's: they come back with etag None, so
        an update must start from `get(job_id)`.
        """
        prefix = "t|" if mapping is None else f"m|{key(mapping)}|"
        top = max(1, min(top, 1000))
        with translated("list jobs"):
            pages = self._table.query_entities(range_filter(), parameters={
                "pk": _PK, "lo": prefix, "hi": prefix[:-1] + "}"}, results_per_page=top).by_page()
            rows = first_rows(pages, top)
        return [_from_entity(e, updatable=False) for e in rows]
