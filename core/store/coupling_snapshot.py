"""CouplingSnapshot: one mapping's couplings read once per pass and kept current with what the pass writes.

A pass over many records would otherwise scan the mapping's partition once per page (find_by_erp/find_by_crm
above SCAN_ABOVE ids); the snapshot makes that one scan per pass. Writes stay etag-conditional (api-facts §D),
so a coupling someone else changed meanwhile still surfaces as a StaleWrite, never as a lost update.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

from core.model import Coupling, Side

__all__ = ["CouplingSnapshot"]


class CouplingSnapshot:
    """The couplings of one mapping by ERP id and by CRM id, as last read or written by this pass."""

    def __init__(self, mapping: str, couplings: Iterable[Coupling]):
        self.mapping = mapping
        self._by_erp: dict[str, Coupling] = {}
        self._by_crm: dict[str, str] = {}
        self.remember(couplings)

    def __len__(self) -> int:
        return len(self._by_erp)

    def find(self, side: Side, ids: Sequence[str]) -> dict[str, Coupling]:
        """The couplings of these ids of `side`, keyed by those ids (like `find_by_erp`/`find_by_crm`)."""
        if side is Side.ERP:
            return {i: c for i in ids if (c := self._by_erp.get(i)) is not None}
        found = {}
        for i in ids:
            erp_id = self._by_crm.get(i)
            if erp_id is not None:
                found[i] = self._by_erp[erp_id]
        return found

    def remember(self, couplings: Iterable[Coupling]) -> None:
        """Record couplings as stored now (new ones, or updated ones with their new etag)."""
        for c in couplings:
            old = self._by_erp.get(c.erp_id)
            if old is not None and old.crm_id != c.crm_id:
                self._by_crm.pop(old.crm_id, None)  # a restored coupling points at a new CRM row
            self._by_erp[c.erp_id] = c
            self._by_crm[c.crm_id] = c.erp_id

    def forget(self, erp_ids: Iterable[str]) -> None:
        """Drop uncoupled couplings."""
        for erp_id in erp_ids:
            old = self._by_erp.pop(erp_id, None)
            if old is not None and self._by_crm.get(old.crm_id) == erp_id:
                del self._by_crm[old.crm_id]
