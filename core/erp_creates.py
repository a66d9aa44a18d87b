"""Recoverable Business Central creates (DESIGN decision 3, SPEC X3): intent first, search before creating again.

BC chooses its own ids and numbers, so the intent row cannot hold the id before the POST. Each attempt claims the
intent with a fresh token; a claim that returns an EARLIER token means an earlier attempt may have created the
record and lost the answer (crash, or a read timeout: core.odata READ_FAILED). Then the record is searched for by
the values the create writes (what the CRM row gave it): one bulk read, and a single uncoupled record holding
every one of those values is adopted instead of creating a second.
"""
from __future__ import annotations

from collections.abc import Mapping as MappingABC
from typing import Any

from core.deps import Deps
from core.fields import same_value
from core.model import Mapping, Record, Side

__all__ = ["PENDING", "claim_erp_creates", "find_earlier_creates"]

PENDING = "pending:"  # an intent's planned id before BC answered: the id is not known yet


def claim_erp_creates(deps: Deps, mapping: Mapping, creates: MappingABC[str, MappingABC[str, Any]]) -> set[str]:
    """Record the intent to create an ERP record from each CRM source id; answers the sources an earlier
    attempt already claimed (their create may have happened)."""
    if not creates:
        return set()
    proposals = {sid: f"{PENDING}{deps.new_id()}" for sid in creates}
    standing = deps.storage().intents.claim_many(mapping.name, Side.CRM, proposals)
    return {sid for sid, planned in standing.items() if planned != proposals[sid]}


def _search_field(values: MappingABC[str, Any]) -> str | None:
    """The create's most selective text value to search by (BC allows `or` on one field only, api-facts §B.4)."""
    texts = [(k, v) for k, v in values.items() if isinstance(v, str) and v.strip()]
    if not texts:
        return None
    return max(texts, key=lambda kv: len(str(kv[1])))[0]


def find_earlier_creates(deps: Deps, mapping: Mapping,
                         creates: MappingABC[str, MappingABC[str, Any]]) -> dict[str, Record]:
    """For sources whose earlier create may have happened: CRM source id → the ERP record it created.

    A candidate must hold every value the create writes and be coupled to nothing; an ambiguous search
    (two candidates) adopts nothing, and the create goes ahead."""
    by_field: dict[str, dict[str, str]] = {}
    for sid, values in creates.items():
        if (name := _search_field(values)) is not None:
            by_field.setdefault(name, {})[sid] = str(values[name])
    if not by_field:
        return {}
    fields = sorted({k for v in creates.values() for k in v})
    candidates: list[Record] = []
    for name, wanted in by_field.items():
        candidates += deps.erp().read_by_field(mapping.erp_entity, name, sorted(set(wanted.values())), fields)
    coupled = deps.storage().couplings.find_by_erp(mapping.name, [r.id for r in candidates])
    free = [r for r in candidates if r.id not in coupled]
    found: dict[str, Record] = {}
    taken: set[str] = set()
    for sid, values in creates.items():
        hits = [r for r in free if r.id not in taken and all(same_value(r.fields.get(k), v) for k, v in values.items())]
        if len(hits) == 1:
            found[sid] = hits[0]
            taken.add(hits[0].id)
    return found
