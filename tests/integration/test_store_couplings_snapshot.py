"""CouplingStore.snapshot on Azurite: one scan of a mapping's state rows, answering what find_by_* answers."""
from __future__ import annotations

import uuid

import pytest

from core.model import Coupling, Side
from core.store import Storage


@pytest.fixture(name="storage")
def _storage(azurite: str) -> Storage:
    return Storage.from_connection_string(azurite, prefix="t" + uuid.uuid4().hex[:12])


def test_a_snapshot_holds_every_coupling_of_its_mapping_with_etags_and_nothing_else(storage: Storage) -> None:
    stored = storage.couplings.couple_many([Coupling("CUSTOMER", f"E{i}", f"C{i}") for i in range(30)])
    storage.couplings.couple_many([Coupling("VENDOR", "E1", "V1")])

    snap = storage.couplings.snapshot("CUSTOMER")

    assert len(snap) == 30  # pointer rows and other mappings are not couplings of it
    assert snap.find(Side.ERP, ["E3", "E99"]) == storage.couplings.find_by_erp("CUSTOMER", ["E3", "E99"])
    assert snap.find(Side.CRM, ["C4"])["C4"].etag == next(c for c in stored if isinstance(c, Coupling)
                                                          and c.erp_id == "E4").etag
