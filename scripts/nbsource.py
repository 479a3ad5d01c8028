"""Cells of the project's notebooks, described once for both variants.

A notebook is a list of cells; each cell knows its starter text and its solution text.
TODO cells take their solution text from the `reference` package (inspect.getsource)
and derive the starter stub from the same source, so starter, solution and reference
cannot drift apart. Used by scripts/build_notebooks.py.
"""
import ast
import inspect
import textwrap
from dataclasses import dataclass, field

import nbformat

STARTER, SOLUTION = "starter", "solution"


@dataclass(frozen=True)
class Cell:
    kind: str  # "markdown" or "code"
    starter: str
    solution: str
    metadata: dict = field(default_factory=dict)

    def text(self, variant):
        return self.solution if variant == SOLUTION else self.starter


def md(text):
    text = textwrap.dedent(text).strip("\n")
    return Cell("markdown", text, text)


def code(text):
    """Given code, identical in both variants."""
    text = textwrap.dedent(text).strip("\n")
    return Cell("code", text, text)


def source_of(*objs):
    """The source of reference objects (functions, classes), one after the other."""
    return "\n\n".join(textwrap.dedent(inspect.getsource(o)).strip("\n") for o in objs)


def given(*objs, before="", after=""):
    """Given code copied from reference objects, with optional surrounding lines."""
    parts = [textwrap.dedent(before).strip("\n"), source_of(*objs), textwrap.dedent(after).strip("\n")]
    return code("\n\n".join(p for p in parts if p))


def todo(name, *objs, starter=None, solution=None, after="", tags=()):
    """A TODO cell. By default the solution is the source of `objs` and the starter the
    same definitions with every body replaced by `raise NotImplementedError`; explicit
    starter/solution texts are for cells that are statements, not definitions."""
    after = textwrap.dedent(after).strip("\n")
    if solution is None:
        solution = source_of(*objs)
    if starter is None:
        starter = "\n\n\n".join(stub(o) for o in objs)
    starter, solution = (textwrap.dedent(t).strip("\n") for t in (starter, solution))
    if after:
        starter, solution = starter + "\n\n" + after, solution + "\n\n" + after
    metadata = {"tags": ["todo", *tags], "grader": {"todo": name}}
    return Cell("code", starter, solution, metadata)


def stub(obj):
    """Signature(s) and docstring summaries of a function or class, bodies replaced by
    TODOs."""
    src = textwrap.dedent(inspect.getsource(obj))
    lines = src.splitlines()
    node = ast.parse(src).body[0]
    return "\n".join(_stub_lines(node, lines))


def _has_docstring(node):
    first = node.body[0]
    return (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
            and isinstance(first.value.value, str))


def _stub_lines(node, lines):
    start = (node.decorator_list[0].lineno if node.decorator_list else node.lineno) - 1
    body = node.body
    indent = " " * body[0].col_offset
    if _has_docstring(node):
        # Only the docstring's first paragraph (the interface) goes to the starter:
        # the rest of a reference docstring explains the solution.
        out = lines[start:body[0].lineno - 1]
        summary = ast.get_docstring(node).split("\n\n")[0].replace("\n", "\n" + indent)
        out.append(f'{indent}"""{summary}"""')
        body = body[1:]
    else:
        out = lines[start:body[0].lineno - 1]
    if isinstance(node, ast.ClassDef):
        methods = [n for n in body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
        for method in methods:
            out.append("")
            out += _stub_lines(method, lines)
        if not methods and not _has_docstring(node):
            out.append(indent + "pass")
    else:
        out += [indent + "# TODO: your code here", indent + "raise NotImplementedError"]
    return out


def build(cells, variant):
    """An nbformat v4 notebook of the given variant, without outputs."""
    nb = nbformat.v4.new_notebook()
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    for i, cell in enumerate(cells):
        text = cell.text(variant)
        if cell.kind == "markdown":
            nb_cell = nbformat.v4.new_markdown_cell(text)
        else:
            nb_cell = nbformat.v4.new_code_cell(text)
        nb_cell.metadata.update(cell.metadata)
        # Stable ids keep rebuilt notebooks byte-identical.
        nb_cell.id = f"cell-{i:03d}"
        nb.cells.append(nb_cell)
    nbformat.validate(nb)
    return nb
