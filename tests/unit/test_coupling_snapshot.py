"""CouplingSnapshot: a pass's in-memory view of one mapping's couplings, kept current with the pass's writes."""
from __future__ import annotations

from core.model import Coupling, Side
from core.store.coupling_snapshot import CouplingSnapshot


def _c(erp: str, crm: str, etag: str = "e1") -> Coupling:
    return Coupling("CUSTOMER", erp, crm, etag=etag)


def test_finds_couplings_by_either_side_keyed_by_the_ids_asked_for() -> None:
    snap = CouplingSnapshot("CUSTOMER", [_c("E1", "C1"), _c("E2", "C2")])
    assert snap.find(Side.ERP, ["E1", "E9"]) == {"E1": _c("E1", "C1")}
    assert snap.find(Side.CRM, ["C2", "C9"]) == {"C2": _c("E2", "C2")}
    assert len(snap) == 2


def test_remembered_writes_replace_the_old_row_and_a_moved_crm_id_drops_the_old_pointer() -> None:
    snap = CouplingSnapshot("CUSTOMER", [_c("E1", "C1")])
    snap.remember([_c("E1", "C1", etag="e2")])
    assert snap.find(Side.ERP, ["E1"])["E1"].etag == "e2"
    snap.remember([_c("E1", "C7", etag="e3")])
    assert snap.find(Side.CRM, ["C1"]) == {}
    assert snap.find(Side.CRM, ["C7"])["C7"].etag == "e3"


def test_forgotten_couplings_are_gone_from_both_sides() -> None:
    snap = CouplingSnapshot("CUSTOMER", [_c("E1", "C1"), _c("E2", "C2")])
    snap.forget(["E1", "E5"])
    assert snap.find(Side.ERP, ["E1", "E2"]).keys() == {"E2"}
    assert snap.find(Side.CRM, ["C1", "C2"]).keys() == {"C2"}
