"""The import rules of ARCHITECTURE.md, checked on the source: every import in `agentkit/`
(at the top, inside functions, under TYPE_CHECKING) points to the same or a lower layer, no
modules import each other in a circle, and the ready tools and recipes use public names only."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "agentkit"

# Lowest first; a module may import from its own layer and the layers below it.
LAYERS: list[tuple[str, ...]] = [
    ("agentkit._errors", "agentkit._public"),
    ("agentkit._api",),
    ("agentkit._loop",),
    ("agentkit._tools",),
    ("agentkit._durable",),
    ("agentkit._run",),
    ("agentkit", "agentkit.errors", "agentkit.events", "agentkit.context"),
    # Integrations with other systems, each an optional extra: they use the public surface.
    ("agentkit.otel", "agentkit.mcp", "agentkit.dbos"),
    ("agentkit.testing",),
    ("agentkit.workflows",),
    ("agentkit.cli", "agentkit.__main__"),
]
# `agentkit` keeps serving the workflow names it exported before `agentkit.workflows` existed,
# loaded on first use (its `__getattr__`), and `agentkit.instrument()` loads `agentkit.otel` when
# called: the only imports that point up, on purpose.
FORWARDS = {("agentkit", "agentkit.workflows"), ("agentkit", "agentkit.otel")}
PUBLIC = {
    "agentkit",
    "agentkit.errors",
    "agentkit.events",
    "agentkit.context",
    "agentkit.otel",
    "agentkit.mcp",
    "agentkit.dbos",
    "agentkit.workflows",
    "agentkit.testing",
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def layer(module: str) -> int:
    best, depth = -1, -1
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            matches = module == prefix or module.startswith(prefix + ".")
            if matches and prefix.count(".") > depth and not (
                prefix == "agentkit" and module != "agentkit"
            ):
                best, depth = index, prefix.count(".")
    if best < 0:
        raise AssertionError(f"{module} is in no layer: add it to ARCHITECTURE.md and LAYERS")
    return best


def imports(
    path: Path, known: dict[str, Path], name: str | None = None
) -> Iterator[tuple[int, str]]:
    """(line, agentkit module) for every import in the file (module `name`, by default the
    one its path says), resolved to a module."""
    name = name or module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "agentkit":
                    yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            if target.split(".")[0] != "agentkit":
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                yield node.lineno, sub if sub in known else target


def test_every_module_has_a_layer() -> None:
    for name in modules():
        layer(name)


def upward_imports(known: dict[str, Path]) -> list[str]:
    """Every import of a module from a higher layer than its own, but the listed forwards."""
    return [
        f"{name}:{line} imports {target} (layer {layer(target)} > {layer(name)})"
        for name, path in known.items()
        for line, target in imports(path, known, name)
        if layer(target) > layer(name) and (name, target) not in FORWARDS
    ]


def test_no_module_imports_from_a_higher_layer() -> None:
    assert upward_imports(modules()) == []


def test_the_core_never_imports_the_fakes_or_the_command_line() -> None:
    known = modules()
    core = [n for n in known if layer(n) <= layer("agentkit._run")]
    wrong = [
        f"{n} imports {t}"
        for n in core
        for _, t in imports(known[n], known)
        if t.startswith(("agentkit.testing", "agentkit.cli"))
    ]
    assert wrong == []


def test_no_import_circles_between_modules() -> None:
    known = modules()
    graph = {
        n: {t for _, t in imports(p, known) if t in known and t != n and not n.startswith(t + ".")}
        for n, p in known.items()
    }
    # A package's __init__ re-exporting its own modules is not a circle of the design.
    for n in graph:
        graph[n] = {t for t in graph[n] if not (t.startswith(n + "."))}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for n in sorted(graph):
        if n not in state:
            visit(n, [n])
    assert cycles == []


@pytest.mark.parametrize("folder", ["tools/agentkit_tools", "recipes/agentkit_recipes"])
def test_ready_tools_and_recipes_use_public_modules_only(folder: str) -> None:
    wrong: list[str] = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom) and not node.level
                else []
            )
            wrong += [
                f"{path.relative_to(ROOT)}:{node.lineno} {n}"
                for n in names
                if n.split(".")[0] == "agentkit" and n not in PUBLIC
            ]
    assert wrong == []


def test_the_module_map_names_every_module() -> None:
    text = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    missing = [
        str(p.relative_to(PACKAGE))
        for p in modules().values()
        if p.name != "__init__.py" and str(p.relative_to(PACKAGE)) not in text
    ]
    assert missing == []


def test_the_checker_sees_a_violation(tmp_path: Path) -> None:
    # The rules above must be able to fail: a client module importing the driver, lazily
    # inside a function and under TYPE_CHECKING, is reported both times.
    bad = tmp_path / "bad.py"
    bad.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from .._run.agent import Agent\n"
        "def f():\n    from agentkit.cli import main\n",
        encoding="utf-8",
    )
    known = {**modules(), "agentkit._api.bad": bad}
    found = [v for v in upward_imports(known) if v.startswith("agentkit._api.bad:")]
    assert found == [
        "agentkit._api.bad:3 imports agentkit._run.agent (layer 5 > 1)",
        "agentkit._api.bad:5 imports agentkit.cli.main (layer 10 > 1)",
    ]
