"""The clvmodels modules import each other without cycles.

Every import counts, also those inside functions: a lazy import hides a cycle
from Python but not from a reader (``inference/draws.py`` -> ``models/parametric.py``
-> ``persistence.py`` -> ``models/parametric.py`` was one). The graph is read
with ``ast`` from the source files, so nothing is imported to check it.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import clvmodels

ROOT = Path(clvmodels.__file__).resolve().parent


def _module_name(path: Path) -> str:
    parts = ["clvmodels", *path.relative_to(ROOT).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in ROOT.rglob("*.py")}


def import_graph() -> dict[str, set[str]]:
    """``{module: modules of clvmodels it imports}``, every import statement counted."""
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[:len(base) - (node.level - 1)]
                    base = ".".join(base + ([node.module] if node.module else []))
                else:
                    base = node.module or ""
                # ``from pkg import sub`` imports the submodule ``pkg.sub``.
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                           for a in node.names]
            else:
                continue
            edges.update(t for t in targets if t in modules and t != name)
        graph[name] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components of ``graph`` with more than one module
    (each is a set of modules that import each other, directly or not)."""
    def reachable(start):
        seen, todo = set(), [start]
        while todo:
            for nxt in graph.get(todo.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    reach = {m: reachable(m) for m in graph}
    found = []
    for m in sorted(graph):
        if m in reach[m] and not any(m in c for c in found):
            found.append({n for n in graph if n in reach[m] and m in reach[n]})
    return found


def test_cycles_sees_a_cycle_through_lazy_imports():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"b", "d"}, "d": set()}
    assert cycles(graph) == [{"b", "c"}]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_graph_reads_function_level_and_relative_imports():
    graph = import_graph()
    # draws.py imports the row helpers from the leaf module, at module level.
    assert "clvmodels.rows" in graph["clvmodels.inference.draws"]
    # parametric.py imports the Bayesian engine inside functions.
    assert "clvmodels.inference.bayes" in graph["clvmodels.models.parametric"]
    assert "clvmodels.models.transaction" in graph["clvmodels.models.parametric"]


def test_no_import_cycles():
    graph = import_graph()
    assert cycles(graph) == [], f"import cycles: {cycles(graph)}"


def test_cycles_sees_the_backtest_report_cycle_that_was():
    # BacktestResult.report() calls the report and the report used to import
    # winner_names from the backtest: the checker must see such a pair.
    graph = import_graph()
    graph["clvmodels.report.html"] = graph["clvmodels.report.html"] | {"clvmodels.backtest"}
    assert any({"clvmodels.backtest", "clvmodels.report.html"} <= c for c in cycles(graph))


@pytest.mark.parametrize("layer, forbidden", [
    ("clvmodels.rows", "clvmodels."),
    ("clvmodels.persistence", "clvmodels.models"),
    ("clvmodels.inference", "clvmodels.models"),
    ("clvmodels.likelihoods", "clvmodels.models"),
    ("clvmodels.likelihoods", "clvmodels.inference"),
    # Data flow one way: the backtest hands its result to the report.
    ("clvmodels.report", "clvmodels.backtest"),
    # Customer attributes are data: read and encoded before any model, below the CLI.
    ("clvmodels.attributes", "clvmodels.models"),
    ("clvmodels.attributes", "clvmodels.backtest"),
    ("clvmodels.attributes", "clvmodels.cli"),
])
def test_lower_layers_do_not_import_higher_ones(layer, forbidden):
    graph = import_graph()
    bad = {m: sorted(t for t in targets if t.startswith(forbidden))
           for m, targets in graph.items() if m == layer or m.startswith(layer + ".")}
    assert not {m: t for m, t in bad.items() if t}


@pytest.mark.parametrize("first", [
    "clvmodels.inference.draws", "clvmodels.persistence", "clvmodels.rows",
    "clvmodels.models.transaction", "clvmodels.models.estimate",
])
def test_each_low_level_module_imports_first_in_a_fresh_interpreter(first):
    code = (f"import importlib; importlib.import_module({first!r}); "
            "import clvmodels; print(sorted(clvmodels.persistence.MODEL_REGISTRY))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT.parent, check=True)
    assert "BetaGeoModel" in out.stdout and "ShiftedBetaGeoModel" in out.stdout
