"""Extract stage: find the rubric's targets in a notebook's code by AST, with what they need.

The cells read here are the PREPARED cells (grader/execute/prepare.py), the same source
the kernel runs: a line a rule skipped or rewrote for the kernel is skipped or rewritten
here too, and nothing is rewritten a second time for the probes. The cells are turned into
Python (IPython magics and `!cmd` become calls through IPython's own transformer), parsed
statement by statement, and for each target the *last* top-level definition wins, as it
would in the kernel; a definition inside a later top-level if/try/with (`if USE_MINE: def
f(...)`, `try: import x`) comes with it and, when its branch runs, replaces it, as in the
kernel. The module handed to a probe holds that definition plus, by name
resolution, the imports, helper functions, classes and constants it refers to, in
notebook order. Nothing here executes student code.

IPython lines and the probes (to_python): a probe has no IPython shell, so a top-level
statement that only drives IPython (`%matplotlib inline`, `!ls`) is dropped. Inside a
function or class body such a line is KEPT: it runs in the kernel when the function is
called, so a probe of that function must not silently run something else (it fails on the
missing `get_ipython` instead; e.g. a line that raises NotImplementedError through IPython
in the kernel cannot pass in the probe). A cell whose magic runs its body as the cell's own
code in the user namespace (%%time, %%capture, %%prun) is read as that body: the kernel
defines what it defines, so a later definition there replaces an earlier one here too.
"""
from __future__ import annotations

import ast
import builtins
import difflib
from dataclasses import dataclass, field

_BUILTINS = set(dir(builtins))


@dataclass(frozen=True)
class Stmt:
    cell: int
    order: int
    node: ast.stmt
    source: str
    binds: frozenset[str]
    uses: frozenset[str]
    kind: str  # def | class | import | assign | star_import | conditional | other


@dataclass
class Extraction:
    stmts: list[Stmt]
    problems: list[str] = field(default_factory=list)  # cells that could not be parsed, ...
    _last: dict[str, Stmt] = field(default_factory=dict)
    # definitions inside a top-level if/try/with after the name's last plain binding: they
    # replace it in the kernel when their branch runs, so a probe runs them too, in order
    _cond: dict[str, list[Stmt]] = field(default_factory=dict)

    def defined_names(self) -> list[str]:
        return sorted(set(self._last) | set(self._cond))

    def find(self, name: str) -> Stmt | None:
        later = self._cond.get(name)
        return later[-1] if later else self._last.get(name)

    def missing_message(self, name: str, notebook: str, kind: str = "function or class") -> str:
        defined = [n for n, s in self._last.items() if s.kind in ("def", "class")] + [n for n in self._cond if n not in self._last]
        close = difflib.get_close_matches(name, defined, n=3, cutoff=0.6)
        lower = [n for n in defined if n.lower() == name.lower() and n != name]
        hint = lower or close
        msg = f"no {kind} `{name}` in {notebook}"
        if hint:
            msg += "; found " + ", ".join(f"`{h}`" for h in hint) + " (rename it to `" + name + "`)"
        return msg

    def module_for(self, targets: list[str], exclude: set[str] | frozenset[str] = frozenset()) -> str:
        """Source of a module defining `targets` and everything they refer to.

        Names in `exclude` are never pulled in as dependencies (e.g. `model = train(...)`,
        which would re-run training in a probe that provides `model` itself)."""
        chosen: dict[int, Stmt] = {}
        stars = [s for s in self.stmts if s.kind == "star_import"]
        todo = list(targets)
        seen: set[str] = set()
        while todo:
            name = todo.pop()
            if name in seen:
                continue
            seen.add(name)
            if name in exclude and name not in targets:
                continue
            for stmt in ([self._last[name]] if name in self._last else []) + self._cond.get(name, []):
                if stmt.order not in chosen:
                    chosen[stmt.order] = stmt
                    todo.extend(sorted(stmt.uses - seen))
        for s in stars:
            chosen.setdefault(s.order, s)
        body = [chosen[k].source for k in sorted(chosen)]
        return "\n\n".join(body) + "\n"


# Cell magics that run their body as the cell's code, in the user namespace.
BODY_MAGICS = frozenset({"time", "capture", "prun"})


def _body_magic(text: str) -> str | None:
    """The body of a cell that is one `get_ipython().run_cell_magic(name, line, body)` call
    of a BODY_MAGICS magic, else None."""
    if "run_cell_magic" not in text:
        return None
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return None
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.Expr) or not isinstance(tree.body[0].value, ast.Call):
        return None
    call = tree.body[0].value
    f = call.func
    if not (isinstance(f, ast.Attribute) and f.attr == "run_cell_magic" and isinstance(f.value, ast.Call)
            and isinstance(f.value.func, ast.Name) and f.value.func.id == "get_ipython"):
        return None
    args = call.args
    if len(args) != 3 or not all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in args):
        return None
    return args[2].value if args[0].value in BODY_MAGICS else None


