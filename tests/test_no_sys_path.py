"""Tests import their helpers through pytest's `pythonpath` (pyproject.toml), not by editing
sys.path: a test file that inserts a path changes what every later test file imports.
Code inside string literals (run in a subprocess or a kernel) is not looked at."""
from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def sys_path_edits(source: str) -> list[int]:
    """Line numbers of sys.path.insert/append/extend/remove calls and of assignments to sys.path."""
    out = []
    for node in ast.walk(ast.parse(source)):
        target = None
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            target = node.func.value if node.func.attr in ("insert", "append", "extend", "remove") else None
        elif isinstance(node, (ast.Assign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            target = next((t for t in targets if isinstance(t, (ast.Attribute, ast.Subscript))), None)
            if isinstance(target, ast.Subscript):
                target = target.value
        if (isinstance(target, ast.Attribute) and target.attr == "path" and isinstance(target.value, ast.Name)
                and target.value.id == "sys"):
            out.append(node.lineno)
    return sorted(out)


def test_no_test_file_edits_sys_path():
    found = {}
    for p in sorted(TESTS.rglob("*.py")):
        try:
            lines = sys_path_edits(p.read_text(encoding="utf-8"))
        except SyntaxError:
            continue
        if lines:
            found[str(p.relative_to(TESTS.parent))] = lines
    assert not found, f"use pyproject's [tool.pytest.ini_options] pythonpath instead of sys.path edits: {found}"


def test_the_scan_finds_each_form_and_ignores_strings():
    src = ("import sys\nsys.path.insert(0, 'x')\ndef f():\n    sys.path.append('y')\nsys.path[:0] = ['z']\n"
           "sys.path += ['w']\ncode = \"import sys\\nsys.path.insert(0, 'q')\"\nother.path.insert(0, 'ok')\n")
    assert sys_path_edits(src) == [2, 4, 5, 6]


def test_no_test_file_imports_from_a_conftest():
    """`from conftest import X` finds whichever conftest.py is first on sys.path (the suite
    has several: under xdist it found tests/sandbox/conftest.py): shared names live in
    tests/factories.py."""
    found = []
    for p in sorted(TESTS.rglob("*.py")):
        try:
            tree = ast.parse(p.read_text(encoding="utf-8"))
        except SyntaxError:
            continue
        found += [f"{p.relative_to(TESTS.parent)}:{n.lineno}" for n in ast.walk(tree)
                  if (isinstance(n, ast.ImportFrom) and n.module == "conftest")
                  or (isinstance(n, ast.Import) and any(a.name == "conftest" for a in n.names))]
    assert not found, f"import shared test helpers from factories, not conftest: {found}"
