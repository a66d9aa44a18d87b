"""A local stand-in for the Azure Functions host (Core Tools cannot be installed here), plus Azurite control."""
from __future__ import annotations

from devhost.host import LocalHost, serve

__all__ = ["LocalHost", "serve"]
