"""Emulated Entra ID: OpenID discovery and the v2.0 client-credentials token endpoint."""
from emulators.entra.app import EntraId

__all__ = ["EntraId"]
