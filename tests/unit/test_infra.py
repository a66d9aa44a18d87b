"""infra/main.bicep, read by a real Bicep parser (pycep) and checked by checkov, both offline.

No Bicep compiler can be installed here (tooling §3): the parser's tree is what these tests check.
"""
from __future__ import annotations

import json
import re
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from core.settings import SETTING_NAMES

ROOT = Path(__file__).resolve().parents[2]
BICEP = ROOT / "infra/main.bicep"
# Where a setting has an identity-based form, the Functions host and core read NAME__<property>.
IDENTITY_FORMS = {"KOPPEL_SERVICEBUS": "KOPPEL_SERVICEBUS__fullyQualifiedNamespace"}


@cache
def _tree() -> dict[str, Any]:
    from pycep import BicepParser

    tree: dict[str, Any] = BicepParser().parse(file_path=BICEP)
    return tree


def _resources(kind: str) -> dict[str, dict[str, Any]]:
    return {name: r["config"] for name, r in _tree()["resources"].items() if r["type"] == kind}


def _app() -> dict[str, Any]:
    (app,) = _resources("Microsoft.Web/sites").values()
    return app


def _settings() -> dict[str, Any]:
    return {s["name"]: s["value"] for s in _app()["properties"]["siteConfig"]["appSettings"]}


def _refers_to(value: Any, name: str) -> bool:
    """Whether an expression from the parser's tree mentions the symbol `name`."""
    text = json.dumps(value)
    return re.search(rf'"{name}"|\${{{name}\.', text) is not None


def test_the_bicep_parses_and_declares_the_app() -> None:
    tree = _tree()
    assert {"parameters", "resources", "outputs"} <= set(tree)
    assert _app()["kind"] == "functionapp,linux"


@pytest.mark.parametrize("name", sorted(SETTING_NAMES))
def test_setting_is_set_in_bicep(name: str) -> None:
    settings = _settings()
    assert name in settings or IDENTITY_FORMS.get(name) in settings, f"{name} is not an app setting in main.bicep"


@pytest.mark.parametrize("name", sorted(SETTING_NAMES))
def test_setting_is_documented_in_readme(name: str) -> None:
    readme = (ROOT / "README.md").read_text()
    assert f"| `{name}` |" in readme, f"{name} is not in the README's configuration table"


def test_settings_read_in_code_are_all_declared() -> None:
    code = "\n".join(p.read_text() for p in (ROOT / "core").rglob("*.py"))
    read = set(re.findall(r'"((?:KOPPEL|ERP|CRM)_[A-Z_]+)"', code))
    assert read <= set(SETTING_NAMES), f"undeclared settings read in core: {read - set(SETTING_NAMES)}"


def test_no_key_or_connection_string_anywhere() -> None:
    """Identity throughout: nothing lists keys, and every service refuses key or SAS access."""
    text = json.dumps(_tree())
    assert "listKeys" not in text and "AccountKey" not in text and "list_func" not in text
    assert not _resources("Microsoft.ServiceBus/namespaces/authorizationRules")
    (storage,) = _resources("Microsoft.Storage/storageAccounts").values()
    assert storage["properties"]["allowSharedKeyAccess"] is False
    (bus,) = _resources("Microsoft.ServiceBus/namespaces").values()
    assert bus["properties"]["disableLocalAuth"] is True
    (insights,) = _resources("Microsoft.Insights/components").values()
    assert insights["properties"]["DisableLocalAuth"] is True


def test_host_storage_and_service_bus_connect_with_the_managed_identity() -> None:
    settings = _settings()
    assert "AzureWebJobsStorage" not in settings
    for prefix in ("AzureWebJobsStorage", "KOPPEL_SERVICEBUS"):
        assert settings[f"{prefix}__credential"] == "managedidentity"
        assert _refers_to(settings[f"{prefix}__clientId"], "identity")
    assert _refers_to(settings["AzureWebJobsStorage__accountName"], "storage")
    assert settings["KOPPEL_SERVICEBUS__fullyQualifiedNamespace"] == "${serviceBus.name}.servicebus.windows.net"
    # Koppel's tables: the table endpoint, which core/store opens with DefaultAzureCredential.
    assert _refers_to(settings["KOPPEL_STORAGE"], "storage") and "primaryEndpoints" in json.dumps(settings["KOPPEL_STORAGE"])
    assert _refers_to(settings["AZURE_CLIENT_ID"], "identity")
    assert "Authorization=AAD" in settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"]


def test_the_ribbon_may_call_the_app_from_the_dynamics_page() -> None:
    assert _app()["properties"]["siteConfig"]["cors"]["allowedOrigins"] == ["crmUrl"]


