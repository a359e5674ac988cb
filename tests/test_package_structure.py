"""The package's shape: every module imports, no import cycles, one door to the networks.

The import graph counts every `import` in a module, at its top or inside a function (a lazy
import still ties the two modules together), and only edges between the kit's own modules.
"""
import ast
import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "dsf"

# Where the networks may be indexed: the pipeline, the stage modules and the training code.
NETWORK_OWNERS = {"pipeline.py", "components.py", "embedding.py", "manifold.py", "fusion.py", "synthesis.py",
                  "networks.py"}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imported_modules(name: str) -> set:
    """The kit's modules that module `name` imports anywhere in its source."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(filter(None, [base, node.module]))
            for alias in node.names:  # `from . import params` names a module, `from .config import PARTS` does not
                found.add(f"{module}.{alias.name}" if f"{module}.{alias.name}" in MODULES else module)
    return (found & set(MODULES)) - {name}


def find_cycle(graph: dict) -> list | None:
    """One import cycle as a list of modules (first = last), or None."""
    state = {}  # module → "open" while on the current path, "done" after

    def visit(module, path):
        state[module] = "open"
        for other in sorted(graph[module]):
            if state.get(other) == "open":
                return path[path.index(other):] + [other]
            if other not in state and (cycle := visit(other, path + [other])):
                return cycle
        state[module] = "done"
        return None

    for module in sorted(graph):
        if module not in state and (cycle := visit(module, [module])):
            return cycle
    return None


def test_the_kit_has_no_import_cycle():
    graph = {name: imported_modules(name) for name in MODULES}
    assert graph["dsf.sketch_pad"] >= {"dsf.pad_controller", "dsf.widgets"}  # the graph sees real edges
    assert find_cycle(graph) is None, " → ".join(find_cycle(graph))


def test_find_cycle_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_benchmark_and_the_pad_controller_do_not_need_the_widget_stack():
    def reachable(start):
        seen, todo = set(), [start]
        while todo:
            for other in imported_modules(todo.pop()) - seen:
                seen.add(other)
                todo.append(other)
        return seen

    for module in ("dsf.bench", "dsf.pad_controller", "dsf.pipeline", "dsf.viz"):
        assert not reachable(module) & {"dsf.widgets", "dsf.sketch_pad"}, module


@pytest.mark.parametrize("name", sorted(MODULES))
def test_every_module_imports(name):
    importlib.import_module(name)


def test_only_the_pipeline_stages_and_training_index_the_networks():
    pattern = re.compile(r"\.networks\s*(\[|\.get\()")
    offenders = []
    for path in [*PACKAGE.rglob("*.py"), *(ROOT / "notebooks").glob("*.py")]:
        owner = path.parent == PACKAGE and path.name in NETWORK_OWNERS
        if owner or path.parent == PACKAGE / "train":
            continue
        offenders += [f"{path.relative_to(ROOT)}:{i}" for i, line in enumerate(path.read_text().splitlines(), 1)
                      if pattern.search(line)]
    assert not offenders, f"index the networks through dsf.Pipeline instead: {offenders}"
