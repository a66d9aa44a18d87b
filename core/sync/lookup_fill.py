"""Fill a page's lookup table in bulk (SPEC F14), coupling missing targets by match first (SPEC X14).

A lookup value is translated through the TARGET mapping's couplings: by record id, or (`LookupRef.erp_key`)
by a key field of the target's ERP records, e.g. CONTACT `companyNumber` → the CUSTOMER whose `number` it is.
Every step is one bulk request per side and target, never one per record.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from core.deps import Deps
from core.errors import NotFound
from core.rules.fields import BLANK_GUID, LookupTable, lookup_requests, normalize, parse_lookup, side_of
from core.model import Coupling, Direction, FieldMapping, Mapping, Record, Side
from core.odata import and_, or_same_field, quote

__all__ = ["CreateMissing", "MatchKey", "fill_lookups", "match_key", "couple_by_match"]

# Creates the `side` records `ids` of a target mapping on the other side; answers source id → new coupling.
CreateMissing = Callable[[Deps, Mapping, Side, Sequence[str]], dict[str, Coupling]]


@dataclass(frozen=True, slots=True)
class MatchKey:
    """The target mapping's first match field pair (lowest `match_priority`): how X14 finds a counterpart."""

    erp_field: str
    crm_field: str


def match_key(mapping: Mapping) -> MatchKey | None:
    pairs = [fm for fm in mapping.field_mappings
             if fm.enabled and fm.match_priority is not None and fm.erp_field and fm.crm_field
             and fm.lookup is None and fm.constant is None and fm.transform is None]
    if not pairs:
        return None
    best: FieldMapping = min(pairs, key=lambda fm: fm.match_priority or 0)
    assert best.erp_field is not None and best.crm_field is not None
    return MatchKey(best.erp_field, best.crm_field)


def _key(value: object) -> str | None:
    v = normalize(value)
    return None if v is None else str(v)


def _unique(records: Iterable[Record], field: str) -> dict[str, str]:
    """Normalized field value → record id, for values exactly one record holds."""
    seen: dict[str, list[str]] = {}
    for r in records:
        if (k := _key(r.fields.get(field))) is not None:
            seen.setdefault(k, []).append(r.id)
    return {k: ids[0] for k, ids in seen.items() if len(ids) == 1}


def couple_by_match(deps: Deps, target: Mapping, side: Side, ids: Sequence[str]) -> dict[str, Coupling]:
    """X14, depth 1: couple the uncoupled `side` records `ids` of `target` to their single exact match on the
    other side (its first match field), in one bulk read per side. Answers source id → the new coupling."""
    key = match_key(target)
    if key is None or not ids:
        return {}
    erp, crm = deps.erp(), deps.crm()
    if side is Side.ERP:
        mine = erp.read_by_ids(target.erp_entity, list(ids), [key.erp_field])
        own_field, other_field = key.erp_field, key.crm_field
    else:
        mine = crm.read_by_ids(target.crm_entity, target.crm_id_field, list(ids), [key.crm_field])
        own_field, other_field = key.crm_field, key.erp_field
    values = {k: r.id for r in mine.values() if (k := _key(r.fields.get(own_field))) is not None}
    if not values:
        return {}
    literals = [quote(v) for v in values]
    if side is Side.ERP:
        flt = and_(target.crm_filter, or_same_field(other_field, literals))
        found = [r for page in crm.read_changed_since(target.crm_entity, target.crm_id_field, None, [other_field],
                                                       extra_filter=flt) for r in page]
    else:
        found = erp.read_by_field(target.erp_entity, other_field, list(values), [other_field])
    matches = _unique(found, other_field)
    now = deps.clock()
    new = [Coupling(target.name, src, other, coupled_on=now) if side is Side.ERP
           else Coupling(target.name, other, src, coupled_on=now)
           for value, src in values.items() if (other := matches.get(value)) is not None]
    results = deps.storage().couplings.couple_many(new) if new else []
    coupled = [c for c, res in zip(new, results) if isinstance(res, Coupling)]
    return {(c.erp_id if side is Side.ERP else c.crm_id): c for c in coupled}


def _find(deps: Deps, target: Mapping, side: Side, ids: Sequence[str], match: bool,
          create: CreateMissing | None) -> dict[str, Coupling]:
    """Couplings of `target` for these `side` ids; with `match`, the uncoupled ones are coupled by match first,
    and those still uncoupled are created on the other side when the target mapping may create (X14)."""
    store = deps.storage().couplings
    ids = list(dict.fromkeys(ids))
    found = store.find_by_erp(target.name, ids) if side is Side.ERP else store.find_by_crm(target.name, ids)
    missing = [i for i in ids if i not in found]
    if missing and match:
        found.update(couple_by_match(deps, target, side, missing))
        missing = [i for i in missing if i not in found]
        if missing and create is not None:
            found.update(create(deps, target, side, missing))
    return found


