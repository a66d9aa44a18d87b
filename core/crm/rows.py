"""Dataverse rows as Koppel's records (the client's reads and the batch's answers both go through here)."""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from core.crm.lookups import MODIFIED_BY, MODIFIED_ON, read_fields
from core.model import Record
from core.odata import parse_datetime

__all__ = ["record_from_row"]

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def record_from_row(entity: str, id_field: str, row: Mapping[str, Any], fields: Sequence[str] | None,
                    record_id: str | None = None) -> Record:
    """A Record from a Dataverse row (lookups under their navigation names)."""
    values = read_fields(entity, row, fields)
    if fields is None:
        for system in (id_field, MODIFIED_ON, MODIFIED_BY):
            values.pop(system, None)
    modified = row.get(MODIFIED_ON)
    return Record(
        id=str(row.get(id_field) or record_id or "").lower(),
        modified_on=parse_datetime(modified) if modified else _EPOCH,
        fields=values,
        etag=row.get("@odata.etag"),
        modified_by=row.get(MODIFIED_BY),
    )
