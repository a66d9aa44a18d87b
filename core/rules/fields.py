"""The field mapper: what counts as equal, field transfer (constants, transforms, lookups, not-null), field hashes.

The hash rule. For every field pair a coupling stores TWO short hashes, one per side, each of that
side's normalized value as it stood right after the last sync: `field_hashes[fm.key] = "<erp>:<crm>"`.
 - A side changed a field iff the hash of its current value differs from its stored hash. That
   needs no translation at all, so it holds across lookups (an ERP currency id and a CRM currency id
   are different GUIDs) and transforms (`prefix:` makes the two sides differ on purpose).
 - Whether a write is needed is a different question, answered in the DESTINATION's terms: the value
   after transform and lookup (`transfer`) is compared, normalized, with the destination's current value.
 - After a sync both stored hashes are the values both sides now hold, so Koppel's own write never
   counts as a change on the next pass (no ping-pong, SPEC §5.3). The engine should compute them with
   `synced_hashes` from the records the write returned (BC PATCH answers the full entity, Dataverse
   `return=representation`), so a service-side rewrite (BC upper-cases Code fields) is not an echo.
 - A missing pair, or the `NOT_SYNCED` marker, means "no known baseline": that side counts as changed.
"""
from __future__ import annotations

import base64
import functools
import datetime as dt
import hashlib
import re
from collections.abc import Iterable, Mapping as MappingABC
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from core.model import Direction, ErrorCategory, FieldMapping, Mapping, Record, Side, frozen_fields
from core.rules.transforms import TransformContext, apply_transform, compile_transform

__all__ = [
    "BLANK_GUID", "NOT_SYNCED", "normalize", "hash_value", "same_value", "loose_key", "LookupRef", "parse_lookup", "validate_lookup",
    "LookupTable", "FieldFailure", "TransferredField", "Transfer", "transfer", "field_hashes", "encode_pair",
    "decode_pair", "synced_hashes", "FieldChange", "field_changes", "lookup_requests", "side_of",
]

# BC has no nulls: a blank GUID field holds the zero GUID (emulators/bc/entities.py, BLANK_GUID).
BLANK_GUID = "00000000-0000-0000-0000-000000000000"
NOT_SYNCED = "~"  # a stored side hash that never matches: the side counts as changed next time
_GUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def side_of(direction: Direction) -> tuple[Side, Side]:
    """(source side, destination side) of a pass; toCrm reads the ERP and writes the CRM."""
    if direction is Direction.TO_CRM:
        return Side.ERP, Side.CRM
    if direction is Direction.FROM_CRM:
        return Side.CRM, Side.ERP
    raise ValueError("a pass runs toCrm or fromCrm, never bidirectional")


def normalize(value: Any) -> Any:
    """The canonical form two values are compared in.

    Strings are trimmed and an empty string is None; GUIDs are lower-case and the zero GUID is None
    (BC's blank); numbers compare by value (1 == 1.0 == Decimal("1.00")); datetimes as UTC.
    Case is kept: `"nl"` and `"NL"` differ (use the `upper` transform where a side upper-cases).
    """
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        if _GUID_RE.match(text):
            text = text.lower()
            return None if text == BLANK_GUID else text
        return text
    if isinstance(value, (int, float, Decimal)):
        try:
            return Decimal(str(value)).normalize()
        except InvalidOperation:
            return str(value)
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.timezone.utc) if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
    return value


def _canonical(value: Any) -> str:
    v = normalize(value)
    if v is None:
        return "0"
    if isinstance(v, bool):
        return f"b:{int(v)}"
    if isinstance(v, Decimal):
        return f"n:{v:f}" if v.is_finite() else f"n:{v}"
    if isinstance(v, str):
        return f"s:{v}"
    if isinstance(v, (dt.datetime, dt.date)):
        return f"t:{v.isoformat()}"
    return f"r:{v!r}"


def hash_value(value: Any) -> str:
    """A stable 11-character hash of the normalized value (blake2b, 64 bits, base64url)."""
    try:
        return _hash_cached(value)
    except TypeError:  # unhashable (a list or dict value): hash it without the cache
        return _hash_uncached(value)


def _hash_uncached(value: Any) -> str:
    digest = hashlib.blake2b(_canonical(value).encode("utf-8"), digest_size=8).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


# A page hashes the same few values many times (both sides, before and after): cache by value and type.
_hash_cached = functools.lru_cache(maxsize=1 << 16, typed=True)(_hash_uncached)


def loose_key(value: Any) -> str:
    """The canonical form with case and inner spacing ignored: what a service's own normalization (BC stores
    country `nl` as `NL`) leaves unchanged, for recognising a record we created (core.sync.adoption)."""
    return " ".join(_canonical(value).casefold().split())


def same_value(a: Any, b: Any) -> bool:
    """Whether two values are equal after normalization (the same rule `hash_value` uses: True is not 1)."""
    return _canonical(a) == _canonical(b)


