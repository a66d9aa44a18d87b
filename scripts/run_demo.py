"""The demo: Azurite, the emulators and the app on this machine, seeded, with curl lines to try.

Run through `scripts/demo`. Everything runs in this one process except Azurite (node); Ctrl-C
stops all of it. State (the local CA, Azurite's data) lives in `.state/demo/`.
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import threading
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent


def settings_for(info: dict[str, str], storage: str) -> dict[str, str]:
    """App settings that point Koppel at the local stack (same names as in Azure)."""
    return {
        "KOPPEL_STORAGE": storage,
        "ERP_BASE_URL": info["bcUrl"],
        "ERP_AUTHORITY_HOST": info["entraUrl"],
        "ERP_TENANT_ID": info["tenant"],
        "ERP_ENVIRONMENT": info["bcEnvironment"],
        "ERP_COMPANY_ID": info["bcCompanyId"],
        "ERP_CLIENT_ID": info["clientId"],
        "ERP_CLIENT_SECRET": info["clientSecret"],
        "CRM_URL": info["dataverseUrl"],
        "CRM_AUTHORITY_HOST": info["entraUrl"],
        "CRM_TENANT_ID": info["tenant"],
        "CRM_CLIENT_ID": info["clientId"],
        "CRM_CLIENT_SECRET": info["clientSecret"],
        "KOPPEL_QUEUE_NAME": "koppel-jobs",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/demo", description=__doc__)
    parser.add_argument("--port", type=int, default=7071, help="the app's port (7071 as func start)")
    parser.add_argument("--customers", type=int, default=20)
    args = parser.parse_args(argv)

    from devhost.azurite import start_azurite
    from emulators.stack import start_stack

    state = ROOT / ".state" / "demo"
    state.mkdir(parents=True, exist_ok=True)
    azurite = start_azurite()  # in memory: the emulators start empty too, so the two stay consistent
    stack = start_stack(state / "emulators", webhook_debounce_s=2.0)
    info = stack.info.to_json()
    os.environ["REQUESTS_CA_BUNDLE"] = info["caBundle"]
    os.environ.update(settings_for(info, azurite.connection_string))
    # Near-real-time (X2): BC notifies this app, Dataverse posts to it with the shared secret.
    os.environ.setdefault("KOPPEL_WEBHOOK_SECRET", secrets.token_urlsafe(24))
    os.environ["KOPPEL_PUBLIC_URL"] = f"http://127.0.0.1:{args.port}"

    bc_ids = requests.post(f"{info['bcUrl']}/_admin/seed", json={"entity": "customers", "count": args.customers,
                                                              "seed": 1}, timeout=30).json()["ids"]
    crm_ids = requests.post(f"{info['dataverseUrl']}/_admin/seed", json={"entity": "accounts", "count": args.customers,
                                                                     "seed": 1}, timeout=30).json()["ids"]

    from devhost.host import serve

    import function_app

    host = serve(function_app.app, port=args.port, function_key=os.environ.get("KOPPEL_FUNCTION_KEY"))
    key = host.function_key
    from core.actions.subscriptions import ensure_subscriptions
    from functions.deps import deps

    subscribed = [sub.entity for sub in ensure_subscriptions(deps())]
    requests.post(f"{info['dataverseUrl']}/_admin/webhooks", timeout=30, json={
        "url": f"{host.url}/api/webhooks/crm", "entities": ["account", "contact", "product"],
        "headers": {"x-koppel-secret": os.environ["KOPPEL_WEBHOOK_SECRET"]}}).raise_for_status()
    api = f"{host.url}/api"
    print(json.dumps({"url": host.url, "functionKey": key}), flush=True)
    print(f"""
Koppel is running.
  app             {api}   (function key: {key})
  Business Central emulator   {info['bcUrl']}
  Dataverse emulator          {info['dataverseUrl']}
  CA bundle for curl          {info['caBundle']}

Try it (ERP customer {bc_ids[0]}, CRM account {crm_ids[0]}):
  curl -s {api}/health
  curl -s -H "x-functions-key: {key}" {api}/connection
  curl -s -H "x-functions-key: {key}" -H "Content-Type: application/json" \\
       -d '{{"mapping":"CUSTOMER","erpId":"{bc_ids[0]}","crmId":"{crm_ids[0]}","sync":"toCrm"}}' {api}/couplings
  curl -s -H "x-functions-key: {key}" -H "Content-Type: application/json" \\
       -d '{{"mapping":"CUSTOMER","erpId":"{bc_ids[1]}","createNew":true}}' {api}/couplings
  curl -s -H "x-functions-key: {key}" "{api}/couplings/CUSTOMER?erpId={bc_ids[0]}"
  curl -s -H "x-functions-key: {key}" -H "Content-Type: application/json" \\
       -d '{{"mapping":"CUSTOMER","erpIds":["{bc_ids[0]}"],"direction":"auto"}}' {api}/sync
  curl -s -X DELETE -H "x-functions-key: {key}" {api}/couplings/CUSTOMER/{bc_ids[0]}
  open the admin page: {host.url}/api/console?code={key}
  # see both sides: {info['bcUrl']}/_admin/records/customers and {info['dataverseUrl']}/_admin/records/accounts

Near-real-time: Business Central notifies the app about {', '.join(subscribed) or 'nothing'} (2 s after a change
here, 30 s in BC online), Dataverse posts every account, contact and product change. Edit a coupled record as a
person would and watch the other side follow without a sync call:
  curl -s --cacert {info['caBundle']} -H "Content-Type: application/json" \\
       -d '{{"entity":"customers","id":"{bc_ids[0]}","fields":{{"city":"Gent"}},"by":"Anna"}}' {info['bcUrl']}/_admin/edit

Ctrl-C stops everything.""", flush=True)

    stopped = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopped.set())
    stopped.wait()
    host.stop()
    stack.stop()
    azurite.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
