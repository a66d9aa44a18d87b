"""Azure Table Storage repositories: `Storage` opens the tables and holds one repository per table.

Only this package imports azure.data.tables / azure.core (STYLE §1); every object it hands out is a core
dataclass, and every storage failure leaves it as a Koppel error (STYLE §11).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from azure.data.tables import TableServiceClient

from core.errors import ConfigError
from core.store._tables import translated
from core.store.couplings import FAILURE, CouplingStore
from core.store.error_rows import ErrorStore
from core.store.intents import Intent, IntentStore
from core.store.jobs import JobStore
from core.store.mappings import MappingStore
from core.store.state import MappingState, StateStore

__all__ = [
    "Storage", "CouplingStore", "MappingStore", "StateStore", "MappingState", "JobStore", "ErrorStore",
    "IntentStore", "Intent", "FAILURE", "TABLES",
]

# Attribute → table name (prefixed per Storage, so tests and environments can share one account).
TABLES = {"couplings": "Couplings", "mappings": "Mappings", "state": "MappingState", "jobs": "Jobs",
          "errors": "Errors", "intents": "Intents"}
# Table names: alphanumeric, start with a letter, 3–63 characters.
_PREFIX = re.compile(r"^(?:[A-Za-z][A-Za-z0-9]{0,49})?$")


def _service(conn: str, retry_total: int) -> TableServiceClient:
    """A table service client from a connection string, or from an endpoint URL with the app's identity."""
    if conn.startswith("https://"):
        # In Azure (infra/main.bicep): no account key; AZURE_CLIENT_ID picks the user-assigned identity.
        from azure.identity import DefaultAzureCredential

        return TableServiceClient(endpoint=conn, credential=DefaultAzureCredential(), retry_total=retry_total)
    return TableServiceClient.from_connection_string(conn, retry_total=retry_total)


@dataclass(frozen=True, slots=True)
class Storage:
    """The six repositories over one storage account."""

    couplings: CouplingStore
    mappings: MappingStore
    state: StateStore
    jobs: JobStore
    errors: ErrorStore
    intents: IntentStore
    _service: Any

    @classmethod
    def from_connection_string(cls, conn: str, *, prefix: str = "", retry_total: int = 3) -> Storage:
        """Connect and create the tables that are missing.

        Args:
            conn: a storage connection string (Azurite's or an account's), or the account's table endpoint
                (`https://<account>.table.core.windows.net/`) to sign in with the app's managed identity.
            prefix: prepended to every table name, so tests can isolate (letters and digits, starts with a letter).
            retry_total: the SDK's own retries of failed requests (its default of 10 makes an outage slow to see).

        Raises:
            ConfigError: the connection string or the prefix is unusable.
            RemoteError: the storage is unreachable or refused us.
        """
        if not _PREFIX.match(prefix):
            raise ConfigError("prefix", "The table prefix must be letters and digits, starting with a letter.")
        try:
            service = _service(conn, retry_total)
        except ValueError as err:
            raise ConfigError("KOPPEL_STORAGE", "The storage connection string is not usable.") from err
        clients = {}
        with translated("create tables"):
            for attr, name in TABLES.items():
                clients[attr] = service.create_table_if_not_exists(prefix + name)
        return cls(
            couplings=CouplingStore(clients["couplings"]), mappings=MappingStore(clients["mappings"]),
            state=StateStore(clients["state"]), jobs=JobStore(clients["jobs"]), errors=ErrorStore(clients["errors"]),
            intents=IntentStore(clients["intents"]), _service=service,
        )

    def ping(self) -> None:
        """One cheap request to prove the storage answers.

        Raises:
            Retriable: unreachable, timed out, or busy.
            AuthError: the account key or token is refused.
        """
        with translated("ping storage"):
            pages = self._service.list_tables(results_per_page=1).by_page()
            list(next(pages, []))