# --- lookups through couplings (SPEC F14) -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LookupRef:
    """A parsed `FieldMapping.lookup`: `"CURRENCY"`, `"CUSTOMER|VENDOR"` or `"CUSTOMER|VENDOR:number"`.

    `mappings` are tried in order. `erp_key` names the ERP field of the target mapping's records that the
    value refers to; None means the ERP record id. API v2.0 contacts name their company by `companyNumber`,
    not by id, hence `erp_key="number"` on the CONTACT → parentcustomerid lookup.
    """

    mappings: tuple[str, ...]
    erp_key: str | None = None

    def table_key(self, mapping: str) -> str:
        """The name under which `LookupTable` holds this target's translations."""
        return f"{mapping}:{self.erp_key}" if self.erp_key else mapping


def parse_lookup(text: str) -> LookupRef:
    """Parse a lookup spec. Raises ValueError when it is malformed."""
    names_part, sep, key = text.partition(":")
    names = tuple(n.strip() for n in names_part.split("|"))
    if not all(names):
        raise ValueError(f"lookup {text!r} must name one or more mappings separated by |")
    if sep and not key.strip():
        raise ValueError(f"lookup {text!r} has ':' but no ERP key field after it")
    return LookupRef(names, key.strip() or None)


def validate_lookup(text: str | None, own_mapping: str | None = None) -> str | None:
    """What is wrong with a lookup spec, in words for the mapping validator; None when it is valid."""
    if text is None:
        return None
    try:
        ref = parse_lookup(text)
    except ValueError as exc:
        return str(exc)
    if own_mapping is not None and own_mapping in ref.mappings:
        return f"a field of mapping {own_mapping} cannot look up through its own couplings"
    return None


@dataclass(frozen=True, slots=True)
class LookupTable:
    """Translations the engine fills in bulk before planning a page.

    `entries[(table_key, source_side)]` maps a normalized source value to the value the destination
    field takes: toCrm `{erp id (or erp_key value): crm id}`, fromCrm `{crm id: erp id (or erp_key value)}`.
    """

    entries: MappingABC[tuple[str, Side], MappingABC[str, Any]] = field(default_factory=dict)

    @classmethod
    def of(cls, entries: MappingABC[tuple[str, Side], MappingABC[Any, Any]]) -> LookupTable:
        """Build a table, normalizing every source key the way `resolve` will look it up."""
        return cls({k: frozen_fields({str(normalize(s)): d for s, d in v.items()}) for k, v in entries.items()})

    def resolve(self, ref: LookupRef, side: Side, value: Any) -> tuple[bool, Any]:
        """(found, destination value) for a source value, trying each target mapping in order."""
        key = normalize(value)
        for name in ref.mappings:
            table = self.entries.get((ref.table_key(name), side), {})
            if str(key) in table:
                return True, table[str(key)]
        return False, None


def lookup_requests(mapping: Mapping, direction: Direction, records: Iterable[Record]) -> dict[tuple[str, Side], set[str]]:
    """The source values a page needs translated, per `(table_key, source_side)`, for the engine to fetch in bulk."""
    source, _ = side_of(direction)
    wanted: dict[tuple[str, Side], set[str]] = {}
    recs = list(records)
    for fm in mapping.fields_for(direction):
        src_field = fm.erp_field if source is Side.ERP else fm.crm_field
        if fm.lookup is None or src_field is None or fm.constant is not None:
            continue
        ref = parse_lookup(fm.lookup)
        values = {str(v) for r in recs if (v := normalize(r.fields.get(src_field))) is not None}
        for name in ref.mappings:
            wanted.setdefault((ref.table_key(name), source), set()).update(values)
    return wanted


# --- transfer -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FieldFailure:
    """One field that could not be transferred; `category` is dependency (lookup) or config (transform)."""

    key: str
    field: str
    message: str
    category: ErrorCategory


@dataclass(frozen=True, slots=True)
class TransferredField:
    """One destination value; `cleared` marks a lookup failure written as None (clear-on-failure)."""

    mapping: FieldMapping
    field: str
    value: Any
    cleared: bool = False


@dataclass(frozen=True, slots=True)
class Transfer:
    """What the source record gives the destination, per field, plus the fields that failed."""

    fields: tuple[TransferredField, ...]
    failures: tuple[FieldFailure, ...] = ()

    @property
    def values(self) -> dict[str, Any]:
        """Destination field → value."""
        return {f.field: f.value for f in self.fields}

    def by_key(self) -> dict[str, TransferredField]:
        return {f.mapping.key: f for f in self.fields}


