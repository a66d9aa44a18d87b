"""Adoption first (SPEC X3, invariants 1 and 2): before a page creates anything, it couples what earlier attempts
created and never coupled — a crash or a lost answer between the create and the coupling write.

Every create is claimed in the Intents table first (core.store.intents) with what it writes. A page with
uncoupled records reads the pending intents (one query, normally empty) and adopts:
- creates INTO Dataverse by their planned id, which the create used (exact);
- creates INTO Business Central, which picks its own ids, by the record's values: an uncoupled BC record changed
  since the claim that holds more than half of the values the create wrote, compared loosely (BC normalizes,
  `nl` becomes `NL`; a person may edit the leftover before the retry). A tie adopts nothing and is reported.

The remaining window (documented in SPEC X3's notes): an intent claimed less than IN_FLIGHT_S ago whose record is
not found may still be in flight, so its source is not created again until then (core.sync.engine defers it).
"""
from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping as MappingABC, Sequence
from dataclasses import dataclass

from core.deps import Deps
from core.rules.fields import loose_key
from core.model import Coupling, ErrorCategory, Mapping, Record, Side
from core.rules.plan import Action
from core.store.coupling_snapshot import CouplingSnapshot
from core.store.intents import Intent

__all__ = ["IN_FLIGHT_S", "CLOCK_SKEW_S", "PENDING", "Held", "adopt_earlier_creates", "claim_creates",
           "match_created", "is_in_flight"]

log = logging.getLogger("koppel.adoption")

# A create's request is answered or abandoned within this: the clients' read timeout (240 s) plus margin.
IN_FLIGHT_S = 300.0
CLOCK_SKEW_S = 60.0  # BC stamps lastModifiedDateTime with its own (NTP-synchronized) clock
PENDING = "pending:"  # a Business Central intent's planned id: BC picks the id, so it is not known before the answer


def is_in_flight(intent: Intent, now: dt.datetime) -> bool:
    """Whether the attempt that claimed `intent` may still be waiting for its create's answer."""
    if intent.settled or intent.claimed_on is None:
        return False
    return (now - intent.claimed_on).total_seconds() < IN_FLIGHT_S


@dataclass(frozen=True, slots=True)
class _Pair:
    erp_id: str
    crm_id: str
    intent: Intent


def match_created(intents: Sequence[Intent], candidates: Iterable[Record]) -> dict[str, Record]:
    """Source id → the candidate record each create most likely made: the one holding more than half of the
    intent's values (loosely compared), unique at the top score; each candidate is adopted at most once."""
    pool = list(candidates)
    index: dict[tuple[str, str], list[int]] = defaultdict(list)
    for n, r in enumerate(pool):
        for name, value in r.fields.items():
            index[(name, loose_key(value))].append(n)
    scored: list[tuple[int, str, int]] = []  # (score, source id, candidate)
    for intent in intents:
        wanted = {k: loose_key(v) for k, v in intent.values.items()}
        if not wanted:
            continue
        need = len(wanted) // 2 + 1
        # Pigeonhole: a candidate sharing `need` of the values appears in any len - need + 1 of their buckets.
        buckets = sorted((index.get((k, v), []) for k, v in wanted.items()), key=len)[:len(wanted) - need + 1]
        # What the create made was written after the claim: an older record is someone else's.
        since = intent.claimed_on - dt.timedelta(seconds=CLOCK_SKEW_S) if intent.claimed_on else None
        near = {n for bucket in buckets for n in bucket if since is None or pool[n].modified_on >= since}
        ranked = sorted(((sum(loose_key(pool[n].fields.get(k)) == v for k, v in wanted.items()), n) for n in near),
                        reverse=True)
        ranked = [(s, n) for s, n in ranked if s >= need]
        if not ranked:
            continue
        if len(ranked) > 1 and ranked[1][0] == ranked[0][0]:
            log.warning("create from %s: records %s match it equally; none is adopted", intent.source_id,
                        ", ".join(pool[n].id for _, n in ranked[:5]))
            continue
        scored.append((ranked[0][0], intent.source_id, ranked[0][1]))
    found: dict[str, Record] = {}
    taken: set[int] = set()
    for _, source_id, n in sorted(scored, reverse=True):
        if n not in taken and source_id not in found:
            found[source_id] = pool[n]
            taken.add(n)
    return found


