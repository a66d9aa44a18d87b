"""Change notification receivers (SPEC X2): `POST /webhooks/erp` (BC), `POST /webhooks/crm` (Dataverse),
and the timer that keeps the BC subscriptions alive. Both routes are anonymous: the senders cannot hold our
function key, so BC proves itself with `clientState` and Dataverse with the `x-koppel-secret` header.

Answers are chosen for BC's retry rule (api-facts §B.6): 202 once queued, 400 only for garbage, 401 for a
wrong secret (BC then drops the subscription), 5xx for trouble on our side so BC delivers again.
"""
from __future__ import annotations

import json
import logging

import azure.functions as func

from core.errors import ConfigError, KoppelError
from core.i18n import choose_language
from core.actions.notifications import accept_changes, parse_crm_context, parse_erp_notifications, secret_matches
from core.actions.subscriptions import ensure_subscriptions
from functions.deps import deps
from functions.http import guarded, json_response, read_json

__all__ = ["bp", "SECRET_HEADER", "renew_subscriptions"]

log = logging.getLogger("koppel.webhooks")

bp = func.Blueprint()

SECRET_HEADER = "x-koppel-secret"
_MAX_TOKEN = 1024
_TITLE = {"en": "The notification is not authenticated", "nl": "De melding is niet geverifieerd",
          "da": "Meddelelsen er ikke godkendt"}


def _unauthorized(req: func.HttpRequest, detail: str) -> func.HttpResponse:
    """401 problem; names what was wrong, never the value that was sent or expected."""
    lang = choose_language(req.headers.get("Accept-Language"))
    body = {"type": "https://koppel.dev/problems/unauthorized", "title": _TITLE.get(lang, _TITLE["en"]),
            "status": 401, "detail": detail}
    return func.HttpResponse(json.dumps(body), status_code=401, mimetype="application/problem+json",
                             charset="utf-8", headers={"Content-Language": lang})


@bp.route(route="webhooks/erp", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
def erp_webhook(req: func.HttpRequest) -> func.HttpResponse:
    token = req.params.get("validationToken")
    if token is not None and not req.get_body():
        # The subscription handshake (no body): echo the token, nothing else (api-facts §B.6).
        return func.HttpResponse(token[:_MAX_TOKEN], status_code=200, mimetype="text/plain", charset="utf-8")

    def run() -> func.HttpResponse:
        changes, states = parse_erp_notifications(read_json(req))
        d = deps()
        if not secret_matches(d, states):
            log.warning("BC notification refused: clientState does not match (%d items)", len(states))
            return _unauthorized(req, "clientState does not match the subscription Koppel made.")
        accepted = accept_changes(d, changes)
        return json_response(accepted.to_json(), 202)

    return guarded(req, run)


@bp.route(route="webhooks/crm", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
def crm_webhook(req: func.HttpRequest) -> func.HttpResponse:
    def run() -> func.HttpResponse:
        d = deps()
        # The secret is checked before the body is read: an unauthenticated caller learns nothing.
        if not secret_matches(d, [req.headers.get(SECRET_HEADER)]):
            log.warning("Dataverse notification refused: missing or wrong %s header", SECRET_HEADER)
            return _unauthorized(req, f"The {SECRET_HEADER} header is missing or wrong.")
        change = parse_crm_context(read_json(req))
        accepted = accept_changes(d, [change] if change is not None else [])
        if change is None:
            accepted.ignored = 1
        return json_response(accepted.to_json(), 202)

    return guarded(req, run)


def renew_subscriptions() -> int:
    """Create or renew the BC subscriptions; answers how many Koppel has. Unconfigured → 0, logged."""
    try:
        subs = ensure_subscriptions(deps())
    except ConfigError as err:
        log.info("BC webhook subscriptions skipped: %s", err.message)
        return 0
    except KoppelError as err:
        log.error("BC webhook subscriptions failed: %s", err.message)
        return 0
    log.info("BC webhook subscriptions: %s", ", ".join(f"{s.entity} {s.action}" for s in subs) or "none")
    return len(subs)


# Every six hours: a subscription expiring within a day is renewed at least three times before it lapses.
@bp.timer_trigger(schedule="0 7 */6 * * *", arg_name="timer", run_on_startup=False)
def subscriptions_timer(timer: func.TimerRequest) -> None:
    renew_subscriptions()
