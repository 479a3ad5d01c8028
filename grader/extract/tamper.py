"""A static scan, on the AST, for code that tampers with the kernel's own machinery.

The executor learns whether a cell failed from the kernel's reply. Code that rewires how
the kernel runs cells or reports errors (wrapping run_cell, input or AST transformers,
replacing showtraceback or sys.excepthook, custom exception handlers, patching the
kernel's replies) can make a failing notebook look clean, so its execution record cannot
be trusted. Nothing a homework needs touches these; the grader reports each hit and treats
the notebook as not executable.

Each cell is turned into Python by IPython's own transformer (magics and `!cmd` become
get_ipython() calls, which are KEPT here: they run in the kernel), parsed, and walked:

  - the machinery's names, wherever they are used: attributes (`ip.run_cell_async`,
    `sh.showtraceback`, `sys.excepthook`, `k.session.send`, `ip.events.register`, ...),
    imports of them, and string constants that name them (`getattr(ip, "run_cell")`,
    `vars(ip)["showtraceback"]`);
  - names built at run time: getattr/setattr/delattr (and __getattribute__/__setattr__),
    `vars(x)[...]`, `x.__dict__[...]` with a NON-constant name on anything that reaches the
    kernel's machinery: get_ipython() results, the IPython / ipykernel / zmq /
    jupyter_client / traitlets modules, sys, builtins and `__builtins__`, frames
    (sys._getframe, f_globals), the garbage collector's object lists, and every name,
    attribute, loop variable or function parameter such a value flows into (a simple
    flow over the whole notebook, to a fixed point);
  - namespaces indexed by a name built at run time: `globals()[...]`, `locals()[...]`,
    `vars()[...]`, `sys.modules[...]`, `__builtins__[...]`;
  - modules imported by a name built at run time (`__import__(x)`,
    `importlib.import_module(x)`);
  - code built at run time: exec/eval/compile of a string assembled in the notebook
    (decoded from base64/hex/zlib/bytes, joined, concatenated, formatted, reversed, or
    taken from the machinery; names are followed through their assignments). A string
    constant is parsed and scanned like a cell, and so are the bodies of cell magics and
    the code of line magics such as %time.

A cell that cannot be parsed is scanned as text with the former line patterns (it cannot
run in the kernel either, unless the kernel's Python differs from the grader's).

Limits: a static scan cannot see code the notebook reads from a file or the network and
runs by ordinary means (`import helper` after writing helper.py). The executor's witness
(grader/execute/executor.py, WITNESS_DOC) is the run-time backstop: it compares an
independent record of each cell's outcome with the kernel's replies.
"""
from __future__ import annotations

import ast
import re

RUNS = "rewires how the kernel runs cells"
TRANSFORMS = "installs input/AST transformers that rewrite later cells"
REPORTS = "replaces the kernel's error reporting"
EXCEPTHOOK = "replaces sys.excepthook"
REPLIES = "patches the kernel's replies"
EVENTS = "registers kernel event callbacks"
RUNTIME = "reaches the kernel's machinery by a name built at run time"
NAMESPACE = "looks a name up in a namespace by a name built at run time"
IMPORT = "imports a module by a name built at run time"
CODE = "runs code built at run time (the scan cannot see what it does)"

# Attribute names of the machinery: flagged wherever they appear (attribute, import, string).
SENSITIVE = {
    "run_cell": RUNS, "run_cell_async": RUNS, "_run_cell": RUNS, "run_ast_nodes": RUNS, "run_code": RUNS,
    "input_transformers": TRANSFORMS, "input_transformers_cleanup": TRANSFORMS, "input_transformers_post": TRANSFORMS,
    "ast_transformers": TRANSFORMS, "input_transformer_manager": TRANSFORMS, "cleanup_transforms": TRANSFORMS,
    "line_transforms": TRANSFORMS, "token_transformers": TRANSFORMS, "transform_cell": TRANSFORMS,
    "transform_ast": TRANSFORMS,
    "showtraceback": REPORTS, "_showtraceback": REPORTS, "showsyntaxerror": REPORTS, "showindentationerror": REPORTS,
    "set_custom_exc": REPORTS, "CustomTB": REPORTS, "custom_exceptions": REPORTS, "InteractiveTB": REPORTS,
    "excepthook": EXCEPTHOOK,
    "do_execute": REPLIES, "send_response": REPLIES, "execute_request": REPLIES, "dispatch_shell": REPLIES,
    "shell_handlers": REPLIES, "_publish_execute_input": REPLIES,
}
# Attribute names flagged only after a given attribute (too common a word otherwise):
# `<...>.session.send`, `<...>.events.register`.
AFTER = {"send": ("session", REPLIES), "serialize": ("session", REPLIES), "sign": ("session", REPLIES),
         "register": ("events", EVENTS), "unregister": ("events", EVENTS), "callbacks": ("events", EVENTS)}
