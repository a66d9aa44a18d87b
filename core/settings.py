"""Configuration from app settings (environment variables), read once and validated.

Every name read here is set in `infra/main.bicep` and documented in the README (a test checks
both). Secrets are held as `Secret` so they never print: `repr` and `str` show `***`.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from core.errors import ConfigError

__all__ = ["Secret", "ErpConfig", "CrmConfig", "ServiceBusConfig", "Settings", "SETTING_NAMES",
           "SERVICE_BUS_NAMESPACE", "WEBHOOK_SECRET"]

DEFAULT_AUTHORITY = "https://login.microsoftonline.com"
BC_API = "https://api.businesscentral.dynamics.com"
# The shared secret of both webhooks: BC's clientState and the CRM plugin's header (notifications, subscriptions).
WEBHOOK_SECRET = "KOPPEL_WEBHOOK_SECRET"

# name → required? The single list of settings; tests compare it with main.bicep and the README.
SETTING_NAMES: dict[str, bool] = {
    "KOPPEL_STORAGE": True,
    "KOPPEL_SERVICEBUS": False,
    "KOPPEL_QUEUE_NAME": False,
    "KOPPEL_PUBLIC_URL": False,
    "KOPPEL_WEBHOOK_SECRET": False,
    "KOPPEL_NOTIFY_URL": False,
    "ERP_TENANT_ID": True,
    "ERP_ENVIRONMENT": True,
    "ERP_COMPANY_ID": True,
    "ERP_CLIENT_ID": True,
    "ERP_CLIENT_SECRET": True,
    "ERP_BASE_URL": False,
    "ERP_WEB_CLIENT_URL": False,
    "ERP_AUTHORITY_HOST": False,
    "CRM_URL": True,
    "CRM_TENANT_ID": True,
    "CRM_CLIENT_ID": True,
    "CRM_CLIENT_SECRET": True,
    "CRM_AUTHORITY_HOST": False,
}

# The identity form of KOPPEL_SERVICEBUS, as the Functions host reads it for the trigger (main.bicep sets it).
SERVICE_BUS_NAMESPACE = "KOPPEL_SERVICEBUS__fullyQualifiedNamespace"
SERVICE_BUS_CLIENT_ID = "KOPPEL_SERVICEBUS__clientId"  # the user-assigned identity; absent: system-assigned
# Set by the platform on every Azure Functions / App Service instance, never locally.
AZURE_MARKER = "WEBSITE_INSTANCE_ID"
_ALSO_READ = (SERVICE_BUS_NAMESPACE, SERVICE_BUS_CLIENT_ID, AZURE_MARKER)


class Secret:
    """A string that refuses to be printed."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True, slots=True)
class ErpConfig:
    """Business Central: `{base_url}/v2.0/{tenant}/{environment}/api/v2.0/companies({company_id})`."""

    tenant_id: str
    environment: str
    company_id: str
    client_id: str
    client_secret: Secret
    base_url: str = BC_API
    authority_host: str = DEFAULT_AUTHORITY
    web_client_url: str = "https://businesscentral.dynamics.com"

    @property
    def api_root(self) -> str:
        return f"{self.base_url.rstrip('/')}/v2.0/{self.tenant_id}/{self.environment}/api/v2.0"

    @property
    def company_root(self) -> str:
        return f"{self.api_root}/companies({self.company_id})"

    @property
    def scope(self) -> str:
        return f"{BC_API}/.default"

    @property
    def authority(self) -> str:
        return f"{self.authority_host.rstrip('/')}/{self.tenant_id}"


@dataclass(frozen=True, slots=True)
class CrmConfig:
    """Dataverse: `{url}/api/data/v9.2/`, token scope `{url}/.default`."""

    url: str
    tenant_id: str
    client_id: str
    client_secret: Secret
    authority_host: str = DEFAULT_AUTHORITY

    @property
    def api_root(self) -> str:
        return f"{self.url.rstrip('/')}/api/data/v9.2"

    @property
    def scope(self) -> str:
        return f"{self.url.rstrip('/')}/.default"

    @property
    def authority(self) -> str:
        return f"{self.authority_host.rstrip('/')}/{self.tenant_id}"


