"""What a publish ships: a runtime lock the remote build installs, a .funcignore, every setting in the example."""
from __future__ import annotations

import json
import re
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from core.settings import SETTING_NAMES

ROOT = Path(__file__).resolve().parents[2]
# Settings the Functions host reads itself (not core): the worker language and its own storage.
HOST_SETTINGS = {"FUNCTIONS_WORKER_RUNTIME", "AzureWebJobsStorage"}


def _lines(name: str) -> list[str]:
    return [line.strip() for line in (ROOT / name).read_text().splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def _lock() -> dict[str, str]:
    pins = {}
    for line in _lines("requirements.txt"):
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9.+!-]+)", line)
        assert match, f"requirements.txt is the runtime lock: {line!r} is not pinned as name==version"
        pins[canonicalize_name(match[1])] = match[2]
    return pins


def test_every_direct_runtime_requirement_is_pinned_in_the_lock_within_its_range() -> None:
    pins = _lock()
    for line in _lines("requirements.in"):
        req = Requirement(line)
        pinned = pins.get(canonicalize_name(req.name))
        assert pinned is not None, f"{req.name} (requirements.in) is missing from requirements.txt: run scripts/lock"
        assert req.specifier.contains(pinned, prereleases=True), f"{req.name}=={pinned} is outside {req.specifier}"


def test_the_lock_is_closed_and_is_what_the_tests_run() -> None:
    """Each locked package's own requirements are locked too, and the venv runs the locked versions."""
    pins = _lock()
    for name, version in pins.items():
        installed = metadata.version(name)
        assert installed == version, f"the venv has {name} {installed}, the lock {version}: run scripts/bootstrap"
        for text in metadata.requires(name) or []:
            req = Requirement(text)
            if req.marker is not None and not req.marker.evaluate({"extra": ""}):
                continue
            dep = canonicalize_name(req.name)
            assert dep in pins, f"{name} needs {req.name}, which requirements.txt does not pin: run scripts/lock"
            assert req.specifier.contains(pins[dep], prereleases=True), (name, text, pins[dep])


def test_dev_and_sdk_extras_build_on_the_lock_and_the_demo_installs_only_the_lock() -> None:
    assert "-r requirements.txt" in _lines("requirements-dev.txt")
    assert "-r requirements-dev.txt" in _lines("requirements-sdk.txt")
    runtime = {canonicalize_name(Requirement(line).name) for line in _lines("requirements.in")}
    for tool in ("pytest", "mypy", "playwright", "schemathesis", "ruff"):
        assert canonicalize_name(tool) not in runtime and canonicalize_name(tool) not in _lock(), tool
    bootstrap = (ROOT / "scripts/bootstrap").read_text()
    demo_part = bootstrap.split('if [ "$need" = demo ]; then', 1)[1].split("\nfi\n", 1)[0]
    assert "pip_install .venv requirements.txt" in demo_part and "requirements-dev" not in demo_part
    assert "--omit=dev" in demo_part
    assert "koppel_need=demo" in (ROOT / "scripts/demo").read_text()


@pytest.mark.parametrize("entry", [".venv/", "node_modules/", "tests/", "emulators/", "bench/", "devhost/", ".state/",
                                   "scripts/", "local.settings.json"])
def test_funcignore_keeps_what_is_not_the_app_out_of_the_package(entry: str) -> None:
    assert entry in _lines(".funcignore")


def test_funcignore_keeps_the_app_in_the_package() -> None:
    ignored = set(_lines(".funcignore"))
    for kept in ("function_app.py", "host.json", "requirements.txt", "core/", "functions/"):
        assert kept not in ignored, kept


def test_local_settings_example_has_every_setting_the_app_reads_and_the_readme_documents() -> None:
    example = json.loads((ROOT / "local.settings.json.example").read_text())["Values"]
    section = (ROOT / "README.md").read_text().split("\n## Configuration", 1)[1].split("\n## ", 1)[0]
    readme = set(re.findall(r"^\| `([A-Za-z_]+)` \|", section, re.M))
    assert set(example) - HOST_SETTINGS == set(SETTING_NAMES), "local.settings.json.example and core/settings.py differ"
    assert readme == set(SETTING_NAMES), "README's configuration table and core/settings.py differ"
