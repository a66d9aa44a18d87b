"""One multipart `$batch` request of Dataverse writes and the per-op outcomes (api-facts §A.5).

Each op is its own top-level part (no changeset) and the batch asks for `odata.continue-on-error`,
so one bad row never sinks the others and every part answers with its own status.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from core.crm.lookups import PRIMARY_IDS, write_values
from core.crm.rows import record_from_row
from core.errors import Rejected, Retriable
from core.odata import (
    DUPLICATE_DV, Part, PartResponse, WriteOp, WriteResult, build_multipart, error_for, parse_multipart,
)

from core.model import Record
from core.odata import ODataSession
from core.settings import CrmConfig


class CrmClient(Protocol):
    """What a batch needs of the client (core.crm.client.CrmClient), named here so the two never import each other."""

    session: ODataSession
    config: CrmConfig

    def url(self, entity: str, record_id: str | None = None) -> str: ...

    def read_by_ids(self, entity: str, id_field: str, ids: Sequence[str],
                    fields: Sequence[str]) -> Mapping[str, Record]: ...

__all__ = ["batch_part", "send_batch", "result_of"]


def batch_part(client: CrmClient, op: WriteOp) -> Part:
    """The request for one op: creates and updates ask for the row back, all carry a condition."""
    url = client.url(op.entity, op.id)
    if op.kind == "delete":
        return Part("DELETE", url, {"If-Match": str(op.etag)})
    condition = {"If-None-Match": "*"} if op.kind == "create" else {"If-Match": str(op.etag)}
    headers = {**condition, "Prefer": "return=representation"}
    return Part("PATCH", url, headers, write_values(op.entity, op.values))


def result_of(op: WriteOp, part: Part, answer: PartResponse | None) -> WriteResult:
    """The op's outcome from its part of the answer."""
    if answer is None:
        return WriteResult(op, error=Retriable(f"{part.method} {op.entity}: no answer in the batch",
                                               service="crm", method=part.method))
    body = answer.json()
    error = error_for(answer.status, answer.headers, body, service="crm", method=part.method, url=part.url)
    duplicate = op.kind == "create" and answer.status == 412 and getattr(error, "code", None) == DUPLICATE_DV
    if op.kind == "delete" and (error is None or answer.status == 404):
        return WriteResult(op)  # a row already gone: the delete's goal holds
    if duplicate:
        return WriteResult(op)  # an earlier attempt landed; send_batch reads the row
    if error is not None:
        return WriteResult(op, error=error)
    if not isinstance(body, dict):
        return WriteResult(op)
    return WriteResult(op, record=record_from_row(op.entity, PRIMARY_IDS[op.entity], body, None, op.id))


def send_batch(client: CrmClient, ops: Sequence[WriteOp]) -> list[WriteResult]:
    """POST one `$batch` of `ops` (≤ 1,000) and return one WriteResult per op, in order."""
    parts = [batch_part(client, op) for op in ops]
    content_type, body = build_multipart(parts)
    headers = {"Content-Type": content_type, "Prefer": "odata.continue-on-error"}
    # Every part is conditional (If-Match, or If-None-Match with our id): resending is safe.
    response = client.session.request("POST", f"{client.config.api_root}/$batch", data=body, headers=headers,
                                      idempotent=True)
    answers = parse_multipart(response.headers.get("Content-Type", ""), response.content)
    results = [result_of(op, part, answers[n] if n < len(answers) else None)
               for n, (op, part) in enumerate(zip(ops, parts))]
    return _read_duplicates(client, results)


def _read_duplicates(client: CrmClient, results: list[WriteResult]) -> list[WriteResult]:
    """Creates that found their row already there (a retried batch): read those rows, in bulk."""
    landed: dict[str, list[int]] = {}
    for n, result in enumerate(results):
        if result.op.kind == "create" and result.ok and result.record is None:
            landed.setdefault(result.op.entity, []).append(n)
    for entity, indexes in landed.items():
        ids = [str(results[n].op.id) for n in indexes]
        fields = list(dict.fromkeys(f for n in indexes for f in results[n].op.values))
        found = client.read_by_ids(entity, PRIMARY_IDS[entity], ids, fields)
        for n in indexes:
            record = found.get(str(results[n].op.id).lower())
            # 412 DuplicateRecord but no row with our id: another row holds the same alternate-key values
            # (accountnumber, isocurrencycode, productnumber …) — a data problem for a person, not a retry.
            results[n] = WriteResult(results[n].op, record=record, error=None if record else Rejected(
                f"Dataverse refused to create this {entity} row: a row with the same key values already exists "
                "(for example the same number or currency code). Couple the existing row instead.",
                service="crm", status=412, code="0x80040237", method="PATCH"))
    return results
