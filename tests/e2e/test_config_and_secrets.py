"""A side not configured answers 503 naming the setting; secrets never reach responses or logs.

The app runs as `python -m devhost` in a subprocess here, so its whole log output can be read.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from emulators.stack import Stack
from scripts.run_demo import settings_for

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
PLANTED = "planted-Secret-4f1c9e2b7a"


def start_app(env: dict[str, str]) -> tuple[subprocess.Popen[str], str, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "devhost", "--port", "0", "--no-timers"], cwd=ROOT, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.kill()
        pytest.fail(f"devhost did not start: {proc.stderr.read() if proc.stderr else ''}")
    ready = json.loads(line)
    return proc, f"{ready['url']}/api", ready["functionKey"]


def stop_app(proc: subprocess.Popen[str]) -> str:
    proc.terminate()
    out, err = proc.communicate(timeout=30)
    return out + err


@pytest.fixture(name="base_env")
def _base_env(stack: Stack, azurite: str) -> Iterator[dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KOPPEL_", "ERP_", "CRM_"))}
    env.update(settings_for(stack.info.to_json(), azurite))
    env["REQUESTS_CA_BUNDLE"] = stack.info.ca_bundle
    yield env


def test_a_side_not_configured_answers_503_naming_the_setting(base_env: dict[str, str]) -> None:
    env = dict(base_env)
    del env["ERP_CLIENT_SECRET"]
    proc, api, key = start_app(env)
    try:
        headers = {"x-functions-key": key}
        conn = requests.get(f"{api}/connection", headers=headers, timeout=30)
        couple = requests.post(f"{api}/couplings", headers=headers, timeout=30, json={
            "mapping": "CUSTOMER", "erpId": "6f9619ff-8b86-d011-b42d-00c04fc964ff",
            "crmId": "6f9619ff-8b86-d011-b42d-00c04fc964fe"})
    finally:
        stop_app(proc)

    for resp in (conn, couple):
        assert resp.status_code == 503, resp.text
        assert resp.json()["setting"] == "ERP_CLIENT_SECRET"


def test_secrets_never_appear_in_responses_or_logs(base_env: dict[str, str], stack: Stack) -> None:
    env = dict(base_env)
    env["CRM_CLIENT_SECRET"] = PLANTED  # a wrong secret: every CRM call fails authentication
    real_secret = env["ERP_CLIENT_SECRET"]
    [erp_id] = requests.post(f"{stack.info.bc_url}/_admin/seed", json={"entity": "customers", "count": 1, "seed": 7},
                             timeout=30).json()["ids"]
    proc, api, key = start_app(env)
    bodies: list[str] = []
    try:
        headers = {"x-functions-key": key}
        for method, path, body in [
            ("GET", "/connection", None),
            ("POST", "/couplings", {"mapping": "CUSTOMER", "erpId": erp_id, "createNew": True}),
            ("POST", "/sync", {"mapping": "CUSTOMER", "erpIds": [erp_id], "direction": "toCrm"}),
            ("POST", "/couplings", {"mapping": "CUSTOMER", "erpId": "nope"}),
            ("GET", f"/couplings/CUSTOMER?erpId={erp_id}", None),
        ]:
            resp = requests.request(method, f"{api}{path}", headers=headers, json=body, timeout=60)
            assert resp.status_code < 500 or resp.headers["Content-Type"].startswith("application/problem+json")
            bodies.append(resp.text + json.dumps(dict(resp.headers)))
        conn = json.loads(bodies[0].split("{\"Server\"")[0]) if bodies[0].startswith("{") else {}
    finally:
        logs = stop_app(proc)

    assert logs, "the app logged nothing at all: the check would be empty"
    for text in bodies + [logs]:
        assert PLANTED not in text
        assert real_secret not in text
    assert conn.get("crm", {}).get("ok") is False
