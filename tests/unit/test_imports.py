"""STYLE §1: imports flow one way, and each third-party dependency stays in the module that owns it."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# module prefix → the only places allowed to import it
OWNERS = {
    "azure.functions": ("functions/", "function_app.py", "devhost/"),
    "azure.data.tables": ("core/store/",),
    "azure.core": ("core/store/",),
    "azure.servicebus": ("core/queue.py",),
    "azure.storage.queue": ("core/store/job_queue.py",),
    "requests": ("core/odata/", "core/auth.py", "core/erp/", "core/crm/"),
    "msal": ("core/auth.py",),
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


APP_FILES = sorted(p for d in ("core", "functions") for p in (ROOT / d).rglob("*.py")) + [ROOT / "function_app.py"]


@pytest.mark.parametrize("path", APP_FILES, ids=[str(p.relative_to(ROOT)) for p in APP_FILES])
def test_third_party_imports_stay_with_their_owner(path: Path) -> None:
    rel = str(path.relative_to(ROOT))
    for name in _imports(path):
        for module, owners in OWNERS.items():
            if name == module or name.startswith(module + "."):
                assert rel.startswith(owners), f"{rel} imports {name}; only {owners} may"


@pytest.mark.parametrize("path", sorted((ROOT / "core").rglob("*.py")),
                         ids=[str(p.relative_to(ROOT)) for p in sorted((ROOT / "core").rglob("*.py"))])
def test_core_never_imports_the_trigger_layer(path: Path) -> None:
    for name in _imports(path):
        assert not name.startswith(("functions", "devhost", "emulators")), f"{path.name} imports {name}"