def _by_id(deps: Deps, target: Mapping, side: Side, values: set[str], match: bool,
           create: CreateMissing | None) -> dict[str, str]:
    found = _find(deps, target, side, sorted(values), match, create)
    return {k: (c.crm_id if side is Side.ERP else c.erp_id) for k, c in found.items()}


def _by_erp_key(deps: Deps, target: Mapping, erp_key: str, side: Side, values: set[str],
                match: bool, create: CreateMissing | None) -> dict[str, str]:
    if side is Side.ERP:
        # toCrm: the key values (e.g. numbers) → the target's ERP records holding them → their couplings.
        records = deps.erp().read_by_field(target.erp_entity, erp_key, sorted(values), [erp_key])
        id_of = _unique(records, erp_key)
        couplings = _find(deps, target, Side.ERP, list(id_of.values()), match, create)
        return {k: couplings[i].crm_id for k, i in id_of.items() if i in couplings}
    # fromCrm: crm ids → couplings → the coupled ERP records' key field.
    couplings = _find(deps, target, Side.CRM, sorted(values), match, create)
    erp_ids = {c.erp_id: crm_id for crm_id, c in couplings.items()}
    coupled = deps.erp().read_by_ids(target.erp_entity, list(erp_ids), [erp_key])
    return {erp_ids[r.id]: r.fields[erp_key] for r in coupled.values()
            if r.id in erp_ids and _key(r.fields.get(erp_key)) is not None}


def fill_lookups(deps: Deps, mapping: Mapping, direction: Direction, sources: Sequence[Record], *,
                 create: CreateMissing | None = None) -> LookupTable:
    """Translate every lookup value of the page, one bulk step per target mapping and side; `create` makes the
    referenced records that have no counterpart (X14, the engine passes its own page run).

    A value that stays untranslated is absent from the table: `core.rules.fields.transfer` then fails the record
    as dependency, naming the value (or clears the field with clear-on-failure)."""
    wanted = lookup_requests(mapping, direction, sources)
    source, _ = side_of(direction)
    entries: dict[tuple[str, Side], dict[str, str]] = {}
    # X14 couples by match only for a lookup with ONE target: a CRM account may be a customer or a vendor,
    # and matching it against the wrong target would couple two unrelated records.
    refs = [parse_lookup(fm.lookup) for fm in mapping.field_mappings if fm.lookup]
    shared = {n for ref in refs if len(ref.mappings) > 1 for n in ref.mappings}
    targets: dict[str, Mapping | None] = {}
    for (table_key, side), values in wanted.items():
        name, _, erp_key = table_key.partition(":")
        if not values:
            continue
        if name not in targets:
            try:
                targets[name] = deps.storage().mappings.get(name)
            except NotFound:
                targets[name] = None  # a lookup naming a mapping that does not exist resolves nothing
        target = targets[name]
        if target is None:
            continue
        assert side is source
        match = name not in shared
        entries[(table_key, side)] = (_by_erp_key(deps, target, erp_key, side, values, match, create) if erp_key
                                      else _by_id(deps, target, side, values, match, create))
    _add_local_currency(deps, mapping, direction, entries)
    return LookupTable.of(entries)


def _add_local_currency(deps: Deps, mapping: Mapping, direction: Direction,
                        entries: dict[tuple[str, Side], dict[str, str]]) -> None:
    """BC's blank currency code is its local currency (LCY); Dataverse gives a row without a currency its
    organization's base currency. Unless a coupling says otherwise, the two stand for each other, so a
    customer in LCY is not a dependency failure and a round trip changes nothing."""
    source, _ = side_of(direction)
    for fm in mapping.fields_for(direction):
        if fm.lookup is None:
            continue
        ref = parse_lookup(fm.lookup)
        for name in ref.mappings:
            try:
                target = deps.storage().mappings.get(name)
            except NotFound:
                continue
            if target.crm_table != "transactioncurrency" or ref.erp_key:
                continue
            base = deps.crm().base_currency_id()
            if base is None:
                return
            table = entries.setdefault((ref.table_key(name), source), {})
            if source is Side.ERP:
                table.setdefault(BLANK_GUID, base)
            else:
                table.setdefault(base, BLANK_GUID)
