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
