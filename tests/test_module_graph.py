"""The project's imports run one way: no cycle (imports inside functions count), and the answer
stages and the CLI's start reach no heavy library."""

import ast
import subprocess
import sys

from conftest import REPO

PACKAGES = ("corpus", "index", "assistant", "ui")
HEAVY = ("torch", "transformers", "peft", "gradio", "faiss", "sentence_transformers", "matplotlib")


def project_modules() -> dict[str, ast.Module]:
    """Dotted module name -> parsed source, for every module of the project's packages."""
    modules = {}
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            parts = path.relative_to(REPO).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            modules[name] = ast.parse(path.read_text("utf-8"))
    return modules


def imports_of(name: str, tree: ast.Module, known: set[str]) -> set[str]:
    """The project modules ``name`` imports anywhere in its body (``from a.b import c`` names a.b.c
    when that is a module, else a.b); a relative import is resolved against ``name``'s package."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = name.split(".")[: -node.level] if name not in {p for p in PACKAGES} else [name]
                base = ".".join(package + ([base] if base else []))
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        found |= {t for t in targets if t in known and t != name}
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), or a module importing itself."""
    index, low, stack, on_stack, result, counter = {}, {}, [], set(), [], [0]

    def visit(node):
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph[node]:
                result.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return result


def module_graph() -> dict[str, set[str]]:
    modules = project_modules()
    return {name: imports_of(name, tree, set(modules)) for name, tree in modules.items()}


def test_the_module_graph_has_no_cycle():
    graph = module_graph()
    assert len(graph) > 40 and graph["assistant.answer.pipeline"]  # the walk found the modules and their imports
    assert cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle_through_an_import_inside_a_function():
    tree = ast.parse("def f():\n    from b import x\n")
    graph = {"a": imports_of("a", tree, {"a", "b"}), "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]


def test_layers_import_downward_only():
    """corpus knows nothing of index; index nothing of the assistant; the answer stages reach a
    model only through llm.base; ui only the assistant's API and its plain helpers."""
    graph = module_graph()
    for name, targets in graph.items():
        if name.startswith("corpus"):
            assert all(t.startswith("corpus") for t in targets), name
        if name.startswith("index"):
            assert all(t.startswith(("corpus", "index")) for t in targets), name
        if name.startswith("assistant.answer"):
            llm = {t for t in targets if t.startswith("assistant.llm")}
            assert llm <= {"assistant.llm.base"}, name
            assert not any(t.startswith(("assistant.training", "assistant.drill", "assistant.cli", "assistant.app",
                                         "assistant.config", "ui")) for t in targets), name
        if name.startswith("assistant") and name != "assistant.cli":  # the CLI's serve starts the page
            assert not any(t.startswith("ui") for t in targets), name


def test_the_answer_stages_and_the_cli_load_no_heavy_library():
    code = ("import sys, assistant.answer.pipeline, assistant.cli; "
            f"print([m for m in {HEAVY!r} if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True).stdout
    assert out.strip() == "[]"