@dataclass(frozen=True, slots=True)
class ServiceBusConfig:
    """Service Bus by managed identity (`namespace`, as in Azure) or by a connection string (local use)."""

    namespace: str | None = None
    client_id: str | None = None
    connection_string: Secret | None = None


@dataclass(frozen=True, slots=True)
class Settings:
    """All settings; `erp()`/`crm()`/`storage()` raise `ConfigError` naming the first missing one."""

    values: Mapping[str, str]

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        source = os.environ if env is None else env
        wanted = SETTING_NAMES.keys() | set(_ALSO_READ)
        return cls({k: v for k, v in source.items() if k in wanted and v.strip()})

    def _need(self, name: str) -> str:
        value = self.values.get(name)
        if not value:
            raise ConfigError(name)
        return value

    def get(self, name: str, default: str | None = None) -> str | None:
        return self.values.get(name, default)

    @property
    def in_azure(self) -> bool:
        return bool(self.values.get(AZURE_MARKER))

    def service_bus(self) -> ServiceBusConfig | None:
        """Where jobs go: the identity form first (what main.bicep sets), else a connection string, else None
        (the local queue). In Azure there is no local queue worth the name: it dies with the instance, and
        no worker of another instance reads it, so a missing Service Bus is a ConfigError naming the setting."""
        namespace = self.values.get(SERVICE_BUS_NAMESPACE)
        if namespace:
            return ServiceBusConfig(namespace=namespace, client_id=self.values.get(SERVICE_BUS_CLIENT_ID))
        connection_string = self.values.get("KOPPEL_SERVICEBUS")
        if connection_string:
            return ServiceBusConfig(connection_string=Secret(connection_string))
        if self.in_azure:
            raise ConfigError(SERVICE_BUS_NAMESPACE, f"In Azure, jobs need Service Bus: the setting "
                              f"{SERVICE_BUS_NAMESPACE} (or KOPPEL_SERVICEBUS) is not configured.")
        return None

    def storage(self) -> Secret:
        return Secret(self._need("KOPPEL_STORAGE"))

    def erp(self) -> ErpConfig:
        return ErpConfig(
            tenant_id=self._need("ERP_TENANT_ID"),
            environment=self._need("ERP_ENVIRONMENT"),
            company_id=self._need("ERP_COMPANY_ID"),
            client_id=self._need("ERP_CLIENT_ID"),
            client_secret=Secret(self._need("ERP_CLIENT_SECRET")),
            base_url=self.values.get("ERP_BASE_URL", BC_API),
            authority_host=self.values.get("ERP_AUTHORITY_HOST", DEFAULT_AUTHORITY),
            web_client_url=self.values.get("ERP_WEB_CLIENT_URL", "https://businesscentral.dynamics.com"),
        )

    def crm(self) -> CrmConfig:
        return CrmConfig(
            url=self._need("CRM_URL"),
            tenant_id=self._need("CRM_TENANT_ID"),
            client_id=self._need("CRM_CLIENT_ID"),
            client_secret=Secret(self._need("CRM_CLIENT_SECRET")),
            authority_host=self.values.get("CRM_AUTHORITY_HOST", DEFAULT_AUTHORITY),
        )

    def secrets(self) -> list[str]:
        """Every secret value configured, for log scrubbing and the no-secret tests."""
        names = ("ERP_CLIENT_SECRET", "CRM_CLIENT_SECRET", "KOPPEL_WEBHOOK_SECRET")
        found = [self.values[n] for n in names if self.values.get(n)]
        storage = self.values.get("KOPPEL_STORAGE", "")
        found += [p.split("=", 1)[1] for p in storage.split(";") if p.startswith("AccountKey=")]
        service_bus = self.values.get("KOPPEL_SERVICEBUS", "")
        found += [p.split("=", 1)[1] for p in service_bus.split(";") if p.startswith("SharedAccessKey=")]
        return found
