"""Editing notebooks the way a student (or a mutation) would: find the cell that defines a
name, replace text in it. Shared by `grader validate` (mutants) and scripts/ (samples)."""
from __future__ import annotations

import ast
import copy

from grader.errors import GraderError


class EditError(GraderError):
    """An edit found nothing to edit: a stale mutant or sample must fail loudly."""


def defined_names(source: str) -> set[str]:
    """Top-level names a cell's source defines (functions, classes, assignments)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):  # ValueError: a NUL byte on Python < 3.11.4
        return set()
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
    return names


def find_cell(nb, name: str):
    """The code cell defining `name`, or the TODO cell tagged with that name."""
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        if cell.metadata.get("grader", {}).get("todo") == name or name in defined_names(cell.source):
            return cell
    raise EditError(f"no cell defines {name!r}")


def replace_cell_source(nb, name: str, source: str):
    """A copy of nb whose cell defining `name` has the new source."""
    nb = copy.deepcopy(nb)
    find_cell(nb, name).source = source
    return nb


def edit_cell_source(nb, name: str, old: str, new: str, count: int = 1):
    """A copy of nb with `old` replaced by `new` (count times) in the cell defining `name`."""
    nb = copy.deepcopy(nb)
    cell = find_cell(nb, name)
    if cell.source.count(old) < count:
        raise EditError(f"cell defining {name!r} does not contain {old!r}")
    cell.source = cell.source.replace(old, new, count)
    return nb
