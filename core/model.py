"""The model: mappings and their field mappings, records, couplings, jobs and error rows.

Frozen dataclasses in SPEC's words. A change of state returns a new value (`dataclasses.replace`).
Wire shapes (JSON bodies, table entities) are translated at the edges, never here.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field, fields, replace
from enum import Enum
from types import MappingProxyType
from typing import Any

__all__ = [
    "Direction", "SyncDirection", "Side", "UpdateConflictPolicy", "DeletionConflictPolicy", "DeletePolicy",
    "ErrorCategory", "JobType", "JobStatus", "FieldMapping", "Schedule", "Mapping", "Record", "Coupling",
    "Counters", "Job", "SyncError", "frozen_fields", "TRANSIENT_CATEGORIES",
]


class Direction(str, Enum):
    """The direction of a mapping or a field mapping."""

    TO_CRM = "toCrm"
    FROM_CRM = "fromCrm"
    BIDIRECTIONAL = "bidirectional"

    def allows(self, direction: Direction) -> bool:
        return self is Direction.BIDIRECTIONAL or self is direction


class SyncDirection(str, Enum):
    """What a person asks for when synchronizing now (F3)."""

    AUTO = "auto"
    TO_CRM = "toCrm"
    FROM_CRM = "fromCrm"


class Side(str, Enum):
    ERP = "erp"
    CRM = "crm"

    @property
    def other(self) -> Side:
        return Side.CRM if self is Side.ERP else Side.ERP


class UpdateConflictPolicy(str, Enum):
    FAIL = "fail"
    ERP_WINS = "erpWins"
    CRM_WINS = "crmWins"
    MERGE = "merge"


class DeletionConflictPolicy(str, Enum):
    FAIL = "fail"
    RESTORE = "restore"
    UNCOUPLE = "uncouple"


class DeletePolicy(str, Enum):
    IGNORE = "ignore"
    DEACTIVATE = "deactivate"
    DELETE = "delete"
    UNCOUPLE = "uncouple"


class ErrorCategory(str, Enum):
    """X11: what kind of failure, which decides whether repeating it marks a coupling skipped."""

    THROTTLED = "throttled"
    TRANSIENT = "transient"
    AUTH = "auth"
    CONFIG = "config"
    VALIDATION = "validation"
    CONFLICT = "conflict"
    CONCURRENCY = "concurrency"
    DELETED_COUNTERPART = "deletedCounterpart"
    DEPENDENCY = "dependency"


TRANSIENT_CATEGORIES = frozenset({ErrorCategory.THROTTLED, ErrorCategory.TRANSIENT})


class JobType(str, Enum):
    SYNC = "sync"
    COUPLING = "coupling"
    UNCOUPLING = "uncoupling"


class JobStatus(str, Enum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    PARTIAL = "partial"  # finished, some records failed
    FAILED = "failed"


def frozen_fields(values: MappingABC[str, Any] | None) -> MappingABC[str, Any]:
    """A read-only view of a field dict, so records and couplings stay immutable."""
    return MappingProxyType(dict(values or {}))


@dataclass(frozen=True, slots=True)
class FieldMapping:
    """One ERP field ↔ one CRM column (or a constant written to one side).

    `lookup` names another mapping whose couplings translate the value (an id on one side
    into the coupled id on the other, F14). `match_priority` set means the field is used
    for match-based coupling (F12), lowest number first.
    """

    erp_field: str | None
    crm_field: str | None
    direction: Direction = Direction.BIDIRECTIONAL
    constant: Any = None
    enabled: bool = True
    transform: str | None = None
    lookup: str | None = None
    clear_on_failure: bool = False
    not_null: bool = False
    match_priority: int | None = None
    case_sensitive: bool = False
    key: str = field(init=False, repr=False, compare=False)
    """Stable name of this field pair, used for per-field hashes and conflict rows (derived once: it is
    read for every field of every record planned)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", f"{self.erp_field or '='}|{self.crm_field or '='}")

    def flows(self, direction: Direction) -> bool:
        """Whether this field is written when synchronizing in `direction` (toCrm or fromCrm)."""
        if not self.enabled:
            return False
        target = self.crm_field if direction is Direction.TO_CRM else self.erp_field
        return target is not None and self.direction.allows(direction)


@dataclass(frozen=True, slots=True)
class Schedule:
    interval_min: int = 30
    inactivity_timeout_min: int = 720


