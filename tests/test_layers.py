"""The layering of the tree, read from the source (every import, function-local ones too):
layers import only downward, there are no import cycles, `models` stands alone, the suites'
registry is a leaf, and pyproject.toml ships every package.

    run.py, dashboard, benchmarks  ->  harness.run  ->  suites  ->  harness.tasks
      ->  harness.quality, harness.analysis  ->  harness.measure, harness.store
      ->  harness.errors, harness.structured  ->  models
"""
from __future__ import annotations

import ast
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("harness", "models", "suites", "dashboard_app", "benchmarks")
MAX_LINES = 400
LAYERS = [  # (module prefix, rank): the longest matching prefix wins; higher ranks sit above
    ("models", 0),
    ("harness.errors", 1), ("harness.structured", 1),
    ("harness.measure", 2), ("harness.store", 2),
    ("harness.quality", 3), ("harness.analysis", 3),
    ("harness.tasks", 4),
    ("suites", 5),
    ("harness.run", 6), ("harness", 6),
    ("dashboard_app", 7), ("dashboard", 7), ("benchmarks", 7), ("run", 8),
]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules() -> dict[str, Path]:
    files = [p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")] + [ROOT / "run.py", ROOT / "dashboard.py"]
    return {module_name(p): p for p in files}


def imports_of(path: Path, name: str, known: set[str]) -> set[str]:
    """Project modules imported anywhere in `path` (relative imports resolved)."""
    is_package = path.name == "__init__.py"
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".")[: len(name.split(".")) - node.level + (1 if is_package else 0)]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                out.add(target)
    return out


def rank(module: str) -> int:
    matches = [(len(prefix), r) for prefix, r in LAYERS if module == prefix or module.startswith(prefix + ".")]
    assert matches, f"{module} has no layer in tests/test_layers.py"
    return max(matches)[1]


def graph() -> dict[str, set[str]]:
    modules = project_modules()
    known = set(modules)
    return {name: imports_of(path, name, known) for name, path in modules.items()}


def upward_imports(edges: dict[str, set[str]]) -> list[str]:
    return sorted(f"{a} (layer {rank(a)}) imports {b} (layer {rank(b)})"
                  for a, targets in edges.items() for b in targets if rank(b) > rank(a))


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected component of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
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

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_no_layer_imports_upward():
    assert upward_imports(graph()) == []


def test_no_import_cycles():
    assert cycles(graph()) == []


def test_models_import_nothing_of_the_harness_or_the_suites():
    edges = graph()
    bad = sorted(f"{a} -> {b}" for a, targets in edges.items() if a.startswith("models")
                 for b in targets if not b.startswith("models"))
    assert bad == []


def test_suites_registry_is_a_leaf():
    assert {t for t in graph()["suites.registry"] if t.startswith("suites")} == set()


def test_the_checks_would_fail_on_an_upward_import_and_a_cycle():
    edges = graph()
    edges["models.registry"] = edges["models.registry"] | {"harness.run.cli"}
    assert "models.registry (layer 0) imports harness.run.cli (layer 6)" in upward_imports(edges)
    edges["harness.store.points"] = edges["harness.store.points"] | {"harness.store.results"}
    edges["harness.store.results"] = edges["harness.store.results"] | {"harness.store.points"}
    assert ["harness.store.points", "harness.store.results"] in cycles(edges)


def test_function_local_and_relative_imports_count(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from harness.run import cli\n    from . import points\n")
    known = set(project_modules())
    assert imports_of(probe, "harness.store.probe", known) == {"harness.run.cli", "harness.store.points"}


def test_no_module_outside_tests_is_over_the_line_limit():
    long = {name: n for name, path in project_modules().items()
            if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert long == {}


def test_harness_top_level_has_at_most_eight_files():
    assert len([p for p in (ROOT / "harness").iterdir() if p.is_file()]) <= 8


def test_pyproject_ships_every_package():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    on_disk = {module_name(p) for pkg in ("harness", "models", "suites", "dashboard_app")
               for p in (ROOT / pkg).rglob("__init__.py")}
    assert on_disk | {"harness.conf"} == listed