MACHINERY_MODULES = {"IPython", "ipykernel", "zmq", "jupyter_client", "jupyter_core", "traitlets", "comm",
                     "builtins", "sys", "gc", "inspect", "ctypes"}
FRAMES = {"_getframe", "currentframe", "f_globals", "f_locals", "f_builtins", "f_back", "stack", "getouterframes",
          "get_objects", "get_referrers", "get_referents", "tb_frame", "gi_frame", "cr_frame"}
NAMESPACE_CALLS = {"globals", "locals", "vars"}
BUILDERS = {"join", "chr", "fromhex", "unhexlify", "b64decode", "b32decode", "b16decode", "a85decode", "b85decode",
            "decodebytes", "reversed", "format", "format_map", "translate", "replace", "bytes", "bytearray", "loads",
            "compile", "dumps", "encode", "maketrans", "rot13", "sub"}
DYNAMIC_ATTR = {"getattr": 1, "setattr": 1, "delattr": 1, "__getattribute__": 0, "__setattr__": 0, "__delattr__": 0}

# The former text patterns: the fallback for a cell that cannot be parsed.
PATTERNS = (
    (r"\brun_cell(_async)?\b|\brun_ast_nodes\b|\brun_code\b", RUNS),
    (r"\binput_transformers(_cleanup|_post)?\b|\bast_transformers\b", TRANSFORMS),
    (r"\b_?showtraceback\b|\bshowsyntaxerror\b|\bset_custom_exc\b", REPORTS),
    (r"\bsys\.excepthook\b", EXCEPTHOOK),
    (r"\bdo_execute\b|\bsend_response\b|\bsession\.send\b", REPLIES),
    (r"\bevents\.register\s*\(", EVENTS),
)


