"""Entity-group transactions over many units that drop only the failing unit and resubmit the rest.

A transaction is all-or-nothing and names the index of the op that failed (api-facts §D, STYLE §10), so a batch
of 50 couplings where one clashes is retried without that one instead of failing all 50.
"""
from __future__ import annotations

from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Any, TypeVar

from core.errors import KoppelError
from core.store._tables import MAX_BATCH, STORAGE_ERRORS, TableClient, TableTransactionError, failed_op, translate

__all__ = ["Op", "Replies", "submit_grouped"]

PARALLEL_TRANSACTIONS = 4

U = TypeVar("U")
E = TypeVar("E", bound=KoppelError)
Replies = list[Any]
Op = tuple[Any, ...]


def _submit_units(table: TableClient, what: str, units: Sequence[U], ops_per_unit: int,
                  to_ops: Callable[[U], list[Op]], on_fail: Callable[[U, int, str], E | None]) -> list[Replies | E]:
    """Transactions of ≤ 100 ops over units of one partition; a unit whose op fails is dropped, the rest resubmitted.

    `on_fail(unit, op_index_in_unit, error_code)` answers the error to record for that unit, or None to raise.
    """
    results: list[Replies | E | None] = [None] * len(units)
    per_tx = MAX_BATCH // ops_per_unit

    def run_chunk(start: int) -> None:
        remaining = list(range(start, min(start + per_tx, len(units))))
        while remaining:
            ops = [op for i in remaining for op in to_ops(units[i])]
            try:
                replies = table.submit_transaction(ops)
            except TableTransactionError as err:
                index, code = failed_op(err)
                error = on_fail(units[remaining[index // ops_per_unit]], index % ops_per_unit, code) \
                    if 0 <= index < len(ops) else None
                if error is None:
                    raise translate(what, err) from err
                results[remaining.pop(index // ops_per_unit)] = error
                continue
            except STORAGE_ERRORS as err:
                raise translate(what, err) from err
            for n, i in enumerate(remaining):
                results[i] = list(replies[n * ops_per_unit:(n + 1) * ops_per_unit])
            remaining = []

    starts = range(0, len(units), per_tx)
    if len(starts) <= 1:
        for start in starts:
            run_chunk(start)
    else:
        # Chunks touch disjoint rows, so they may commit in any order: a few at once hide the round trips.
        with ThreadPoolExecutor(max_workers=PARALLEL_TRANSACTIONS) as pool:
            for future in [pool.submit(run_chunk, start) for start in starts]:
                future.result()
    return [r for r in results if r is not None]


def submit_grouped(table: TableClient, what: str, units: Sequence[U], partition_of: Callable[[U], str],
                   keys_of: Callable[[U], Iterable[Hashable]], ops_per_unit: int, to_ops: Callable[[U], list[Op]],
                   on_fail: Callable[[U, int, str], E | None]) -> list[Replies | E]:
    """Like `_submit_units` for units of any partitions, in input order.

    A batch may touch a row only once (and cross-partition batches raise ValueError in the SDK), so units are
    grouped by partition, and a unit whose row keys repeat an earlier unit's waits for a later round: it then
    meets the earlier unit's committed row, exactly as a concurrent caller would.
    """
    results: list[Replies | E | None] = [None] * len(units)
    pending = list(range(len(units)))
    while pending:
        this_round: dict[str, list[int]] = defaultdict(list)
        later: list[int] = []
        seen: set[Hashable] = set()
        for i in pending:
            keys = {(partition_of(units[i]), k) for k in keys_of(units[i])}
            if keys & seen:
                later.append(i)
                continue
            seen |= keys
            this_round[partition_of(units[i])].append(i)
        for idxs in this_round.values():
            for i, result in zip(idxs, _submit_units(table, what, [units[i] for i in idxs], ops_per_unit,
                                                     to_ops, on_fail)):
                results[i] = result
        pending = later
    return [r for r in results if r is not None]