def adopt_earlier_creates(deps: Deps, mapping: Mapping, src: Side, uncoupled: Sequence[Record],
                          snapshot: CouplingSnapshot | None = None) -> list[Coupling]:
    """Couple what earlier creates made that concerns this page's uncoupled `src` records — as sources of a create,
    or as the record a create from the other side made. Answers the couplings written (their intents cleared)."""
    store = deps.storage()
    pending = store.intents.pending(mapping.name)
    if not pending or not uncoupled:
        return []
    pending = _without_finished(deps, mapping, pending)
    ids = {r.id for r in uncoupled}
    into_crm = [i for i in pending if i.source_side is Side.ERP]
    into_erp = [i for i in pending if i.source_side is Side.CRM]
    pairs: list[_Pair] = []
    if src is Side.ERP:
        mine = [i for i in into_crm if i.source_id in ids]
        if mine:
            rows = deps.crm().read_by_ids(mapping.crm_entity, mapping.crm_id_field, [i.planned_id for i in mine],
                                          [mapping.crm_id_field])
            pairs += [_Pair(i.source_id, i.planned_id, i) for i in mine if i.planned_id.lower() in rows]
        # This page's BC records may be what a create from a CRM row made.
        found = match_created(into_erp, uncoupled) if into_erp else {}
        pairs += [_Pair(r.id, sid, next(i for i in into_erp if i.source_id == sid)) for sid, r in found.items()]
    else:
        pairs += [_Pair(i.source_id, i.planned_id, i) for i in into_crm if i.planned_id in ids]
        mine = [i for i in into_erp if i.source_id in ids]
        if mine:
            pairs += _find_in_erp(deps, mapping, mine)
    return _couple(deps, mapping, pairs, snapshot)


def _without_finished(deps: Deps, mapping: Mapping, pending: Sequence[Intent]) -> list[Intent]:
    """The intents whose source is not coupled yet. Those whose source is (the crash came after the coupling was
    written, or another attempt won) are forgotten: nothing could be adopted for them any more."""
    couplings = deps.storage().couplings
    coupled = {Side.ERP: couplings.find_by_erp(mapping.name, [i.source_id for i in pending if i.source_side is Side.ERP]),
               Side.CRM: couplings.find_by_crm(mapping.name, [i.source_id for i in pending if i.source_side is Side.CRM])}
    for side in Side:
        done = [i.source_id for i in pending if i.source_side is side and i.source_id in coupled[side]]
        if done:
            deps.storage().intents.clear_many(mapping.name, side, done)
    return [i for i in pending if i.source_id not in coupled[i.source_side]]


def _find_in_erp(deps: Deps, mapping: Mapping, intents: Sequence[Intent]) -> list[_Pair]:
    """Business Central records changed since the oldest claim, uncoupled, matched to the intents by value."""
    claimed = [i.claimed_on for i in intents if i.claimed_on is not None]
    if not claimed:
        return []
    since = min(claimed) - dt.timedelta(seconds=CLOCK_SKEW_S)
    fields = sorted({k for i in intents for k in i.values})
    candidates: list[Record] = []
    for page in deps.erp().read_changed_since(mapping.erp_entity, since, fields, None):
        coupled = deps.storage().couplings.find_by_erp(mapping.name, [r.id for r in page])
        candidates += [r for r in page if r.id not in coupled]
    by_source = {i.source_id: i for i in intents}
    return [_Pair(r.id, sid, by_source[sid]) for sid, r in match_created(intents, candidates).items()]


