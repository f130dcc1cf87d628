"""The project's modules import one another without a circle.

A circle makes the import order matter: whichever module is imported first sees the other
half-initialised, which is why circles hide behind imports inside functions. So the graph here
counts every import statement, at module level and inside functions alike, read with ``ast``.

An edge goes from the importing module to the module it names: ``import a.b`` names ``a.b``,
``from a import b`` names ``a.b`` when ``b`` is a module and ``a`` otherwise, and relative
imports are resolved. Importing ``a.b.c`` also runs the ``__init__`` of ``a`` and ``a.b``, so
those count too, except when they contain the importer: Python has started them already.
"""

import ast
from itertools import pairwise
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("aekit", "autograder", "benchmarks")

Edges = dict[str, dict[str, str]]  # importer -> {imported: "path:line" of the first statement}


def project_modules(root: Path, packages=PACKAGES) -> dict[str, Path]:
    """Dotted name -> file of every module and package under ``packages``."""
    modules = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def named_modules(node: ast.AST, importer: str, is_package: bool, modules) -> list[str]:
    """The project modules an import statement names (before their parent packages)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = importer if is_package else importer.rpartition(".")[0]
    for _ in range(node.level - 1):
        base = base.rpartition(".")[0]
    source = ".".join(part for part in (base if node.level else "", node.module or "") if part)
    return [
        f"{source}.{alias.name}" if f"{source}.{alias.name}" in modules else source
        for alias in node.names
    ]


def imported(name: str, importer: str, modules) -> list[str]:
    """``name`` and the packages above it that importing it runs, less the importer's own."""
    parts = name.split(".")
    above = [".".join(parts[:end]) for end in range(1, len(parts))]
    own = [package for package in above if importer.startswith(package + ".")]
    return [module for module in (*above, name) if module in modules and module not in own]


def import_graph(root: Path = ROOT, packages=PACKAGES) -> Edges:
    modules = project_modules(root, packages)
    graph: Edges = {name: {} for name in modules}
    for importer, path in modules.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            for name in named_modules(node, importer, is_package, modules):
                for module in imported(name, importer, modules):
                    if module != importer:
                        where = f"{path.relative_to(root)}:{node.lineno}"
                        graph[importer].setdefault(module, where)
    return graph


def find_cycle(graph: Edges) -> list[str]:
    """One circle of the graph as the modules along it (first == last), or [] when none."""
    state: dict[str, str] = {}  # "open" while on the path, "done" after
    path: list[str] = []

    def visit(module: str) -> list[str]:
        state[module] = "open"
        path.append(module)
        for target in sorted(graph.get(module, {})):
            if state.get(target) == "open":
                return path[path.index(target) :] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[module] = "done"
        return []

    for module in sorted(graph):
        if module not in state and (cycle := visit(module)):
            return cycle
    return []


def describe(cycle: list[str], graph: Edges) -> str:
    steps = [f"  {a} -> {b}   ({graph[a][b]})" for a, b in pairwise(cycle)]
    return "the modules import one another in a circle:\n" + "\n".join(steps)


def test_the_project_modules_import_one_another_without_a_circle():
    graph = import_graph()
    assert len(graph) > 50 and any(graph.values()), f"found only {len(graph)} modules in {ROOT}"
    cycle = find_cycle(graph)
    assert not cycle, describe(cycle, graph)


def write_tree(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def test_the_graph_counts_imports_in_functions_relative_ones_and_parent_packages(tmp_path):
    write_tree(
        tmp_path,
        {
            "pkg/__init__.py": "from pkg.inner import thing\n",
            "pkg/inner.py": "def thing():\n    from . import other\n",
            "pkg/other.py": "import json\nfrom pkg import inner\n",
            "app/__init__.py": "",
            "app/helper.py": "",
            "app/main.py": "from pkg.other import value\nfrom app import helper\n",
            "app/sub/__init__.py": "",
            "app/sub/deep.py": "from .. import helper\n",
        },
    )
    graph = import_graph(tmp_path, ("pkg", "app"))
    assert graph["pkg.inner"] == {"pkg.other": "pkg/inner.py:2"}  # relative, in a function
    assert set(graph["app.main"]) == {"pkg", "pkg.other", "app.helper"}  # pkg's __init__ runs
    assert set(graph["app.sub.deep"]) == {"app.helper"}
    assert find_cycle(graph) == ["pkg.inner", "pkg.other", "pkg.inner"]
    assert "pkg.inner -> pkg.other   (pkg/inner.py:2)" in describe(find_cycle(graph), graph)
    write_tree(tmp_path, {"pkg/inner.py": "def thing():\n    pass\n"})
    assert find_cycle(import_graph(tmp_path, ("pkg", "app"))) == []
