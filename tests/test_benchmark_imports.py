"""Every name a benchmark script imports from the project exists: the scripts import lazily inside
main(), so a renamed library name would otherwise surface only when someone runs a long benchmark."""
from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROJECT = ("xsent_core", "views", "db", "tests", "benchmarks")
SCRIPTS = sorted((ROOT / "benchmarks").glob("*.py"))


def project_imports(path: Path) -> list[tuple[str, str, int]]:
    """(module, name, line) for each `from <project module> import name` anywhere in the file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and node.module.split(".")[0] in PROJECT:
            found += [(node.module, alias.name, node.lineno) for alias in node.names]
    return found


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_benchmark_imports_name_what_exists(script):
    missing = []
    for module, name, line in project_imports(script):
        target = importlib.import_module(module)
        if not hasattr(target, name):
            try:
                importlib.import_module(f"{module}.{name}")  # a submodule
            except ModuleNotFoundError:
                missing.append(f"{script.name}:{line}: {module} has no {name}")
    assert not missing, "\n".join(missing)


def test_the_check_sees_a_missing_name(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def main():\n    from views.services import NO_SUCH_NAME\n", encoding="utf-8")
    assert project_imports(bad) == [("views.services", "NO_SUCH_NAME", 2)]
    assert not hasattr(importlib.import_module("views.services"), "NO_SUCH_NAME")
