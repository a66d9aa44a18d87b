"""The admin page (X6, X7) in a real headless Chromium, against the running app, emulators and Azurite.

A failure is provoked for real (couple, delete the CRM row, sync → deletedCounterpart), then acted on by
clicking. Needs Debian's chromium (scripts/bootstrap installs it when it can) and playwright.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from core.model import Counters, Direction, Job, JobStatus, JobType
from core.store import Storage
from tests.e2e.conftest import App

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"
EVIL = "<img src=x onerror=alert(1)>"


@pytest.fixture(name="browser", scope="module")
def _browser() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"no {CHROMIUM}: scripts/bootstrap installs it only as root with apt-get")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (requirements-dev.txt)")
    # tooling §6: always Debian's binary (playwright's own download fails here), no sandbox as root.
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield browser
        browser.close()


@pytest.fixture(name="storage")
def _storage(app: App) -> Storage:
    return Storage.from_connection_string(os.environ["KOPPEL_STORAGE"])


def _open(browser: Any, app: App, lang: str = "en") -> Any:
    context = browser.new_context(viewport={"width": 1400, "height": 900}, extra_http_headers={"Accept-Language": lang})
    page = context.new_page()
    page.on("dialog", lambda d: pytest.fail(f"the page ran injected script: {d.message}"))
    problems: list[str] = []
    # Script errors and CSP violations are console errors; failed loads are checked by their response instead,
    # because Chromium always asks for /favicon.ico, which the app rightly does not serve.
    page.on("console", lambda m: problems.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource") else None)
    page.on("response", lambda r: problems.append(f"{r.status} {r.url}")
            if r.status >= 400 and not r.url.endswith("/favicon.ico") else None)
    page.goto(f"{app.api}/console?code={app.key}")
    page.wait_for_selector("body[data-loaded]")
    page.problems = problems
    return page


def _expect() -> Any:
    from playwright.sync_api import expect  # imported late: the module must load without playwright

    return expect


def _broken_pair(app: App) -> tuple[str, str]:
    [erp_id] = app.seed("erp", "customers", 1)
    [crm_id] = app.seed("crm", "accounts", 1)
    assert app.call("POST", "/couplings", json={"mapping": "CUSTOMER", "erpId": erp_id, "crmId": crm_id}).status_code == 201
    app.delete("crm", "accounts", crm_id)
    resp = app.call("POST", "/sync", json={"mapping": "CUSTOMER", "erpIds": [erp_id], "direction": "toCrm"})
    assert resp.status_code == 409, resp.text
    return erp_id, crm_id


def _job(storage: Storage, status: JobStatus, message: str, progress: float) -> Job:
    return storage.jobs.create(Job(str(uuid.uuid4()), "CUSTOMER", JobType.SYNC, Direction.TO_CRM, status,
                                   dt.datetime.now(dt.timezone.utc), counters=Counters(modified=3, failed=1),
                                   progress=progress, message=message))


class TestServing:
    def test_needs_the_key_and_answers_html_with_a_strict_csp(self, app: App) -> None:
        anonymous = app.call("GET", "/console", key=False)
        page = requests.get(f"{app.api}/console", params={"code": app.key}, headers={"Accept-Language": "da"},
                            timeout=30)

        assert anonymous.status_code == 401
        assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
        assert page.headers["Content-Security-Policy"].startswith("default-src 'self'")
        assert page.headers["Content-Language"] == "da" and '<html lang="da">' in page.text
        assert app.key not in page.text  # the key stays in the address bar and the script's headers only

    def test_assets_are_static_and_only_the_listed_files(self, app: App) -> None:
        script = app.call("GET", "/console/assets/console.js", key=False)
        other = app.call("GET", "/console/assets/..%2Fadmin_page.py", key=False)

        assert script.status_code == 200 and script.headers["Content-Type"].startswith("text/javascript")
        assert "innerHTML" not in script.text  # values go in as text only
        assert other.status_code == 404


class TestInBrowser:
    def test_error_row_is_acted_on_and_values_render_as_text(self, app: App, browser: Any, storage: Storage) -> None:
        erp_id, _ = _broken_pair(app)
        job = _job(storage, JobStatus.PARTIAL, f"Customer {EVIL} failed", 1.0)

        page = _open(browser, app)
        row = page.locator(f'#errors tr[data-erp-id="{erp_id}"]')
        row.wait_for()
        cells = row.locator("td").all_inner_texts()
        job_row = page.locator(f'#jobs tr[data-job-id="{job.id}"]')
        page.screenshot(path="/tmp/koppel-admin.png", full_page=True)

        assert "deletedCounterpart" in cells and cells[6:8] == ["yes", "no"], cells
        assert f"Customer {EVIL} failed" in job_row.inner_text()
        assert page.locator("img").count() == 0
        assert page.locator(f'#jobs tr[data-job-id="{job.id}"] progress').get_attribute("value") == "100"

        row.locator('button[data-action="delete-coupling"]').click()
        row.wait_for(state="detached")

        assert app.call("GET", f"/couplings/CUSTOMER?erpId={erp_id}").status_code == 404
        assert not page.problems, page.problems  # no CSP violation, no script error
        page.context.close()

    def test_headings_follow_accept_language(self, app: App, browser: Any) -> None:
        page = _open(browser, app, "nl-NL,nl;q=0.9")

        headings = page.locator("h2").all_inner_texts()

        assert page.locator("html").get_attribute("lang") == "nl"
        assert "Synchronisatiefouten van gekoppelde gegevens" in headings and "Tabeltoewijzingen" in headings
        assert "Nu synchroniseren" in page.locator("#mappings").inner_text()
        page.context.close()

    def test_sync_now_posts_to_the_mapping_route_with_the_key(self, app: App, browser: Any) -> None:
        page = _open(browser, app)
        sent: list[dict[str, Any]] = []

        def fake(route: Any) -> None:  # answered here: the point is what the page sends, not a real run
            sent.append({"headers": route.request.headers, "body": json.loads(route.request.post_data or "{}")})
            route.fulfill(status=202, content_type="application/json",
                          body=json.dumps({"mapping": "CUSTOMER", "jobIds": []}))

        page.route("**/api/mappings/CUSTOMER/sync", fake)
        page.locator('#mappings tr[data-mapping="CUSTOMER"] button[data-action="sync-now"]').click()
        _expect()(page.locator("#notice")).to_contain_text("CUSTOMER")

        assert sent and sent[0]["body"] == {"mode": "incremental"}
        assert sent[0]["headers"]["x-functions-key"] == app.key
        page.context.close()

    def test_refreshes_itself_while_a_job_runs(self, app: App, browser: Any, storage: Storage) -> None:
        job = _job(storage, JobStatus.RUNNING, "halfway", 0.5)
        try:
            page = _open(browser, app)
            bar = page.locator(f'#jobs tr[data-job-id="{job.id}"] progress')
            assert bar.get_attribute("value") == "50"

            storage.jobs.update(dataclasses.replace(storage.jobs.get(job.id), status=JobStatus.SUCCEEDED,
                                                    progress=1.0))
            # No reload: the page's own timer (every 3 s while a job runs) must pick the change up.
            _expect()(bar).to_have_attribute("value", "100", timeout=10_000)
            page.context.close()
        finally:
            current = storage.jobs.get(job.id)
            if current.status is JobStatus.RUNNING:  # never leave a running job for other tests' pages
                storage.jobs.update(dataclasses.replace(current, status=JobStatus.FAILED))


def test_chromium_is_where_the_tests_expect_it() -> None:
    """Where bootstrap could install it, the browser tests must not silently skip."""
    if os.geteuid() == 0 and shutil.which("apt-get"):
        assert os.path.exists(CHROMIUM), "scripts/bootstrap should have installed chromium"
