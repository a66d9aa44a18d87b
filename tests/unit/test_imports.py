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
    "requests": ("core/odata/", "core/erp/", "core/crm/"),
    "msal": ("core/odata/auth.py",),
    "urllib.request": ("core/alerts.py",),
    "http.client": ("core/store/_tables.py",),
    "socket": (),
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


# -- the layering of core/ (README "Layout"): which part may import which -------------------------------------

CORE = ROOT / "core"
SHARED = {"core.model", "core.errors", "core.i18n", "core.settings", "core.commands", "core.messages"}
CLIENTS = ("core.store", "core.erp", "core.crm", "core.odata", "core.queue", "core.alerts")
# Static Dataverse metadata the rules read (which columns are lookups); plain data, no I/O.
RULE_METADATA = {"core.crm.lookups", "core.odata.literals"}


def _module_of(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_of(p): p for p in CORE.rglob("*.py")}


def core_imports(path: Path) -> set[str]:
    """The core modules `path` imports, anywhere in the file (function-level and TYPE_CHECKING imports count:
    a cycle hidden in a function is still a cycle). `from core.x import y` counts core.x.y when y is a module."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name in MODULES)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and node.module in MODULES:
            subs = {f"{node.module}.{a.name}" for a in node.names} & MODULES.keys()
            found.update(subs or {node.module})
    found.discard(_module_of(path))
    return found


GRAPH = {name: core_imports(path) for name, path in MODULES.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    """Every import that breaks the layering: rules/ pure, sync/ below actions/, a use case never reaching into a
    sibling, the clients and the shared model below everything that uses them."""
    def part(name: str) -> str:
        return ".".join(name.split(".")[:2])

    bad = []
    for src, targets in graph.items():
        for dst in sorted(targets):
            rule = None
            if src.startswith("core.rules") and not (dst in SHARED or dst.startswith("core.rules") or dst in RULE_METADATA):
                rule = "rules/ are pure: they import only the model, errors, settings and other rules"
            elif src.startswith("core.sync") and dst.startswith("core.actions"):
                rule = "sync/ never imports actions/"
            elif src.startswith("core.actions") and dst.startswith("core.actions") and part(src) == part(dst):
                rule = "a use case never imports a sibling use case"
            elif src.startswith(CLIENTS) and dst.startswith(("core.sync", "core.actions", "core.deps")):
                rule = "the clients, store and queue know nothing of the runs that use them"
            elif src in SHARED and dst not in SHARED:
                rule = "the shared model imports only itself"
            if rule:
                bad.append(f"{src} imports {dst}: {rule}")
    return bad


def test_core_has_no_import_cycle() -> None:
    assert cycles(GRAPH) == []


def test_core_keeps_its_layers() -> None:
    assert layer_violations(GRAPH) == []


def test_the_rules_catch_a_cycle_and_a_reversed_layer() -> None:
    """The checks themselves: a reintroduced cycle and each reversed layer are found."""
    graph = {k: set(v) for k, v in GRAPH.items()}
    graph["core.crm.batch"].add("core.crm.client")  # the cycle this layout broke
    assert ["core.crm.batch", "core.crm.client"] in cycles(graph)
    reversed_layers = {
        "core.rules.plan": "core.store.couplings",
        "core.sync.engine": "core.actions.coupling",
        "core.actions.sync": "core.actions.coupling",
        "core.store.couplings": "core.sync.engine",
        "core.model": "core.rules.plan",
    }
    for src, dst in reversed_layers.items():
        graph = {k: set(v) for k, v in GRAPH.items()}
        graph[src].add(dst)
        assert any(v.startswith(f"{src} imports {dst}") for v in layer_violations(graph)), (src, dst)


def test_every_core_module_lives_in_its_room() -> None:
    """A new module lands in a sub-package, not beside the shared ones (the tree shows the architecture)."""
    top = {name for name in MODULES if name.count(".") == 1}
    assert top == SHARED | {"core.deps", "core.queue", "core.alerts", "core.rules", "core.sync", "core.actions",
                            "core.store", "core.erp", "core.crm", "core.odata"}
