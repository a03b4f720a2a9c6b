"""The house rules of the package, read from its source: one owner per boundary, small modules,
no import circles."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parent.parent / "poorenv"
MODULES = sorted(p for p in PACKAGE.rglob("*.py") if "_data" not in p.parts)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path) -> Iterator[str]:
    """Every module `path` imports, at the top or inside a function, but not for type checking
    only."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(child) for stmt in node.body for child in ast.walk(stmt))
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            for alias in node.names:  # `from poorenv.lock import pylock` imports a module
                yield f"{node.module}.{alias.name}"


NAMES = {module_name(p): p for p in MODULES}


def graph() -> dict[str, set[str]]:
    return {
        name: {m for m in imports(path) if m in NAMES and m != name} for name, path in NAMES.items()
    }


@pytest.mark.parametrize("path", MODULES, ids=[module_name(p) for p in MODULES])
def test_no_module_is_over_400_lines(path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= 400, f"{path.name}: {lines} lines; split it by what it owns"


def test_only_the_run_seam_starts_processes() -> None:
    users = sorted(
        module_name(p) for p in MODULES if "subprocess" in set(imports(p)) and p.name != "_run.py"
    )
    assert users == [], f"import poorenv._run instead of subprocess in: {users}"


def test_no_import_circles() -> None:
    edges = graph()
    circles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        for nxt in sorted(edges[node]):
            if nxt in path:
                circles.append([*path[path.index(nxt) :], nxt])
            elif len(path) < 12:
                visit(nxt, [*path, nxt])

    for start in sorted(edges):
        visit(start, [start])
    assert circles == [], "import circles: " + "; ".join(" -> ".join(c) for c in circles[:5])


def test_the_fast_path_imports_only_light_modules() -> None:
    """What the no-op path imports (entry -> state.fastpath -> ...) stays within os, sys, stat
    and _json (the C scanner json.loads uses): not typing, collections.abc, json or re, so that
    every form of `poorenv sync`/`check` costs little more than an interpreter start."""
    edges = graph()
    seen: set[str] = set()
    todo = ["poorenv.entry"]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        tree = ast.parse(NAMES[name].read_text(encoding="utf-8"))
        # Top-level imports only, a `try:` too: the lazy ones and TYPE_CHECKING's never run here.
        body = [
            n
            for top in tree.body
            for n in ([top, *top.body] if isinstance(top, ast.Try) else [top])
        ]
        for node in body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                mods = (
                    [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module]
                )
                for mod in mods:
                    if mod and mod.startswith("poorenv"):
                        todo.extend(m for m in edges[name] if m == mod or m.startswith(mod + "."))
                    else:
                        assert mod in {"__future__", "os", "sys", "stat", "_json"}, (
                            f"{name} imports {mod} on the no-op path"
                        )
            elif isinstance(node, ast.Assign) and "TYPE_CHECKING" in ast.unparse(node):
                assert ast.unparse(node) == "TYPE_CHECKING = False", name
    assert {"poorenv.state.fastpath", "poorenv.paths", "poorenv.discover.places"} <= seen


def test_the_installed_command_imports_nothing_before_the_no_op_path() -> None:
    """`poorenv` is installed from bin/poorenv (script-files), not as an entry point whose
    wrapper imports re; its only imports are sys and poorenv.entry."""
    import sys

    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib

    root = PACKAGE.parent
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    assert "scripts" not in project["project"]
    assert project["tool"]["setuptools"]["script-files"] == ["bin/poorenv"]
    script = (root / "bin" / "poorenv").read_text(encoding="utf-8")
    assert script.startswith("#!python\n")
    tree = ast.parse(script)
    found = [ast.unparse(n) for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert found == ["import sys", "from poorenv.entry import main"]