def _transform(cell: str) -> str:
    """IPython syntax -> Python, keeping the get_ipython() lines (they run in the kernel)."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        return TransformerManager().transform_cell(cell)
    except Exception:
        return cell


def _const_str(node) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _attr_chain(node) -> list[str]:
    """`a.b.c` -> ['a', 'b', 'c'] (a call in the chain counts as its function's name)."""
    out = []
    while True:
        if isinstance(node, ast.Attribute):
            out.append(node.attr)
            node = node.value
        elif isinstance(node, ast.Call):
            node = node.func
        elif isinstance(node, ast.Name):
            out.append(node.id)
            return out[::-1]
        else:
            return out[::-1]


class _Flow:
    """Which names may hold a piece of the kernel's machinery (over the whole notebook)."""

    def __init__(self, trees: list[ast.AST]):
        self.names: set[str] = set()
        self.attrs: set[str] = set()  # `obj.attr = <machinery>`: any `.attr` counts
        self.namespaces: set[str] = set()  # names bound to globals(), vars(x), x.__dict__, sys.modules, ...
        self.assigned: dict[str, list] = {}  # name -> the expressions assigned to it (for `built`)
        for tree in trees:
            for node in ast.walk(tree):
                if isinstance(node, ast.Assign):
                    for t in node.targets:
                        if isinstance(t, ast.Name):
                            self.assigned.setdefault(t.id, []).append(node.value)
                elif isinstance(node, (ast.AnnAssign, ast.AugAssign, ast.NamedExpr)) and isinstance(node.target, ast.Name) \
                        and node.value is not None:
                    self.assigned.setdefault(node.target.id, []).append(node.value)
        defs: dict[str, list[list[str]]] = {}
        for tree in trees:
            for node in ast.walk(tree):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                    a = node.args
                    params = [p.arg for p in a.posonlyargs + a.args + a.kwonlyargs]
                    params += [p.arg for p in (a.vararg, a.kwarg) if p is not None]
                    if not isinstance(node, ast.Lambda):
                        defs.setdefault(node.name, []).append(params)
        for _ in range(12):  # to a fixed point (bounded: each round only adds names)
            before = (len(self.names), len(self.attrs), len(self.namespaces))
            for tree in trees:
                for node in ast.walk(tree):
                    self._visit(node, defs)
            if (len(self.names), len(self.attrs), len(self.namespaces)) == before:
                break

    def _bind(self, target) -> None:
        if isinstance(target, ast.Name):
            self.names.add(target.id)
        elif isinstance(target, (ast.Tuple, ast.List)):
            for e in target.elts:
                self._bind(e)
        elif isinstance(target, ast.Starred):
            self._bind(target.value)
        elif isinstance(target, ast.Attribute):
            self.attrs.add(target.attr)
        elif isinstance(target, ast.Subscript):
            self._bind(target.value)

    def _visit(self, node, defs) -> None:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            mod = node.module if isinstance(node, ast.ImportFrom) else None
            for a in node.names:
                top = (mod or a.name).split(".")[0]
                if top in MACHINERY_MODULES:
                    self.names.add((a.asname or a.name).split(".")[0])
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.NamedExpr)):
            value = node.value
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if value is not None and self.reaches(value):
                for t in targets:
                    self._bind(t)
            if value is not None and (_is_namespace(value, self) or isinstance(value, ast.Name) and value.id in self.namespaces
                                      or isinstance(value, ast.Attribute) and value.attr == "modules"):
                self.namespaces.update(t.id for t in targets if isinstance(t, ast.Name))
        elif isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)):
            if self.reaches(node.iter):
                self._bind(node.target)
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            for item in node.items:
                if item.optional_vars is not None and self.reaches(item.context_expr):
                    self._bind(item.optional_vars)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in defs:
            args = list(node.args) + [k.value for k in node.keywords]
            if any(self.reaches(a) for a in args):
                for params in defs[node.func.id]:
                    self.names.update(params)

    def built(self, expr, depth: int = 0) -> bool:
        """Is `expr` code assembled at run time: decoded (base64, hex, zlib, codecs, bytes),
        joined, concatenated, formatted, reversed or rewritten, or from the kernel's
        machinery? Names are followed through their assignments in the notebook. Plain
        reads (a file's text) are not: what they run is the witness's business."""
        if depth > 4 or expr is None:
            return False
        if self.reaches(expr):
            return True
        for n in ast.walk(expr):
            if isinstance(n, (ast.BinOp, ast.JoinedStr)):
                return True
            if isinstance(n, ast.Subscript) and isinstance(n.slice, ast.Slice) and n.slice.step is not None:
                return True
            if isinstance(n, ast.Call):
                f = n.func
                name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
                if name in BUILDERS or "decode" in name.lower() or "decompress" in name.lower():
                    return True
            if isinstance(n, ast.Name) and n.id in self.assigned:
                if any(self.built(v, depth + 1) for v in self.assigned[n.id][:20]):
                    return True
        return False

    def reaches(self, expr) -> bool:
        """May `expr` evaluate to (or contain) a piece of the kernel's machinery?"""
        for n in ast.walk(expr):
            if isinstance(n, ast.Name) and (n.id in self.names or n.id in ("get_ipython", "__builtins__", "__import__")):
                return True
            if isinstance(n, ast.Attribute) and (n.attr in self.attrs or n.attr in FRAMES or n.attr == "__dict__"
                                                 and self.reaches(n.value)):
                return True
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in NAMESPACE_CALLS and not n.args:
                return True
            if isinstance(n, ast.Call) and _import_call(n) is not None:
                name = _const_str(n.args[0]) if n.args else None
                if name is None or name.split(".")[0] in MACHINERY_MODULES:
                    return True
        return False


def _import_call(node: ast.Call) -> str | None:
    """'__import__' / 'import_module' when the call imports a module by name."""
    f = node.func
    if isinstance(f, ast.Name) and f.id == "__import__":
        return "__import__"
    if isinstance(f, ast.Attribute) and f.attr in ("import_module", "__import__"):
        return f.attr
    return None


