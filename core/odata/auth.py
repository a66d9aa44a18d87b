"""MsalAuth: client-credentials tokens from Entra ID (or the local emulator) on every API request.

The msal app is made on first use (its constructor fetches the authority's discovery document),
caches the token, and is asked again once after a 401. Tokens and secrets never reach a message.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import urlsplit

import msal
import requests

from core.errors import AuthError, Retriable
from core.settings import Secret

__all__ = ["MsalAuth", "AuthConfig", "is_public_authority"]

_PUBLIC_HOSTS = frozenset({"login.microsoftonline.com"})
_RETRIED = "_koppel_auth_retried"


class AuthConfig(Protocol):
    """What both ErpConfig and CrmConfig offer."""

    @property
    def client_id(self) -> str: ...

    @property
    def client_secret(self) -> Secret: ...

    @property
    def authority(self) -> str: ...

    @property
    def scope(self) -> str: ...


def is_public_authority(authority: str) -> bool:
    """Whether the authority is Microsoft's own (validated) or a local one such as the emulator."""
    return (urlsplit(authority).hostname or "").lower() in _PUBLIC_HOSTS


class MsalAuth(requests.auth.AuthBase):
    """Adds `Authorization: Bearer …`; on a 401 drops the token once and resends with a fresh one.

    Args:
        config: an ErpConfig or CrmConfig (client id, secret, authority, scope).
        service: "erp" or "crm", carried on errors.
        app_factory: builds the msal app; tests may pass a fake. Defaults to
            `msal.ConfidentialClientApplication`.
    """

    def __init__(self, config: AuthConfig, *, service: str = "remote",
                 app_factory: Callable[..., Any] | None = None):
        self._config = config
        self._service = service
        self._factory = app_factory or msal.ConfidentialClientApplication
        self._app: Any = None
        self._lock = threading.Lock()
        self.token_requests = 0  # how often a token was asked of msal (cache hits included)

    def _application(self) -> Any:
        with self._lock:
            if self._app is None:
                authority = self._config.authority
                local = not is_public_authority(authority)
                kwargs: dict[str, Any] = {"client_credential": self._config.client_secret.reveal(),
                                          "authority": authority}
                if local:  # api-facts §C.3: a local authority is neither validated nor discovered
                    kwargs.update(validate_authority=False, instance_discovery=False)
                try:
                    self._app = self._factory(self._config.client_id, **kwargs)
                except requests.RequestException as err:
                    raise Retriable(f"The identity provider at {urlsplit(authority).netloc} is unreachable "
                                    f"({type(err).__name__}).", service=self._service, code="AuthorityUnreachable"
                                    ) from err
                except ValueError as err:
                    raise AuthError(f"The authority {urlsplit(authority).netloc} was refused by msal.",
                                    service=self._service, code="InvalidAuthority") from err
            return self._app

    def token(self) -> str:
        """A current access token (msal's cache first).

        Raises:
            AuthError: Entra ID refused (the message has its error code and description only).
            Retriable: the identity provider could not be reached.
        """
        app = self._application()
        self.token_requests += 1
        try:
            result = app.acquire_token_for_client(scopes=[self._config.scope])
        except requests.RequestException as err:
            raise Retriable(f"Token request failed ({type(err).__name__}).", service=self._service,
                            code="AuthorityUnreachable") from err
        if not isinstance(result, dict) or "access_token" not in result:
            error = result.get("error", "unknown_error") if isinstance(result, dict) else "unknown_error"
            description = result.get("error_description", "") if isinstance(result, dict) else ""
            first_line = str(description).splitlines()[0] if description else "no description"
            raise AuthError(f"Entra ID refused the client credentials: {error}: {first_line}",
                            service=self._service, code=str(error))
        return str(result["access_token"])

    def invalidate(self) -> None:
        """Forget the cached token so the next request fetches a new one."""
        with self._lock:
            app = self._app
        if app is not None:
            app.remove_tokens_for_client()

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.token()}"
        request.register_hook("response", self._retry_on_401)
        return request

    def _retry_on_401(self, response: requests.Response, **kwargs: Any) -> requests.Response:
        """Once per request: a 401 may mean the token was revoked or rotated; try a fresh one."""
        if response.status_code != 401 or getattr(response.request, _RETRIED, False):
            return response
        self.invalidate()
        response.content  # noqa: B018  # drain, so the connection goes back to the pool
        response.close()
        retry = response.request.copy()
        setattr(retry, _RETRIED, True)
        retry.headers["Authorization"] = f"Bearer {self.token()}"
        connection = response.connection  # the adapter that sent it (requests sets this)
        fresh: requests.Response = connection.send(retry, **kwargs)
        fresh.history.append(response)
        fresh.request = retry
        return fresh
