"""The Dataverse side: `CrmClient` (Web API v9.2, requests + msal) and its lookup table."""
from __future__ import annotations

from core.crm.client import BATCH_SIZE, BULK_SIZE, DV_CONCURRENCY, PAGE_SIZE, TABLES, ChangeSet, CrmClient
from core.crm.lookups import LOOKUPS, Lookup

__all__ = ["CrmClient", "ChangeSet", "Lookup", "LOOKUPS", "TABLES", "PAGE_SIZE", "BATCH_SIZE", "BULK_SIZE",
           "DV_CONCURRENCY"]