def to_python(cell_source: str, _depth: int = 0) -> str:
    """IPython syntax -> Python (see the module docstring): top-level lines that only drive
    IPython (magics, shell) are dropped; inside definitions they are kept; a %%time /
    %%capture / %%prun cell is its body."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        text = TransformerManager().transform_cell(cell_source)
    except Exception:
        text = cell_source
    body = _body_magic(text) if _depth < 5 else None
    if body is not None:
        return to_python(body, _depth + 1)
    out = []
    for line in text.splitlines():
        stripped = line.strip()
        top_level = line[:1] not in (" ", "\t")
        if top_level and "get_ipython()" in stripped and stripped.startswith(("get_ipython()", "_ =", "__ =")):
            out.append("pass")
        else:
            out.append(line)
    return "\n".join(out)


def _uses(node: ast.AST) -> set[str]:
    """Free names a statement loads (a conservative over-approximation is fine). ast.walk
    is iterative: an expression nested deeper than the recursion limit (a 600-term sum
    compiles and runs in the kernel) is read like any other."""
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def _target_names(t: ast.expr) -> set[str]:
    """Names an assignment target binds: bare names, also inside tuples, lists, starred."""
    if isinstance(t, ast.Name):
        return {t.id}
    if isinstance(t, (ast.Tuple, ast.List)):
        return set().union(*(_target_names(e) for e in t.elts)) if t.elts else set()
    if isinstance(t, ast.Starred):
        return _target_names(t.value)
    return set()


_BRANCHES = (ast.If, ast.Try, ast.With) + ((ast.TryStar,) if hasattr(ast, "TryStar") else ())


def _defined_in_branches(node: ast.stmt) -> set[str]:
    """Functions, classes and imports defined inside a top-level if/try/with (nested ones
    too; not inside loops or definitions): `if USE_MINE: def f(...)`, `try: import x`."""
    names: set[str] = set()
    for field_name in ("body", "orelse", "finalbody", "handlers"):
        for child in getattr(node, field_name, []):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom)):
                names |= _binds(child)[0]
            elif isinstance(child, (ast.ExceptHandler,) + _BRANCHES):
                names |= _defined_in_branches(child)
    return names


def _binds(node: ast.stmt) -> tuple[set[str], str]:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return {node.name}, "def"
    if isinstance(node, ast.ClassDef):
        return {node.name}, "class"
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        if any(a.name == "*" for a in node.names):
            return set(), "star_import"
        return {(a.asname or a.name).split(".")[0] for a in node.names}, "import"
    # AugAssign (x += 1) is not a definition: the binding before it must stay the last one
    if isinstance(node, (ast.Assign, ast.AnnAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        names = set()
        for t in targets:
            names |= _target_names(t)
        # `torch.backends.cudnn.deterministic = True` binds nothing (it uses torch)
        return names, ("assign" if names else "other")
    if isinstance(node, _BRANCHES):
        names = _defined_in_branches(node)
        return names, ("conditional" if names else "other")
    return set(), "other"


def _segment(src: str, node: ast.stmt) -> str:
    """A statement's source: its text in the cell, or unparsed (a definition with decorators,
    which lie outside its segment); unparsing is recursive, so a statement nested too deeply
    for it keeps its text, decorators and all."""
    seg = ast.get_source_segment(src, node)
    if seg is None or getattr(node, "decorator_list", None):
        try:
            return ast.unparse(node)
        except (RecursionError, MemoryError):
            lines = src.splitlines()
            first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
            return "\n".join(lines[first - 1:node.end_lineno or node.lineno])
    return seg


def extract(cells: list[str]) -> Extraction:
    stmts: list[Stmt] = []
    problems: list[str] = []
    order = 0
    for ci, raw in enumerate(cells):
        src = to_python(raw)
        try:
            tree = ast.parse(src)
        except SyntaxError as exc:
            problems.append(f"cell {ci}: syntax error at line {exc.lineno}: {exc.msg}; its definitions were not found")
            continue
        except ValueError as exc:  # a NUL byte: Python < 3.11.4 raises ValueError, later ones SyntaxError
            problems.append(f"cell {ci}: not Python source ({exc}); its definitions were not found")
            continue
        except (RecursionError, MemoryError):  # nested past what the parser takes (the kernel could not run it either)
            problems.append(f"cell {ci}: nested too deeply to read; its definitions were not found")
            continue
        for node in tree.body:
            binds, kind = _binds(node)
            names = _uses(node)
            used = names - _BUILTINS - binds if kind not in ("def", "class") else names - _BUILTINS
            seg = _segment(src, node)
            stmts.append(Stmt(ci, order, node, seg, frozenset(binds), frozenset(used - {"get_ipython"}), kind))
            order += 1
    ex = Extraction(stmts, problems)
    for s in stmts:
        if s.kind in ("def", "class", "import", "assign"):
            for name in s.binds:
                ex._last[name] = s
                ex._cond.pop(name, None)  # a plain binding replaces what came before, conditional or not
        elif s.kind == "conditional":
            for name in s.binds:
                ex._cond.setdefault(name, []).append(s)
    return ex


def notebook_code_cells(nb) -> list[str]:
    """The code cells' sources (a source that is not text counts as an empty cell)."""
    cells = []
    for c in nb.get("cells", []):
        if isinstance(c, dict) and c.get("cell_type") == "code":
            src = c.get("source", "")
            if isinstance(src, list) and all(isinstance(x, str) for x in src):
                src = "".join(src)
            cells.append(src if isinstance(src, str) else "")
    return cells