class _Scan:
    def __init__(self, flow: _Flow, source: str):
        self.flow = flow
        self.source = source
        self.hits: list[tuple[int, str, str]] = []  # (line, what, snippet)

    def hit(self, node, what: str) -> None:
        line = getattr(node, "lineno", 1)
        seg = ast.get_source_segment(self.source, node) or ""
        self.hits.append((line, what, seg.splitlines()[0] if seg else ""))

    def nested(self, code: str, node) -> None:
        """Code in a string that runs (exec/eval of a constant, a magic's code): scanned too."""
        code = _transform(code)
        try:
            tree = ast.parse(code)
        except (SyntaxError, ValueError):
            return
        sub = _Scan(self.flow, code)
        sub.walk(tree)
        for _line, what, snippet in sub.hits:
            self.hits.append((getattr(node, "lineno", 1), what, snippet))

    def walk(self, tree) -> None:
        for node in ast.walk(tree):
            self.visit(node)

    def visit(self, node) -> None:
        if isinstance(node, ast.Attribute):
            if node.attr in SENSITIVE:
                self.hit(node, SENSITIVE[node.attr])
            elif node.attr in AFTER and isinstance(node.value, ast.Attribute) and node.value.attr == AFTER[node.attr][0]:
                self.hit(node, AFTER[node.attr][1])
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for a in node.names:
                if a.name in SENSITIVE:
                    self.hit(node, SENSITIVE[a.name])
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in SENSITIVE \
                and node.value not in ("excepthook", "CustomTB", "InteractiveTB"):
            self.hit(node, SENSITIVE[node.value])
        elif isinstance(node, ast.Call):
            self.call(node)
        elif isinstance(node, ast.Subscript):
            self.subscript(node)

    def call(self, node: ast.Call) -> None:
        flow = self.flow
        f = node.func
        fname = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None
        if fname in DYNAMIC_ATTR:
            k = DYNAMIC_ATTR[fname]
            args = node.args
            if isinstance(f, ast.Attribute) and fname.startswith("__") and isinstance(f.value, ast.Name) \
                    and f.value.id in ("object", "type"):
                k = 1  # object.__setattr__(obj, name, value)
            obj = (f.value if k == 0 and isinstance(f, ast.Attribute) else args[0] if args else None)
            name = args[k] if len(args) > k else None
            if name is None:
                return
            const = _const_str(name)
            if const is not None:
                if const in SENSITIVE:
                    self.hit(node, SENSITIVE[const])
            elif obj is not None and flow.reaches(obj):
                self.hit(node, RUNTIME)
            return
        if fname in ("exec", "eval", "compile") and isinstance(f, ast.Name) and node.args:
            const = _const_str(node.args[0])
            if const is not None:
                self.nested(const, node)
            elif flow.built(node.args[0]):
                self.hit(node, CODE)
            return
        if _import_call(node) is not None and node.args and _const_str(node.args[0]) is None:
            self.hit(node, IMPORT)
            return
        if fname in ("run_cell_magic", "run_line_magic") and isinstance(f, ast.Attribute):
            code_arg = node.args[2] if fname == "run_cell_magic" and len(node.args) > 2 else \
                node.args[1] if fname == "run_line_magic" and len(node.args) > 1 else None
            code = _const_str(code_arg) if code_arg is not None else None
            if code is not None:
                self.nested(code, node)

    def subscript(self, node: ast.Subscript) -> None:
        key = node.slice
        if _const_str(key) is not None:
            if _const_str(key) in SENSITIVE and _is_namespace(node.value, self.flow):
                self.hit(node, SENSITIVE[_const_str(key)])
            return
        if isinstance(key, (ast.Constant, ast.Slice)):
            return
        base = node.value
        if isinstance(base, ast.Call) and isinstance(base.func, ast.Name) and base.func.id in NAMESPACE_CALLS and not base.args:
            self.hit(node, NAMESPACE)
        elif isinstance(base, ast.Attribute) and base.attr == "modules" and self.flow.reaches(base.value):
            self.hit(node, NAMESPACE)  # sys.modules[...]
        elif isinstance(base, ast.Name) and (base.id == "__builtins__" or base.id in self.flow.namespaces):
            self.hit(node, NAMESPACE)
        elif _is_namespace(base, self.flow) and self.flow.reaches(base):
            self.hit(node, RUNTIME)


def _is_namespace(node, flow: _Flow) -> bool:
    """`x.__dict__`, `vars(x)`, `globals()`, frame globals, `sys.modules`, `__builtins__`."""
    if isinstance(node, ast.Attribute) and node.attr in ("__dict__", "f_globals", "f_locals", "f_builtins", "modules"):
        return True
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in NAMESPACE_CALLS:
        return True
    return isinstance(node, ast.Name) and node.id == "__builtins__"


def _text_scan(i: int, raw: str) -> list[str]:
    hits = []
    for line in raw.splitlines():
        code = line.split("#", 1)[0]
        for pattern, what in PATTERNS:
            if re.search(pattern, code):
                hits.append(f"code cell {i + 1} {what}: `{line.strip()[:100]}`")
                break
    return hits


def scan(cells: list[str]) -> list[str]:
    """One message per (cell, line) that tampers with the kernel's machinery."""
    parsed: list[tuple[int, str, ast.AST | None]] = []
    for i, raw in enumerate(cells):
        src = _transform(raw)
        try:
            parsed.append((i, src, ast.parse(src)))
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            parsed.append((i, raw, None))
    flow = _Flow([t for _i, _s, t in parsed if t is not None])
    hits: list[str] = []
    for i, src, tree in parsed:
        if tree is None:
            hits += _text_scan(i, src)
            continue
        sc = _Scan(flow, src)
        try:
            sc.walk(tree)
        except RecursionError:
            hits += _text_scan(i, src)
            continue
        seen = set()
        lines = src.splitlines()
        for line, what, snippet in sorted(sc.hits, key=lambda h: h[0]):
            if line in seen:
                continue
            seen.add(line)
            text = lines[line - 1].strip() if 0 < line <= len(lines) else snippet
            hits.append(f"code cell {i + 1} {what}: `{text[:100]}`")
    return hits
