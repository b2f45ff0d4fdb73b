"""No import climbs back up: the package's import graph, at the granularity of its top-level modules and
subpackages, has no cycle.

Every ``import`` / ``from ... import`` in a file counts, wherever it sits (module level, inside a function,
under ``if TYPE_CHECKING``): a function-local import hides a cycle from Python, not from the design.
"""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import widedeep_bench

PACKAGE_DIR = Path(widedeep_bench.__file__).parent


def module_name(path: Path, package_dir: Path) -> str:
    """``engines/torch.py`` -> ``widedeep_bench.engines.torch``; ``engines/__init__.py`` -> ``widedeep_bench.engines``."""
    parts = [package_dir.name, *path.relative_to(package_dir).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(node: ast.Import | ast.ImportFrom, importer: str, is_package: bool, known: set) -> list:
    """The package's modules one import statement runs; ``from pkg import name`` counts as ``pkg.name`` when
    that is a module, else as ``pkg`` (its ``__init__``)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:  # relative: resolved against the importer's package
        base = importer.split(".") if is_package else importer.split(".")[:-1]
        base = base[:len(base) - node.level + 1]
        source = ".".join(base + ([node.module] if node.module else []))
    else:
        source = node.module or ""
    return [f"{source}.{alias.name}" if f"{source}.{alias.name}" in known else source for alias in node.names]


def top_level(module: str) -> str:
    """``widedeep_bench.engines.torch`` -> ``widedeep_bench.engines``; the root package stays itself."""
    return ".".join(module.split(".")[:2])


def import_graph(package_dir: Path) -> tuple[dict, dict]:
    """``{node: {nodes it imports}}`` over top-level modules and subpackages, and for each edge the
    ``file:line`` of the imports that make it."""
    files = {module_name(path, package_dir): path for path in sorted(package_dir.rglob("*.py"))}
    graph: dict = {top_level(name): set() for name in files}
    evidence: dict = {}
    for importer, path in files.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            for imported in imported_modules(node, importer, path.name == "__init__.py", set(files)):
                if imported.split(".")[0] != package_dir.name:
                    continue
                source, target = top_level(importer), top_level(imported)
                if source != target:
                    graph[source].add(target)
                    evidence.setdefault((source, target), []).append(
                        f"{path.relative_to(package_dir.parent)}:{node.lineno}")
    return graph, evidence


def cycle_in(graph: dict, evidence: dict) -> str | None:
    """``None`` when the graph is acyclic, else one cycle, an edge a line with the imports that make it."""
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as error:
        cycle = error.args[1]  # [a, b, ..., a], each node importing the one before it (graphlib's order)
        edges = [(cycle[i + 1], cycle[i]) for i in range(len(cycle) - 1)]
        return "\n".join(f"{a} -> {b}  ({', '.join(evidence[(a, b)])})" for a, b in reversed(edges))
    return None


def test_the_package_imports_have_no_cycle():
    graph, evidence = import_graph(PACKAGE_DIR)
    assert len(graph) > 10  # the walk found the package
    cycle = cycle_in(graph, evidence)
    assert cycle is None, f"import cycle between the package's parts:\n{cycle}"


def test_a_function_local_import_closing_a_cycle_is_found(tmp_path):
    package = tmp_path / "widedeep_bench"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("from widedeep_bench.sub.inner import f\n")
    (package / "sub" / "inner.py").write_text("def f():\n    from widedeep_bench import leaf\n")
    (package / "leaf.py").write_text("from . import sub\n")
    graph, evidence = import_graph(package)
    assert graph == {"widedeep_bench": set(), "widedeep_bench.sub": {"widedeep_bench.leaf"},
                     "widedeep_bench.leaf": {"widedeep_bench.sub"}}
    cycle = cycle_in(graph, evidence)
    assert cycle is not None and "widedeep_bench/sub/inner.py:2" in cycle and "widedeep_bench/leaf.py:1" in cycle
