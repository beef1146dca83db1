"""No import cycles inside ``genesys_sim``, counting imports hidden inside functions and
``if TYPE_CHECKING:`` blocks (a cycle deferred to call time is still a cycle)."""

from __future__ import annotations

import ast
from pathlib import Path

import genesys_sim

PACKAGE = Path(genesys_sim.__file__).parent


def _target(node: ast.ImportFrom, module: str, is_package: bool) -> str | None:
    if node.level:  # relative: from . import x / from .x import y
        base = module if is_package and node.level == 1 else module.rsplit(".", node.level)[0]
        if is_package and node.level > 1:
            base = module.rsplit(".", node.level - 1)[0]
        return f"{base}.{node.module}" if node.module else base
    return node.module


def import_graph(package: Path = PACKAGE, top: str = "genesys_sim") -> dict[str, set[str]]:
    """module -> modules of package ``top`` it imports anywhere in its source (subpackages
    too: ``streams/base.py`` is ``top.streams.base``, ``streams/__init__.py`` ``top.streams``)."""
    names: dict[Path, str] = {}
    for path in sorted(package.rglob("*.py")):
        parts = [top, *path.relative_to(package).with_suffix("").parts]
        names[path] = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
    modules = set(names.values())
    graph: dict[str, set[str]] = {}
    for path, name in names.items():
        edges: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                edges |= {a.name for a in node.names if a.name in modules}
            elif isinstance(node, ast.ImportFrom):
                target = _target(node, name, path.stem == "__init__")
                if target in modules:  # from pkg import mod / from pkg import Name
                    subs = {f"{target}.{a.name}" for a in node.names}
                    edges |= (subs & modules) or {target}
        graph[name] = edges - {name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as [a, b, ..., a], or None."""
    done: set[str] = set()
    for root in sorted(graph):
        stack: list[tuple[str, list[str]]] = [(root, sorted(graph.get(root, ())))]
        on_path = [root]
        while stack:
            node, todo = stack[-1]
            if not todo:
                stack.pop()
                on_path.pop()
                done.add(node)
                continue
            nxt = todo.pop(0)
            if nxt in on_path:
                return [*on_path[on_path.index(nxt) :], nxt]
            if nxt not in done:
                stack.append((nxt, sorted(graph.get(nxt, ()))))
                on_path.append(nxt)
    return None


def test_genesys_sim_has_no_import_cycle():
    graph = import_graph()
    assert {"genesys_sim.api", "genesys_sim.control", "genesys_sim.jobs"} <= set(graph)
    assert "genesys_sim.control" in graph["genesys_sim.api"]
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_cycle_finder_sees_imports_inside_functions(tmp_path):
    (tmp_path / "__init__.py").write_text("")
    (tmp_path / "api.py").write_text("from genesys_sim.control import handle\n")
    (tmp_path / "control.py").write_text(
        "def handle():\n    from genesys_sim.api import App\n    return App\n"
    )
    (tmp_path / "leaf.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from . import api\n"
    )
    graph = import_graph(tmp_path)
    assert graph["genesys_sim.leaf"] == {"genesys_sim.api"}
    assert find_cycle(graph) == ["genesys_sim.api", "genesys_sim.control", "genesys_sim.api"]
    (tmp_path / "control.py").write_text("def handle():\n    return 1\n")
    assert find_cycle(import_graph(tmp_path)) is None