def test_secrets_are_key_vault_references_read_with_the_identity() -> None:
    settings = _settings()
    for name in ("ERP_CLIENT_SECRET", "CRM_CLIENT_SECRET", "KOPPEL_WEBHOOK_SECRET"):
        assert str(settings[name]).startswith("@Microsoft.KeyVault(SecretUri="), name
    app = _app()
    assert app["identity"]["type"] == "UserAssigned"
    assert _refers_to(app["identity"]["userAssignedIdentities"], "identity")
    assert _refers_to(app["properties"]["keyVaultReferenceIdentity"], "identity")


def test_every_role_is_granted_to_the_identity_before_the_app_exists() -> None:
    """The app resolves Key Vault references and listens on Service Bus as it starts: its roles must be there."""
    assignments = _resources("Microsoft.Authorization/roleAssignments")
    app = _app()
    for name, ra in assignments.items():
        assert _refers_to(ra["properties"]["principalId"], "identity"), name
        assert not _refers_to(ra, "app"), f"{name} depends on the app, so it cannot come first"
        assert ra["properties"]["principalType"] == "ServicePrincipal", name  # no wait for directory replication
    assert set(app.get("dependsOn", [])) >= set(assignments)
    scopes = {ra["scope"] for ra in assignments.values()}
    assert {"vault", "storage", "jobsQueue", "insights"} <= scopes
    deployment = app["properties"]["functionAppConfig"]["deployment"]["storage"]["authentication"]
    assert deployment["type"] == "UserAssignedIdentity"


def test_a_clean_resource_group_needs_only_the_parameters_file_and_the_secrets() -> None:
    params = _tree()["parameters"]
    required = {name for name, p in params.items() if p.get("default") is None}
    given = set(json.loads((ROOT / "infra/main.parameters.json").read_text())["parameters"])
    secure = {name for name, p in params.items() if any(d.get("type") == "secure" for d in p.get("decorators", []))}
    assert required - secure <= given, f"not in infra/main.parameters.json: {required - secure - given}"
    assert not (secure & given), "secrets belong on the command line or a prompt, not in a committed file"
    assert "-f infra/main.bicep -p infra/main.parameters.json" in (ROOT / "README.md").read_text()


CHECKOV = ROOT / ".venv-checkov/bin/checkov"


def test_checkov_finds_nothing_with_only_the_justified_skips(tmp_path: Path) -> None:
    if not CHECKOV.exists():
        pytest.fail("checkov is not installed: scripts/bootstrap puts it in .venv-checkov (requirements-checkov.txt)")
    config = ROOT / "infra/.checkov.yaml"
    skips = re.findall(r"^  - (CKV\w+) +# \S", config.read_text(), re.M)
    assert 0 < len(skips) <= 12 and len(skips) == config.read_text().count("- CKV"), "each skip needs a reason"
    done = subprocess.run([str(CHECKOV), "--config-file", str(config), "-d", str(BICEP.parent), "-o", "json"],
                          cwd=ROOT, capture_output=True, text=True, timeout=180, check=False,
                          # Offline: no platform key, no mapping download, a throwaway HOME.
                          env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "BC_SKIP_MAPPING": "TRUE"})
    report = json.loads(done.stdout)
    summary = report["summary"]
    failed = [f"{c['check_id']} {c['resource']}" for c in report.get("results", {}).get("failed_checks", [])]
    assert summary["parsing_errors"] == 0 and summary["passed"] > 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert summary["failed"] == 0, failed


def test_the_worker_trigger_and_the_sender_take_the_queue_from_one_setting() -> None:
    import ast
    import json

    # Read from the source: indexing function_app here would register its blueprints twice in this process.
    triggers = [{k.arg: ast.literal_eval(k.value) for k in node.keywords if k.arg in ("queue_name", "connection")}
                for path in (ROOT / "functions").glob("*.py")
                for node in ast.walk(ast.parse(path.read_text()))
                if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "service_bus_queue_trigger"]
    assert triggers == [{"queue_name": "%KOPPEL_QUEUE_NAME%", "connection": "KOPPEL_SERVICEBUS"}]
    deps = (ROOT / "core/deps.py").read_text()
    assert 'self.settings.get("KOPPEL_QUEUE_NAME")' in deps
    assert "ServiceBusConnection" not in BICEP.read_text(), "a setting nothing reads"
    # A message lock renewed for less than a function may run lets Service Bus deliver long work twice.
    host = json.loads((ROOT / "host.json").read_text())
    renew = host["extensions"]["serviceBus"]["maxAutoLockRenewalDuration"]
    assert renew >= host["functionTimeout"], (renew, host["functionTimeout"])


def test_devhost_resolves_a_trigger_setting_or_refuses_like_the_host(monkeypatch: pytest.MonkeyPatch) -> None:
    from devhost.host import _resolve

    monkeypatch.setenv("KOPPEL_QUEUE_NAME", "jobs-a")
    assert _resolve("%KOPPEL_QUEUE_NAME%") == "jobs-a"
    monkeypatch.delenv("KOPPEL_QUEUE_NAME")
    with pytest.raises(RuntimeError, match="KOPPEL_QUEUE_NAME is not set"):
        _resolve("%KOPPEL_QUEUE_NAME%")