@dataclass(frozen=True, slots=True)
class Mapping:
    """An integration table mapping: one ERP entity ↔ one CRM table (SPEC F7)."""

    name: str
    erp_entity: str  # API v2.0 entity set, e.g. "customers"
    crm_entity: str  # Web API entity set, e.g. "accounts"
    crm_table: str  # logical name, e.g. "account"
    crm_id_field: str  # primary key column, e.g. "accountid"
    direction: Direction
    field_mappings: tuple[FieldMapping, ...]
    erp_filter: str | None = None  # OData $filter on the ERP entity
    crm_filter: str | None = None  # OData $filter on the CRM table
    sync_only_coupled: bool = True
    update_conflict: UpdateConflictPolicy = UpdateConflictPolicy.MERGE
    deletion_conflict: DeletionConflictPolicy = DeletionConflictPolicy.FAIL
    delete_policy: DeletePolicy = DeletePolicy.IGNORE
    create_new_on_no_match: bool = False
    schedule: Schedule = field(default_factory=Schedule)
    depends_on: tuple[str, ...] = ()
    paused: bool = False
    version: int = 1
    etag: str | None = None

    flowing: dict[Direction, tuple[FieldMapping, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Derived once: the planner asks for every record of a page.
        object.__setattr__(self, "flowing", {d: tuple(f for f in self.field_mappings if f.flows(d))
                                             for d in (Direction.TO_CRM, Direction.FROM_CRM)})

    def fields_for(self, direction: Direction) -> tuple[FieldMapping, ...]:
        return self.flowing.get(direction) or ()

    def source_fields(self, side: Side) -> tuple[str, ...]:
        """The fields to read from `side`: every enabled mapped field, without duplicates."""
        names = (f.erp_field if side is Side.ERP else f.crm_field for f in self.field_mappings if f.enabled)
        return tuple(dict.fromkeys(n for n in names if n))


@dataclass(frozen=True, slots=True)
class Record:
    """One row as read from either side, with only the fields Koppel asked for."""

    id: str
    modified_on: dt.datetime
    fields: MappingABC[str, Any]
    etag: str | None = None
    modified_by: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.fields, MappingProxyType):
            object.__setattr__(self, "fields", frozen_fields(self.fields))


@dataclass(frozen=True, slots=True)
class Coupling:
    """The link between one ERP record and one CRM row under one mapping, with its sync state.

    `erp_modified_on`/`crm_modified_on` are each side's modified-on at the last sync (they only
    move forward); `field_hashes` holds a hash of the last synced value per field pair, so a
    later pass can tell which side changed which field (merge) and Koppel's own writes never
    count as changes. `erp_result` is the outcome when the ERP side was the destination.
    """

    mapping: str
    erp_id: str
    crm_id: str
    erp_modified_on: dt.datetime | None = None
    crm_modified_on: dt.datetime | None = None
    field_hashes: MappingABC[str, str] = field(default_factory=lambda: frozen_fields({}))
    erp_result: str | None = None
    crm_result: str | None = None
    erp_job_id: str | None = None
    crm_job_id: str | None = None
    skipped: bool = False
    last_error: str | None = None
    last_error_category: ErrorCategory | None = None
    last_error_key: str | None = None  # what makes two errors "the same" (core.rules.coupling_state.error_key)
    error_count: int = 0
    coupled_on: dt.datetime | None = None
    etag: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.field_hashes, MappingProxyType):
            object.__setattr__(self, "field_hashes", frozen_fields(self.field_hashes))

    def with_changes(self, **changes: Any) -> Coupling:
        return replace(self, **changes)


@dataclass(frozen=True, slots=True)
class Counters:
    inserted: int = 0
    modified: int = 0
    deleted: int = 0
    unchanged: int = 0
    skipped: int = 0
    failed: int = 0
    coupled: int = 0
    uncoupled: int = 0
    drifted: int = 0  # X9: coupled pairs found differing with no change a watermark will read
    repaired: int = 0  # X9: drifted pairs brought back in sync

    def __add__(self, other: Counters) -> Counters:
        return Counters(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})

    def bump(self, name: str, by: int = 1) -> Counters:
        return replace(self, **{name: getattr(self, name) + by})

    def to_json(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @property
    def total(self) -> int:
        return sum(getattr(self, f.name) for f in fields(self))


@dataclass(frozen=True, slots=True)
class Job:
    """One pass or batch of work (F11): what ran, when, and what came of it."""

    id: str
    mapping: str
    type: JobType
    direction: Direction | None
    status: JobStatus
    started_on: dt.datetime
    finished_on: dt.datetime | None = None
    counters: Counters = field(default_factory=Counters)
    progress: float = 0.0  # 0..1
    message: str | None = None
    dry_run: bool = False
    etag: str | None = None


@dataclass(frozen=True, slots=True)
class SyncError:
    """An error row (F10): which record failed in which job, why, and in which category."""

    id: str
    job_id: str | None
    mapping: str
    erp_id: str | None
    crm_id: str | None
    direction: Direction | None
    category: ErrorCategory
    message: str
    detail: str | None
    occurred_on: dt.datetime
