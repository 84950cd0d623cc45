"""The engine core stays pure: no web framework, no database, no network, no clock."""

from __future__ import annotations

import ast
from pathlib import Path

ENGINE = Path(__file__).parents[2] / "service" / "engine"
FORBIDDEN_MODULES = {"fastapi", "sqlmodel", "sqlalchemy", "httpx", "service.store", "service.api"}
FORBIDDEN_CALLS = {"now", "utcnow", "today", "time", "monotonic"}


def _imports(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def _engine_files() -> list[Path]:
    """Every engine module, subfolders included; checks that the engine is where we look."""
    files = sorted(ENGINE.rglob("*.py"))
    names = {file.relative_to(ENGINE).as_posix() for file in files}
    assert {"core.py", "entry.py", "loader.py", "model.py", "state.py", "triggers.py"} <= names
    return files


def test_engine_imports_no_io_framework() -> None:
    for file in _engine_files():
        imported = _imports(ast.parse(file.read_text()))
        bad = {
            m for m in imported if m.split(".")[0] in FORBIDDEN_MODULES or m in FORBIDDEN_MODULES
        }
        assert not bad, f"{file.name} imports {bad}"


def test_engine_never_reads_the_clock() -> None:
    for file in _engine_files():
        for node in ast.walk(ast.parse(file.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                owner = ast.unparse(node.func.value)
                if node.func.attr in FORBIDDEN_CALLS and owner in {"datetime", "date", "time"}:
                    raise AssertionError(
                        f"{file.name}:{node.lineno} calls {owner}.{node.func.attr}()"
                    )
