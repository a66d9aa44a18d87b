"""Emulated Dataverse Web API v9.2 (api-facts §A): tables, ETags, paging, change tracking, $batch, bulk actions."""
from emulators.dataverse.app import Dataverse

__all__ = ["Dataverse"]
