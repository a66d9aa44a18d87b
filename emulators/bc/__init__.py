"""The Business Central API v2.0 emulator (api-facts §B, §E.2); `BusinessCentral` is the service."""
from __future__ import annotations

from emulators.bc.app import BusinessCentral

__all__ = ["BusinessCentral"]
