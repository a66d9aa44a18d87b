"""End-to-end fixtures: the real function_app served by devhost, on the emulators and Azurite."""
from __future__ import annotations

import dataclasses
import itertools
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from emulators.stack import Stack
from scripts.run_demo import settings_for


@dataclass(frozen=True)
class App:
    """The running app: base API URL and function key, plus helpers to read both systems."""

    api: str
    key: str
    stack: Stack

    def call(self, method: str, path: str, *, key: bool = True, **kw: Any) -> requests.Response:
        headers = dict(kw.pop("headers", {}))
        if key:
            headers["x-functions-key"] = self.key
        return requests.request(method, f"{self.api}{path}", headers=headers, timeout=60, **kw)

    def bc_records(self, entity: str) -> dict[str, dict[str, Any]]:
        rows = requests.get(f"{self.stack.info.bc_url}/_admin/records/{entity}", timeout=30).json()
        return {r["id"]: r for r in _rows(rows)}

    def crm_records(self, entity: str, id_field: str) -> dict[str, dict[str, Any]]:
        rows = requests.get(f"{self.stack.info.dataverse_url}/_admin/records/{entity}", timeout=30).json()
        return {r[id_field]: r for r in _rows(rows)}

    def seed(self, side: str, entity: str, count: int, seed: int | None = None) -> list[str]:
        """Seed records; each call gets its own seed, so ids never repeat within a session."""
        seed = next(_SEEDS) if seed is None else seed
        url = self.stack.info.bc_url if side == "erp" else self.stack.info.dataverse_url
        resp = requests.post(f"{url}/_admin/seed", json={"entity": entity, "count": count, "seed": seed}, timeout=60)
        resp.raise_for_status()
        ids: list[str] = resp.json()["ids"]
        return ids

    def edit(self, side: str, entity: str, record_id: str, fields: dict[str, Any], by: str = "Anna") -> None:
        url = self.stack.info.bc_url if side == "erp" else self.stack.info.dataverse_url
        resp = requests.post(f"{url}/_admin/edit", json={"entity": entity, "id": record_id, "fields": fields, "by": by},
                             timeout=30)
        resp.raise_for_status()

    def delete(self, side: str, entity: str, record_id: str) -> None:
        url = self.stack.info.bc_url if side == "erp" else self.stack.info.dataverse_url
        requests.delete(f"{url}/_admin/records/{entity}/{record_id}", timeout=30).raise_for_status()

    def request_counts(self, side: str) -> dict[str, Any]:
        url = self.stack.info.bc_url if side == "erp" else self.stack.info.dataverse_url
        counts: dict[str, Any] = requests.get(f"{url}/_admin/requests", timeout=30).json()
        return counts


_SEEDS = itertools.count(int(time.time()) % 100_000 * 1000)


def _rows(payload: Any) -> list[dict[str, Any]]:
    if isinstance(payload, dict):
        for key in ("value", "records"):
            if key in payload:
                return list(payload[key])
    return list(payload)


@pytest.fixture(name="app_host", scope="session")
def _app_host(stack: Stack, azurite: str) -> Iterator[tuple[str, str]]:
    """function_app.py served by devhost with settings pointing at the emulators and Azurite."""
    from devhost.host import serve

    os.environ.update(settings_for(stack.info.to_json(), azurite))
    import function_app

    host = serve(function_app.app, timers=False)
    yield f"{host.url}/api", host.function_key
    host.stop()


def _wipe_storage(connection: str) -> None:
    """Empty every Koppel table but the mappings: the emulators start afresh for each test, so couplings,
    watermarks, jobs and intents left by an earlier test would point at records that no longer exist."""
    from collections import defaultdict

    from azure.data.tables import TableServiceClient

    from core.store import TABLES

    service = TableServiceClient.from_connection_string(connection)
    for attr, name in TABLES.items():
        if attr == "mappings":
            continue
        table = service.get_table_client(name)
        by_partition: dict[str, list[str]] = defaultdict(list)
        try:
            for row in table.list_entities(select=["PartitionKey", "RowKey"]):
                by_partition[row["PartitionKey"]].append(row["RowKey"])
        except Exception:  # noqa: BLE001 - a table not created yet has nothing to wipe
            continue
        for pk, keys in by_partition.items():
            for start in range(0, len(keys), 100):
                table.submit_transaction([("delete", {"PartitionKey": pk, "RowKey": rk})
                                          for rk in keys[start:start + 100]])


@pytest.fixture(name="app")
def _app(app_host: tuple[str, str], fresh_stack: Stack, azurite: str) -> App:
    """The app, with both emulators reset and Koppel's storage emptied (mappings kept) before the test."""
    from core.queue import local_queue

    assert local_queue("koppel-jobs").drain(60)  # nothing from the last test may land in this one
    _wipe_storage(azurite)
    api, key = app_host
    return App(api, key, fresh_stack)


@pytest.fixture(name="customer_creates_from_crm")
def _customer_creates_from_crm(app: App) -> Iterator[None]:
    """CUSTOMER with syncOnlyCoupled off (the ribbon may create ERP records), restored afterwards."""
    from functions.deps import deps

    mappings = deps().storage().mappings
    original = mappings.get("CUSTOMER")
    changed = mappings.put(dataclasses.replace(original, sync_only_coupled=False), expected_etag=original.etag)
    yield
    mappings.put(dataclasses.replace(original, version=changed.version), expected_etag=mappings.get("CUSTOMER").etag)
