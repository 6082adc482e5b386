"""The house rules of the package layout (docs/architecture.md), checked on the source with ``ast``:

* every module belongs to one layer, and imports only from its own package or from layers below it;
* no import cycle between modules, counting imports inside functions and under ``TYPE_CHECKING`` too;
* the torch-free layers (``base``, ``spec``) import neither torch nor anything that does;
* nothing outside ``analysis/ops.py`` spells an ATen operator name (the one operator table).
"""

from __future__ import annotations

import ast
import pathlib
import re

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "resnet_cli"

# lower number = lower layer; a module may import from a strictly lower layer or from its own package
LAYERS = {
    "base": 0,
    "spec": 1,
    "nn": 2,
    "analysis": 3,
    "sources": 4,
    "structure": 5,
    "report": 6,
    "comparison": 7,
    "benchmark": 7,
    "profiling": 7,
    "render": 8,
    "views": 9,
    "api": 10,
    "__init__": 10.5,  # the public names, loaded from api on first use
    "cli": 11,
    "__main__": 12,
}
TORCH_FREE = ("base", "spec")


def _module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> dict[str, pathlib.Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


MODULES = _modules()


def _resolve(importer: str, node: ast.ImportFrom) -> list[str]:
    """The modules of ours an ImportFrom names (``from resnet_cli.x import y`` names x.y if y is a module)."""
    if node.level:
        base = importer.split(".")
        is_package = MODULES.get(importer, pathlib.Path()).name == "__init__.py"
        base = base if is_package else base[:-1]
        base = base[: len(base) - node.level + 1]
        module = ".".join(base + ([node.module] if node.module else []))
    else:
        module = node.module or ""
    if not module.startswith("resnet_cli"):
        return []
    found = []
    for alias in node.names:
        child = f"{module}.{alias.name}"
        found.append(child if child in MODULES else module)
    return found


def imports_of(name: str) -> set[str]:
    tree = ast.parse(MODULES[name].read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            found.update(_resolve(name, node))
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("resnet_cli"))
    return {m for m in found if m != name and m in MODULES and m != "resnet_cli"}


GRAPH = {name: imports_of(name) for name in MODULES}


def layer_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_every_module_has_a_layer():
    unknown = sorted(m for m in MODULES if layer_of(m) not in LAYERS)
    assert not unknown, f"modules outside every layer (add the package to LAYERS and docs/architecture.md): {unknown}"


def test_imports_point_down_only():
    wrong = []
    for module, targets in GRAPH.items():
        here = layer_of(module)
        for target in targets:
            there = layer_of(target)
            if there != here and LAYERS[there] >= LAYERS[here]:
                wrong.append(f"{module} -> {target}")
    assert not wrong, "imports that point up or sideways:\n" + "\n".join(sorted(wrong))


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles():
    assert _cycles(GRAPH) == []


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


@pytest.mark.parametrize("layer", TORCH_FREE)
def test_torch_free_layers_import_no_torch(layer):
    for module, path in MODULES.items():
        if layer_of(module) != layer:
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            assert not any(n == "torch" or n.startswith("torch.") for n in names), f"{module} imports torch"


ATEN_NAME = re.compile(r"""["']aten\.[a-z_]""")


def test_aten_names_are_written_in_the_operator_table_only():
    spelled = []
    for module, path in MODULES.items():
        if module == "resnet_cli.analysis.ops":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if ATEN_NAME.search(line):
                spelled.append(f"{module}:{number}: {line.strip()}")
    assert not spelled, "ATen names outside analysis/ops.py:\n" + "\n".join(spelled)


def test_the_architecture_doc_describes_every_package():
    doc = (PACKAGE.parent / "docs" / "architecture.md").read_text()
    packages = sorted({layer_of(m) for m in MODULES} - {"__init__", "__main__", "api"})
    missing = [p for p in packages if f"\n  {p}/" not in doc]
    assert not missing, f"docs/architecture.md does not describe: {missing}"
