"""The tests' own layout: no test module imports another test module (or conftest.py), and
neither testkit/ nor bench/ imports the test package."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at the top or inside a function."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_no_test_module_imports_another_test_module_or_conftest():
    offenders = {
        str(path.relative_to(ROOT)): sorted(name for name in imported_modules(path)
                                            if name.split(".")[-1].startswith("test_") or name.endswith("conftest"))
        for path in sorted((ROOT / "essay_assets_tests").rglob("*.py"))
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def test_testkit_and_bench_do_not_import_the_tests():
    offenders = {
        str(path.relative_to(ROOT)): sorted(name for name in imported_modules(path)
                                            if name.split(".")[0] == "essay_assets_tests")
        for folder in ("testkit", "bench") for path in sorted((ROOT / folder).rglob("*.py"))
    }
    assert {path: names for path, names in offenders.items() if names} == {}