def transfer(record: Record, mapping: Mapping, direction: Direction, lookups: LookupTable) -> Transfer:
    """Compute the destination values of every field mapping flowing in `direction`.

    Order per field (bc-behaviour §2.6): constant, else the source value; transforms; lookup through
    couplings (a missing translation fails the field, or writes None with clear-on-failure); not-null
    drops a None value so the destination keeps whatever it has.

    Args:
        record: the source record (ERP for toCrm, CRM for fromCrm).
        mapping: the table mapping.
        direction: toCrm or fromCrm.
        lookups: translations the engine filled for this page.

    Returns:
        The transferred fields and the failures; a failed field has no value in `fields`.
    """
    source, _ = side_of(direction)
    out: list[TransferredField] = []
    failures: list[FieldFailure] = []
    for fm in mapping.fields_for(direction):
        dest = fm.crm_field if direction is Direction.TO_CRM else fm.erp_field
        src = fm.erp_field if source is Side.ERP else fm.crm_field
        assert dest is not None  # FieldMapping.flows guarantees a destination field
        if fm.constant is not None:
            value: Any = fm.constant
        elif src is None:
            continue  # a constant written to the other side only
        else:
            value = record.fields.get(src)
        try:
            value = apply_transform(compile_transform(fm.transform), value, TransformContext(direction, dest))
        except ValueError as exc:
            failures.append(FieldFailure(fm.key, dest, f"transform of {dest}: {exc}", ErrorCategory.CONFIG))
            continue
        cleared = False
        if fm.lookup is not None and fm.constant is None and normalize(value) is None:
            # A blank reference stays blank, unless the table says what blank stands for (BC's local currency).
            found, translated = lookups.resolve(parse_lookup(fm.lookup), source, BLANK_GUID)
            value = translated if found else (BLANK_GUID if direction is Direction.FROM_CRM else None)
        elif fm.lookup is not None and fm.constant is None:
            ref = parse_lookup(fm.lookup)
            found, translated = lookups.resolve(ref, source, value)
            if found:
                value = translated
            elif fm.clear_on_failure:
                value, cleared = (BLANK_GUID if direction is Direction.FROM_CRM else None), True
            else:
                failures.append(FieldFailure(
                    fm.key, dest, f"{src} {value} is not coupled in {' or '.join(ref.mappings)}",
                    ErrorCategory.DEPENDENCY))
                continue
        if fm.not_null and normalize(value) is None:
            continue
        out.append(TransferredField(fm, dest, value, cleared))
    return Transfer(tuple(out), tuple(failures))


# --- hashes and per-field change detection --------------------------------------------------------------


def _side_value(fm: FieldMapping, side: Side, fields: MappingABC[str, Any]) -> tuple[bool, Any]:
    name = fm.erp_field if side is Side.ERP else fm.crm_field
    return (False, None) if name is None else (True, fields.get(name))


def _side_hash(fm: FieldMapping, side: Side, fields: MappingABC[str, Any]) -> str:
    has, value = _side_value(fm, side, fields)
    return hash_value(value) if has else ""  # a constant has no field on its source side


def field_hashes(record: Record, mapping: Mapping, side: Side) -> dict[str, str]:
    """The hash of `side`'s current value of every enabled field pair, keyed by `FieldMapping.key`."""
    return {fm.key: _side_hash(fm, side, record.fields) for fm in mapping.field_mappings if fm.enabled}


def encode_pair(erp_hash: str, crm_hash: str) -> str:
    return f"{erp_hash}:{crm_hash}"


def decode_pair(stored: str | None) -> tuple[str, str] | None:
    if not stored or ":" not in stored:
        return None
    erp, _, crm = stored.partition(":")
    return erp, crm


def synced_hashes(mapping: Mapping, erp_fields: MappingABC[str, Any], crm_fields: MappingABC[str, Any],
                  keys: Iterable[str] | None = None, base: MappingABC[str, str] | None = None) -> dict[str, str]:
    """The stored hashes after a sync: `base` with the pairs in `keys` (default: every enabled pair) set
    to the values both sides now hold."""
    wanted = None if keys is None else set(keys)
    out = dict(base or {})
    for fm in mapping.field_mappings:
        if fm.enabled and (wanted is None or fm.key in wanted):
            out[fm.key] = encode_pair(_side_hash(fm, Side.ERP, erp_fields), _side_hash(fm, Side.CRM, crm_fields))
    return out


@dataclass(frozen=True, slots=True)
class FieldChange:
    """Which side changed one field pair since the last sync."""

    mapping: FieldMapping
    erp_changed: bool
    crm_changed: bool
    last_synced: str | None  # the stored "<erp>:<crm>" pair, for conflict rows (X13)

    def changed(self, side: Side) -> bool:
        return self.erp_changed if side is Side.ERP else self.crm_changed


def field_changes(mapping: Mapping, stored: MappingABC[str, str], erp_fields: MappingABC[str, Any],
                  crm_fields: MappingABC[str, Any]) -> dict[str, FieldChange]:
    """Per enabled field pair: did the ERP side, the CRM side, or both change it since the last sync."""
    out: dict[str, FieldChange] = {}
    for fm in mapping.field_mappings:
        if not fm.enabled:
            continue
        pair = decode_pair(stored.get(fm.key))
        erp_now, crm_now = _side_hash(fm, Side.ERP, erp_fields), _side_hash(fm, Side.CRM, crm_fields)
        erp_changed = fm.erp_field is not None and (pair is None or pair[0] != erp_now)
        crm_changed = fm.crm_field is not None and (pair is None or pair[1] != crm_now)
        out[fm.key] = FieldChange(fm, erp_changed, crm_changed, stored.get(fm.key))
    return out
