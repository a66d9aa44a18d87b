"""The admin page (X6, X7): one HTML page in the caller's language, plus its own script and stylesheet.

The page holds no data: its script reads everything through the existing JSON routes, sending the function
key the page was opened with (`?code=`) as `x-functions-key` and nowhere else. The route is `console`, not
`admin`: the Functions host refuses any route or function name starting with "admin", even under the `/api`
prefix ("The specified route conflicts with one or more built in routes", azure-functions-host#1781, #7634).
"""
from __future__ import annotations

import html
import json
from pathlib import Path
from string import Template

import azure.functions as func

from core.errors import NotFound
from core.i18n import choose_language, text
from functions.http import guarded

__all__ = ["bp", "render_page", "ASSETS", "SECURITY_HEADERS", "TEXT_KEYS"]

bp = func.Blueprint()

_DIR = Path(__file__).parent / "admin"

# Served as they are; a fixed list, so no request can name any other file.
ASSETS: dict[str, str] = {"console.js": "text/javascript", "console.css": "text/css"}

# default-src 'self' forbids inline script, inline style and every other origin (no CDN, no injected
# <script>); no-referrer keeps the ?code= in the page's address out of the asset requests' Referer.
SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": "default-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

# The texts the script needs, as `console.<key>` in core.i18n.
TEXT_KEYS = (
    "mappings", "jobs", "errors", "name", "direction", "paused", "schedule", "last-run", "mapping", "type", "status",
    "started", "counters", "progress", "message", "erp-id", "crm-id", "category", "suggested-action", "erp-exists",
    "crm-exists", "actions", "sync-now", "retry", "sync-to-crm", "sync-from-crm", "restore", "delete-coupling",
    "yes", "no", "unknown", "never", "every-min", "none", "loading", "no-key", "failed", "done", "queued",
)


def render_page(lang: str) -> str:
    """The page in `lang`; every text is escaped, and the script's texts travel as inert JSON."""
    texts = {k: text(f"console.{k}", lang) for k in TEXT_KEYS}
    # A JSON data block is never executed; escaping "<" keeps "</script>" in a text from closing it.
    data = json.dumps(texts, ensure_ascii=False).replace("<", "\\u003c")
    page = Template((_DIR / "console.html").read_text(encoding="utf-8"))
    words = {k.replace("-", "_"): html.escape(text(f"console.{k}", lang))
             for k in ("title", "mappings", "jobs", "errors", "refresh", "loading")}
    return page.substitute(lang=html.escape(lang), texts=data, **words)


@bp.route(route="console", methods=["GET"])
def serve_console_page(req: func.HttpRequest) -> func.HttpResponse:
    lang = choose_language(req.headers.get("Accept-Language"))
    return guarded(req, lambda: func.HttpResponse(
        render_page(lang), status_code=200, mimetype="text/html", charset="utf-8",
        headers={**SECURITY_HEADERS, "Content-Language": lang, "Vary": "Accept-Language"}))


# Anonymous: the browser loads these with <script src>/<link href>, which cannot carry the key header, and
# the key must not go into their URLs. They are the same static code for everyone and hold no data.
@bp.route(route="console/assets/{file}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def serve_console_asset(req: func.HttpRequest) -> func.HttpResponse:
    def run() -> func.HttpResponse:
        name = req.route_params.get("file") or ""
        if name not in ASSETS:
            raise NotFound(f"There is no console asset {name!r}.", field="file")
        return func.HttpResponse((_DIR / name).read_bytes(), status_code=200, mimetype=ASSETS[name], charset="utf-8",
                                 headers=SECURITY_HEADERS)

    return guarded(req, run)
