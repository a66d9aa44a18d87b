"""Every app setting core reads is set in infra/main.bicep and documented in the README."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from core.settings import SETTING_NAMES

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", sorted(SETTING_NAMES))
def test_setting_is_set_in_bicep(name: str) -> None:
    bicep = (ROOT / "infra/main.bicep").read_text()
    assert re.search(rf"name: '{name}'", bicep), f"{name} is not an app setting in infra/main.bicep"


@pytest.mark.parametrize("name", sorted(SETTING_NAMES))
def test_setting_is_documented_in_readme(name: str) -> None:
    readme = (ROOT / "README.md").read_text()
    assert f"| `{name}` |" in readme, f"{name} is not in the README's configuration table"


def test_settings_read_in_code_are_all_declared() -> None:
    code = "\n".join(p.read_text() for p in (ROOT / "core").rglob("*.py"))
    read = set(re.findall(r'"((?:KOPPEL|ERP|CRM)_[A-Z_]+)"', code))
    assert read <= set(SETTING_NAMES), f"undeclared settings read in core: {read - set(SETTING_NAMES)}"


def test_secrets_are_key_vault_references() -> None:
    bicep = (ROOT / "infra/main.bicep").read_text()
    for name in ("ERP_CLIENT_SECRET", "CRM_CLIENT_SECRET"):
        assert re.search(rf"name: '{name}', value: '@Microsoft.KeyVault\(", bicep)


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
    bicep = (ROOT / "infra/main.bicep").read_text()
    assert "ServiceBusConnection" not in bicep, "a setting nothing reads"
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
