"""The Business Central side: `ErpClient` (API v2.0, requests + msal)."""
from __future__ import annotations

from core.erp.client import BATCH_SIZE, BC_CONCURRENCY, ENTITIES, PAGE_SIZE, ErpClient

__all__ = ["ErpClient", "ENTITIES", "PAGE_SIZE", "BATCH_SIZE", "BC_CONCURRENCY"]
