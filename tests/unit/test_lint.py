"""ruff (configured in pyproject.toml) finds nothing: unused imports, late-bound loop variables, …"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _ruff() -> str:
    found = Path(sys.executable).with_name("ruff")
    if found.exists():
        return str(found)
    other = shutil.which("ruff")
    if other is None:
        pytest.fail("ruff is not installed: it is in requirements-dev.txt (scripts/bootstrap installs it)")
    return other


def test_ruff_is_configured_in_pyproject() -> None:
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert config["tool"]["ruff"]["lint"]["select"], "ruff has no rule set"


def test_ruff_check_finds_nothing() -> None:
    done = subprocess.run([_ruff(), "check", "--no-cache", "--output-format", "concise", str(ROOT)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
