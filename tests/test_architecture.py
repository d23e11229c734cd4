"""The folder layout is the architecture: no import circles, and each layer imports only the layers below it."""

from __future__ import annotations

import ast
from pathlib import Path

from harness import ROOT

PACKAGES = ("benchmark", "models", "splits", "reports")
# What each layer may import of the project (by module-name prefix), besides itself.
ALLOWED = {
    "benchmark.core": ("benchmark.core", "splits.names"),
    "splits": ("splits", "benchmark.core"),
    "models": ("models", "benchmark.core"),
    "benchmark.data": ("benchmark.data", "benchmark.core", "models", "splits", "config"),
    "benchmark.cv": ("benchmark.cv", "benchmark.data", "benchmark.core", "models", "splits", "config"),
    "reports": ("reports", "benchmark.core", "splits.names"),
}


def project_modules() -> dict[str, Path]:
    found = {"config": ROOT / "config.py"}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def import_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports anywhere in its body (inside functions too: a lazy
    import is still a dependency)."""
    modules = project_modules()

    def owner(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        edges: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                edges |= {owner(alias.name) for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                edges |= {owner(f"{node.module}.{alias.name}") or owner(node.module) for alias in node.names}
        graph[name] = {edge for edge in edges if edge and edge != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_two_modules_import_each_other_directly_or_round_a_circle():
    assert cycles(import_graph()) == []


def test_the_cycle_finder_finds_a_circle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_each_layer_imports_only_the_layers_below_it():
    wrong = []
    for module, imports in import_graph().items():
        layer = next((name for name in ALLOWED if module == name or module.startswith(name + ".")), None)
        if layer is None:
            continue
        for target in sorted(imports):
            if not any(target == p or target.startswith(p + ".") for p in ALLOWED[layer]):
                wrong.append(f"{module} imports {target}")
    assert wrong == []


def test_no_stage_module_names_a_model():
    """Tuning, cross-validation, the data stage and perf find models through the registry only."""
    named = []
    for name, path in project_modules().items():
        if name.startswith(("benchmark.cv", "benchmark.data", "benchmark.commands", "reports")):
            text = path.read_text(encoding="utf-8")
            named += [f"{name}: {model}" for model in ("CustomCNN", "EfficientNet") if f'"{model}' in text]
    assert named == []
