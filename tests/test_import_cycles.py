"""No import cycles in the package, lazy (function-level) imports included (STYLE.md section 9).

Two checks: every module imports on its own in a fresh interpreter, and the graph of
``quakesynth`` imports read from the source (module level and inside functions) has no cycle.
An edge goes to the imported module itself (``from quakesynth.a import b`` -> ``quakesynth.a.b``
if that is a module, else ``quakesynth.a``); parent packages are not counted.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import quakesynth

ROOT = Path(quakesynth.__file__).parent


def _modules() -> dict[str, Path]:
    mods = {}
    for p in sorted(ROOT.rglob("*.py")):
        parts = ("quakesynth",) + p.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = p
    return mods


def import_graph() -> dict[str, set[str]]:
    """Module -> the quakesynth modules it imports anywhere in its source."""
    mods = _modules()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for m, path in mods.items():
        pkg = m if path.name == "__init__.py" else m.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names]
            for t in targets:
                while t and t not in mods and "." in t:  # `import quakesynth.a.b.c` of a non-module name
                    t = t.rpartition(".")[0]
                if t in mods and t != m:
                    graph[m].add(t)
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(max(10000, sys.getrecursionlimit()))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(out)


def test_cycle_finder_on_a_known_graph():
    g = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert find_cycles(g) == [["a", "b", "c"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def test_every_module_imports_alone():
    mods = [m for m in _modules() if not m.endswith("__main__")]
    code = ("import importlib, sys\nbad = []\nfor m in sys.argv[1:]:\n    try:\n        importlib.import_module(m)\n"
            "    except ImportError as e:\n        bad.append(f'{m}: {e}')\nprint('\\n'.join(bad))\n")
    # all modules in one fresh interpreter (not this test process, which has imported much already)
    r = subprocess.run([sys.executable, "-c", code, *mods], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    missing_optional = [ln for ln in r.stdout.splitlines() if ln.strip()]
    assert not [ln for ln in missing_optional if "quakesynth" in ln.split(":", 1)[1]], missing_optional


def test_no_import_cycles():
    """No cycle at all, lazy imports included: a registry may import adapters lazily and an
    adapter imports the base, but nothing imports back up the chain (STYLE.md section 9)."""
    assert find_cycles(import_graph()) == []


def test_the_graph_sees_lazy_imports_that_close_a_cycle(tmp_path, monkeypatch):
    """The check fails on a cycle closed by a function-level import (as generate <-> highfem was)."""
    pkg = tmp_path / "quakesynth"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from quakesynth.b import f\n")
    (pkg / "b.py").write_text("def f():\n    from quakesynth import a\n    return a\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", pkg)
    assert find_cycles(import_graph()) == [["quakesynth.a", "quakesynth.b"]]
