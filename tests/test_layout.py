"""The layout the README's "how it is built" describes: packages by concept, imports one way.

An import cycle is a loop in the graph of the package's own import statements, module to module
(relative and absolute, at the top of a file or inside a function: an import moved into a function
to dodge a cycle still is one). Python also runs a package's ``__init__`` before any of its modules;
those implied edges are not counted, since the root ``__init__`` is ComfyUI's entry point and must
import the nodes.
"""

from __future__ import annotations

import ast
import os

import stylefusion

ROOT = os.path.dirname(os.path.abspath(stylefusion.__file__))
SKIP = {"tests", "docs", "example_workflows", ".venv", ".ci-venv", "runs", "scratch", "build"}


def _modules() -> dict[str, str]:
    found = {}
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in SKIP and not d.startswith(".") and d != "__pycache__"]
        for name in files:
            if name.endswith(".py"):
                rel = os.path.relpath(os.path.join(folder, name), ROOT)[:-3].split(os.sep)
                if rel[-1] == "__init__":
                    rel = rel[:-1]
                found[".".join(["stylefusion", *rel])] = os.path.join(folder, name)
    return found


def _imports(module: str, path: str, modules: dict[str, str]) -> set[str]:
    package = module if path.endswith("__init__.py") else module.rsplit(".", 1)[0]
    targets = set()
    for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            names = [f"{origin}.{a.name}" if f"{origin}.{a.name}" in modules else origin for a in node.names]
        else:
            continue
        targets |= {n for n in names if n in modules and n != module}
    return targets


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
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

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_no_import_cycle_between_the_modules():
    modules = _modules()
    graph = {m: _imports(m, p, modules) for m, p in modules.items()}
    assert len(graph) > 40
    assert _cycles(graph) == []


def test_nothing_loose_at_the_root_but_the_package_face():
    loose = sorted(f for f in os.listdir(ROOT) if f.endswith(".py"))
    assert loose == ["__init__.py", "__main__.py"]


def test_layers_import_one_way():
    """networks/ is the bottom (it reads its weights through storage/weights.py), storage/ sits on the
    networks, models/ (the public API) on both; none of them imports ComfyUI, nodes, runner or cli."""
    modules = _modules()
    for module, path in modules.items():
        imported = _imports(module, path, modules)
        layer = module.split(".")[1] if "." in module else ""
        if layer == "networks":
            assert all(i.startswith("stylefusion.networks") or i == "stylefusion.storage.weights" for i in imported), module
        if layer == "storage":
            assert all(i.split(".")[1] in ("networks", "storage") for i in imported), module
        if layer in ("networks", "storage", "models", "training"):
            assert not any(i.split(".")[1] in ("nodes", "cli") for i in imported), module
        source = open(path, encoding="utf-8").read()
        if layer in ("networks", "storage", "models", "training"):
            assert "import comfy" not in source and "from comfy" not in source, module