def _couple(deps: Deps, mapping: Mapping, pairs: Sequence[_Pair], snapshot: CouplingSnapshot | None) -> list[Coupling]:
    if not pairs:
        return []
    couplings = deps.storage().couplings
    erp_taken = couplings.find_by_erp(mapping.name, [p.erp_id for p in pairs])
    crm_taken = couplings.find_by_crm(mapping.name, [p.crm_id for p in pairs])
    now = deps.clock()
    free: list[_Pair] = []
    seen: set[str] = set()
    for p in pairs:
        if p.erp_id in erp_taken or p.crm_id in crm_taken or p.erp_id in seen or p.crm_id in seen:
            continue
        seen |= {p.erp_id, p.crm_id}
        free.append(p)
    # The baseline is what the create wrote: both sides count as changed since the claim, and the hashes tell a
    # person's edit of the leftover (or of the source) from the create's own values, so neither is lost.
    fresh = [Coupling(mapping.name, p.erp_id, p.crm_id, coupled_on=now, erp_modified_on=p.intent.claimed_on,
                      crm_modified_on=p.intent.claimed_on, field_hashes=dict(p.intent.hashes)) for p in free]
    done = [c for c in couplings.couple_many(fresh) if isinstance(c, Coupling)]
    adopted = {(c.erp_id, c.crm_id) for c in done}
    by_side: dict[Side, list[str]] = defaultdict(list)
    for p in free:
        if (p.erp_id, p.crm_id) in adopted:
            by_side[p.intent.source_side].append(p.intent.source_id)
    for side, source_ids in by_side.items():
        deps.storage().intents.clear_many(mapping.name, side, source_ids)
    if snapshot is not None:
        snapshot.remember(done)
    if done:
        log.info("mapping %s: adopted %d records created by an earlier attempt", mapping.name, len(done))
    return done


@dataclass(frozen=True, slots=True)
class Held:
    """A create not sent: why, and the error category its outcome gets."""

    message: str
    category: ErrorCategory


def claim_creates(deps: Deps, mapping: Mapping, src: Side, creates: MappingABC[str, Action],
                  couplings: MappingABC[str, Coupling]) -> tuple[dict[str, Intent], dict[str, Held]]:
    """Claim an intent per create (DESIGN decision 3) and decide which creates may go ahead.

    Answers the standing intents (a Dataverse create uses its planned id, so a repeat finds the row) and the
    creates held back: a source another attempt coupled meanwhile (its claim was cleared, so ours won — the check
    comes after the claim, closing the race), and, for Business Central, a source whose earlier claim may still
    be in flight (its record was not found by adoption; creating again could make a second one)."""
    dst = Side.CRM if src is Side.ERP else Side.ERP
    now = deps.clock()
    store = deps.storage()

    def planned() -> str:
        return f"{PENDING}{deps.new_id()}" if dst is Side.ERP else deps.new_id()

    ours = {sid: Intent(mapping.name, src, sid, planned(), values=dict(a.changes), hashes=dict(a.field_hashes),
                        claimed_on=now) for sid, a in creates.items()}
    standing = store.intents.claim_many(list(ours.values()))
    ids = list(creates)
    now_coupled = store.couplings.find_by_erp(mapping.name, ids) if src is Side.ERP \
        else store.couplings.find_by_crm(mapping.name, ids)
    held: dict[str, Held] = {}
    for sid in creates:
        current, before = now_coupled.get(sid), couplings.get(sid)
        moved = current is not None and (before is None or (current.erp_id, current.crm_id) != (before.erp_id,
                                                                                                   before.crm_id))
        if moved:
            assert current is not None
            other = current.crm_id if dst is Side.CRM else current.erp_id
            held[sid] = Held(f"Another attempt coupled this record to {other} meanwhile; nothing was created.",
                             ErrorCategory.CONFLICT)
        elif dst is Side.ERP and standing[sid].planned_id != ours[sid].planned_id and is_in_flight(standing[sid], now):
            held[sid] = Held("Another attempt is creating this record in Business Central right now; it is checked "
                             "again on the next run.", ErrorCategory.TRANSIENT)
    unused = [sid for sid, h in held.items()
              if h.category is ErrorCategory.CONFLICT and standing[sid].planned_id == ours[sid].planned_id]
    if unused:
        store.intents.clear_many(mapping.name, src, unused)
    return standing, held
