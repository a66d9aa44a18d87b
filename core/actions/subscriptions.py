"""BC webhook subscriptions Koppel keeps alive (SPEC X2, api-facts §B.6): one per mapped ERP entity BC supports.

BC is the store: its subscriptions carry the notification URL and clientState, so Koppel finds its own by URL
and resource, renews those expiring within a day and re-creates any BC deleted (after a non-retryable answer).
"""
from __future__ import annotations

import datetime as dt
import hmac
import logging
from dataclasses import dataclass
from typing import Any

from core.deps import Deps
from core.errors import ConfigError
from core.odata import parse_datetime
from core.settings import WEBHOOK_SECRET

__all__ = ["Subscription", "SUPPORTED_ENTITIES", "RENEW_WITHIN", "WEBHOOK_PATH", "ensure_subscriptions",
           "notification_url"]

log = logging.getLogger("koppel.subscriptions")

# api-facts §B.6: customers, vendors and items (and currencies) can be subscribed to; contacts cannot.
SUPPORTED_ENTITIES = frozenset({"customers", "vendors", "items", "currencies"})
RENEW_WITHIN = dt.timedelta(days=1)  # subscriptions live 3 days; a daily check renews with a day to spare
WEBHOOK_PATH = "/api/webhooks/erp"


@dataclass(frozen=True, slots=True)
class Subscription:
    """One BC subscription of Koppel's, and what `ensure_subscriptions` did to it."""

    id: str
    entity: str
    expires_on: dt.datetime
    etag: str
    action: str  # created | renewed | kept

    @classmethod
    def from_bc(cls, row: dict[str, Any], entity: str, action: str) -> Subscription:
        return cls(str(row["subscriptionId"]), entity, parse_datetime(str(row["expirationDateTime"])),
                   str(row.get("@odata.etag") or ""), action)


def notification_url(deps: Deps) -> str:
    """KOPPEL_PUBLIC_URL + /api/webhooks/erp; raises ConfigError when the public URL is not set."""
    base = deps.settings.get("KOPPEL_PUBLIC_URL")
    if not base:
        raise ConfigError("KOPPEL_PUBLIC_URL")
    return base.rstrip("/") + WEBHOOK_PATH


def _entity_of(resource: str, company_id: str) -> str | None:
    prefix = f"api/v2.0/companies({company_id.lower()})/"
    text = resource.strip("/").lower()
    return text[len(prefix):] if text.startswith(prefix) else None


def ensure_subscriptions(deps: Deps) -> list[Subscription]:
    """Create, renew or keep one subscription per supported ERP entity of the mappings.

    Raises:
        ConfigError: KOPPEL_PUBLIC_URL or KOPPEL_WEBHOOK_SECRET is not set.
    """
    url = notification_url(deps)
    secret = deps.settings.get(WEBHOOK_SECRET)
    if not secret:
        raise ConfigError(WEBHOOK_SECRET)
    erp = deps.erp()
    company = erp.config.company_id
    wanted = sorted({m.erp_entity for m in deps.storage().mappings.list()} & SUPPORTED_ENTITIES)
    ours: dict[str, dict[str, Any]] = {}
    for listed in erp.list_subscriptions():
        entity = _entity_of(str(listed.get("resource", "")), company)
        if listed.get("notificationUrl") == url and entity in wanted:
            ours.setdefault(entity, listed)
    soon = deps.clock() + RENEW_WITHIN
    out: list[Subscription] = []
    for entity in wanted:
        row = ours.get(entity)
        if row is None:
            out.append(Subscription.from_bc(erp.create_subscription(entity, url, secret), entity, "created"))
            log.info("subscribed to BC %s", entity)
            continue
        # A rotated secret is written to the subscription on renewal; compare without leaking timing.
        stale_secret = not hmac.compare_digest(str(row.get("clientState", "")).encode(), secret.encode())
        if stale_secret or parse_datetime(str(row["expirationDateTime"])) <= soon:
            renewed = erp.renew_subscription(str(row["subscriptionId"]), str(row["@odata.etag"]), secret)
            out.append(Subscription.from_bc(renewed, entity, "renewed"))
            log.info("renewed the BC subscription to %s", entity)
        else:
            out.append(Subscription.from_bc(row, entity, "kept"))
    return out
