"""Which submissions' TODO code is suspiciously similar? (A lead for a human, not a verdict.)

What is compared. For each rubric target (the functions/classes the items call) the code a
student wrote is extracted from the notebook by AST (grader.extract, nothing is executed):
the target's last definition with the helpers, classes and constants it uses, plus the
notebook's top-level code that builds and trains it (statements that use the target, or a
variable such a statement bound, until unrelated code binds that variable anew: `model =
GRUMemory(64)`, `model = train(model, ...)`, `accuracy = test_model(model)`), the functions
whose body uses the target, and everything those use in turn.

Normalisation (`normalize_code`; deterministic, order-free, idempotent):
  * imports, docstrings, bare literals, comments and annotations are dropped; a name bound
    by an import becomes the imported path (`nn.GRU`, `torch.nn.GRU` and `from torch import
    nn` read the same);
  * every identifier the student chose becomes the token of its ROLE, never a number by
    order of first use: `_c` a class, `_f` a function or method (also `self.helper(...)`),
    `_a` an attribute assigned on an object or in a class body (`self.gru` and
    `self.recurrent` are both `self._a`), `_p` a parameter of the enclosing function (and a
    keyword given to a student-defined callable), `_v` a local variable, `_g` a module-level
    one. The role follows from scope, so neither renaming nor reordering can change it;
    builtins and library names the code does not bind stay as they are;
  * string literals become '' (messages, f-strings), numbers other than 0, 1, 2 become `_n`
    (hyper-parameters, sizes);
  * canonical order: module-level statements (cells, helpers) and a class's methods are
    sorted by their normalised text; in every block of consecutive simple statements
    (assignments, calls) the order is the smallest by text that keeps each statement after
    those it depends on (it reads or writes a name or `obj.attr` chain an earlier one writes;
    computed on the original names);
  * `ast.unparse` (formatting, parentheses), then tokenised; newline, indent and dedent are
    tokens, so block structure counts.

Fingerprints: every k consecutive tokens (k-gram) get a Karp-Rabin rolling hash over 64-bit
blake2b token ids (the same in every process), and the hashes are winnowed as in MOSS
(Schleimer, Wilkerson and Aiken 2003; Dolos and JPlag work alike): of each window of w
consecutive k-gram hashes the minimum is kept. Guarantee: two token streams that share a run
of at least w + k - 1 tokens share a fingerprint; runs shorter than k never count.
Fingerprints are a set, so code moved around only loses the grams straddling its edges (and
the canonical order removes most of those).

Starter code is no evidence. `starter_code` gives the starter notebook's code of every target
and of the whole notebook (key 'notebook::*'). A student's top-level statement whose
normalised text appears anywhere in that starter notebook is dropped whole (given helpers,
datasets, test functions, the driver lines), then the fingerprints of the starter's version
of the target and of the whole starter notebook are removed. In a class of at least
`min_class_for_common` submissions, fingerprints more than `common_fraction` of the class
has are removed too (idioms everyone writes). A target left as given, shorter than
`min_target_tokens` tokens of the student's own, or with fewer than `min_fingerprints`
fingerprints left, is not compared.

Score and pairing rule. For a pair and a target both wrote, with A and B their fingerprint
sets: shared = |A & B|, Jaccard = shared / |A | B| and containment = shared / min(|A|, |B|)
(one student adding code of their own lowers Jaccard, not containment). Summed over the
targets both wrote they give the pair's overall Jaccard and containment. The pair's
`similarity` is the largest of
  * the overall Jaccard,
  * the overall containment, if the pair shares at least `min_shared` fingerprints,
  * one target's containment, if that target shares at least `min_shared` fingerprints
    (one target copied, the others written: a partial copy),
and the pair is reported when similarity >= threshold; `rule` says which of the three it
was, `targets` gives every target's containment and `target_detail` its containment,
Jaccard, shared count and the two sizes. (`min_shared` keeps a few lines of standard code,
wholly contained in a longer solution, from counting as a copy.)

What survives (the copy is still found): renaming anything (variables, parameters,
functions, classes, attributes, methods), reformatting, comments, docstrings, printed
messages, import aliases, changed hyper-parameters, reordering functions, methods, cells and
independent statements, and code of one's own added around the copy (containment). What
does not: restructuring the algorithm (a loop for a vectorised expression, nn.GRU for a
hand-written GRU), inlining or splitting helpers, rewriting control flow (for -> while,
comprehension -> loop), swapping operands, interleaving dependent statements differently.
Each such edit costs the fingerprints of the tokens around it (one edit in a 50-line target
costs about 5 %), so a copy rewritten throughout falls below the threshold; by then it is a
rewrite. Short, standard code is alike by necessity: the thresholds keep it from counting,
and a reported pair is a lead, never a verdict (NOTE).
"""
from __future__ import annotations

import ast
import hashlib
import io
import itertools
import tokenize
from collections import Counter
from pathlib import Path

from grader.defaults import SIMILARITY_THRESHOLD

# Never renamed (nor are builtins and library names the code does not bind itself).
_KEEP = {"self", "cls", "super", "__init__", "__call__", "forward"}
_ROLE_CLASS, _ROLE_FUNC, _ROLE_ATTR, _ROLE_PARAM, _ROLE_LOCAL, _ROLE_GLOBAL, _NUM = (
    "_c", "_f", "_a", "_p", "_v", "_g", "_n")
_KEPT_NUMBERS = (0, 1, 2)

# Defaults of similar_pairs (and of the fingerprints stored nowhere: computed on demand).
K = 10  # tokens per k-gram (about one line of normalised code)
W = 6   # k-grams per winnowing window: any shared run of W + K - 1 = 15 tokens is found

NOTE = ("Similarity is a lead for a human reviewer, not an accusation: short or standard "
        "solutions can legitimately look alike. Read both submissions before drawing any conclusion.")


# ----------------------------------------------------------------------------------
# normalisation

def _stored_names(target: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}


def _import_path(alias: ast.alias, node: ast.AST) -> tuple[str, str]:
    """(bound name, dotted path it stands for)."""
    if isinstance(node, ast.Import):
        if alias.asname:
            return alias.asname, alias.name
        head = alias.name.split(".")[0]
        return head, head
    module = ("." * node.level) + (node.module or "")
    return alias.asname or alias.name, f"{module}.{alias.name}".lstrip(".") if module else alias.name


class _Scope:
    def __init__(self, params: set[str], locals_: set[str], is_class: bool = False):
        self.params = params
        self.locals = locals_
        self.is_class = is_class  # a class body: its names are not visible in its methods


def _function_locals(node) -> tuple[set[str], set[str]]:
    """(parameters, other local names) of a function or lambda; nested scopes excluded."""
    a = node.args
    params = {x.arg for x in a.posonlyargs + a.args + a.kwonlyargs}
    params |= {x.arg for x in (a.vararg, a.kwarg) if x is not None}
    if isinstance(node, ast.Lambda):
        return params, set()
    declared: set[str] = set()
    stored: set[str] = set()
    todo = list(node.body)
    while todo:
        n = todo.pop()
        if isinstance(n, (ast.Global, ast.Nonlocal)):
            declared.update(n.names)
            continue
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            stored.add(n.name)
            todo.extend(n.decorator_list)
            continue
        if isinstance(n, (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            continue
        if isinstance(n, ast.Name) and isinstance(n.ctx, (ast.Store, ast.Del)):
            stored.add(n.id)
        elif isinstance(n, ast.ExceptHandler) and n.name:
            stored.add(n.name)
        elif isinstance(n, (ast.Import, ast.ImportFrom)):
            continue  # imports are resolved to their path wherever they are
        elif isinstance(n, (ast.MatchAs, ast.MatchStar)) and n.name:
            stored.add(n.name)
        elif isinstance(n, ast.MatchMapping) and n.rest:
            stored.add(n.rest)
        todo.extend(ast.iter_child_nodes(n))
    return params, stored - declared - params


class _Normalizer(ast.NodeTransformer):
    """Renames by role and scope; drops imports, docstrings, annotations; blanks literals."""

    def __init__(self, tree: ast.Module):
        self.imports: dict[str, str] = {}
        self.classes: set[str] = set()
        self.funcs: set[str] = set()
        self.attrs: set[str] = set()
        self.module_names: set[str] = set()
        for n in ast.walk(tree):
            if isinstance(n, ast.ClassDef):
                self.classes.add(n.name)
                self.attrs |= _class_names(n)  # class attributes, read as self.name
            elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self.funcs.add(n.name)
            elif isinstance(n, ast.Attribute) and isinstance(n.ctx, (ast.Store, ast.Del)):
                self.attrs.add(n.attr)
            elif isinstance(n, (ast.Import, ast.ImportFrom)):
                for alias in n.names:
                    if alias.name != "*":
                        name, path = _import_path(alias, n)
                        self.imports[name] = path
        # names bound at module level outside functions and classes (cells' variables)
        todo = list(tree.body)
        while todo:
            n = todo.pop()
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda,
                              ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
                continue
            if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
                self.module_names.add(n.id)
            elif isinstance(n, ast.ExceptHandler) and n.name:
                self.module_names.add(n.name)
            todo.extend(ast.iter_child_nodes(n))
        for n in ast.walk(tree):  # `global x` in a function binds a module-level x
            if isinstance(n, ast.Global):
                self.module_names.update(n.names)
        # an import alias the student also assigns is the student's variable
        for name in list(self.imports):
            if name in self.module_names or name in self.funcs or name in self.classes:
                del self.imports[name]
        self.scopes: list[_Scope] = []

    # -- names --------------------------------------------------------------------
    def _role(self, name: str) -> str | None:
        """The role token of `name` where it occurs, a dotted import path, or None (kept)."""
        if name in _KEEP or (name.startswith("__") and name.endswith("__")):
            return None
        for depth, scope in enumerate(reversed(self.scopes)):
            if scope.is_class and depth > 0:
                continue
            if name in scope.params:
                return _ROLE_PARAM
            if scope.is_class and name in scope.locals:
                return _ROLE_ATTR
            if name in scope.locals:
                if name in self.classes:
                    return _ROLE_CLASS
                if name in self.funcs:
                    return _ROLE_FUNC
                return _ROLE_LOCAL
        if name in self.classes:
            return _ROLE_CLASS
        if name in self.funcs:
            return _ROLE_FUNC
        if name in self.module_names:
            return _ROLE_GLOBAL
        if name in self.imports:
            return self.imports[name]
        return None  # a builtin or a name the code does not define: the library's

    def _scoped(self, node, params: set[str], locals_: set[str]):
        self.scopes.append(_Scope(params, locals_))
        try:
            return self.generic_visit(node)
        finally:
            self.scopes.pop()

    def visit_Name(self, node):
        role = self._role(node.id)
        if role is None:
            return node
        if "." in role and isinstance(node.ctx, ast.Load):
            value = None
            for part in role.split("."):
                value = ast.Name(part, ast.Load()) if value is None else ast.Attribute(value, part, ast.Load())
            return ast.copy_location(value, node)
        node.id = role if "." not in role else node.id
        return node

    def visit_Attribute(self, node):
        own = _own_receiver(node.value)  # (before its names are renamed)
        self.generic_visit(node)
        if node.attr in self.attrs:
            node.attr = _ROLE_ATTR
        elif own and node.attr in self.funcs and node.attr not in _KEEP and not node.attr.startswith("__"):
            node.attr = _ROLE_FUNC  # self.helper(...): a method of the student's
        return node

    def visit_Call(self, node):
        callee = node.func
        own = ((isinstance(callee, ast.Name) and (callee.id in self.funcs or callee.id in self.classes))
               or (isinstance(callee, ast.Attribute) and callee.attr in self.funcs and _own_receiver(callee.value)))
        self.generic_visit(node)
        if own:  # keywords of the student's own functions are their parameter names
            for kw in node.keywords:
                if kw.arg is not None:
                    kw.arg = _ROLE_PARAM
        return node

    def visit_arg(self, node):
        node.arg = _ROLE_PARAM if node.arg not in _KEEP else node.arg
        node.annotation = None
        node.type_comment = None
        return node

    # -- scopes and definitions -----------------------------------------------------
    def _strip_doc(self, node):
        body = [s for s in node.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
        node.body = body or [ast.Pass()]

    def visit_FunctionDef(self, node):
        params, locals_ = _function_locals(node)
        node.decorator_list = [self.visit(d) for d in node.decorator_list]
        if node.name not in _KEEP and not (node.name.startswith("__") and node.name.endswith("__")):
            node.name = _ROLE_FUNC
        node.returns = None
        node.type_comment = None
        self._strip_doc(node)
        self.scopes.append(_Scope(params, locals_))
        try:
            node.args = self.visit(node.args)
            node.body = [r for s in node.body for r in _as_list(self.visit(s))] or [ast.Pass()]
        finally:
            self.scopes.pop()
        return node

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node):
        params, _ = _function_locals(node)
        return self._scoped(node, params, set())

    def _comprehension(self, node):
        first = node.generators[0]
        first.iter = self.visit(first.iter)  # evaluated in the enclosing scope
        targets: set[str] = set()
        for gen in node.generators:
            targets |= _stored_names(gen.target)
        self.scopes.append(_Scope(set(), targets))
        try:
            for gen in node.generators:
                gen.target = self.visit(gen.target)
                if gen is not first:
                    gen.iter = self.visit(gen.iter)
                gen.ifs = [self.visit(x) for x in gen.ifs]
            for field in ("elt", "key", "value"):
                if getattr(node, field, None) is not None:
                    setattr(node, field, self.visit(getattr(node, field)))
        finally:
            self.scopes.pop()
        return node

    visit_ListComp = visit_SetComp = visit_DictComp = visit_GeneratorExp = _comprehension

    def visit_ClassDef(self, node):
        node.name = _ROLE_CLASS
        self._strip_doc(node)
        node.bases = [self.visit(b) for b in node.bases]
        node.keywords = [self.visit(kw) for kw in node.keywords]
        node.decorator_list = [self.visit(d) for d in node.decorator_list]
        self.scopes.append(_Scope(set(), _class_names(node), is_class=True))
        try:
            node.body = [r for s in node.body for r in _as_list(self.visit(s))] or [ast.Pass()]
        finally:
            self.scopes.pop()
        return node

    def visit_ExceptHandler(self, node):
        if node.name:
            node.name = self._role(node.name) or node.name
        return self.generic_visit(node)

    def visit_Global(self, node):
        node.names = [_ROLE_GLOBAL for _ in node.names]
        return node

    def visit_Nonlocal(self, node):
        node.names = [self._role(n) or n for n in node.names]
        return node

    def visit_MatchAs(self, node):
        if node.name:
            node.name = self._role(node.name) or node.name
        return self.generic_visit(node)

    visit_MatchStar = visit_MatchAs

    # -- dropped and blanked ----------------------------------------------------------
    def visit_Import(self, node):
        return None

    visit_ImportFrom = visit_Import

    def visit_Expr(self, node):
        if isinstance(node.value, (ast.Constant, ast.JoinedStr)):  # docstrings and other bare literals
            return None
        return self.generic_visit(node)

    def visit_AnnAssign(self, node):
        if node.value is None:
            return None
        new = ast.Assign(targets=[node.target], value=node.value)
        new._sim_rw = getattr(node, "_sim_rw", None)
        return self.visit(ast.copy_location(new, node))

    def visit_Constant(self, node):
        v = node.value
        if isinstance(v, str):
            return ast.copy_location(ast.Constant(""), node)
        if isinstance(v, bytes):
            return ast.copy_location(ast.Constant(b""), node)
        if isinstance(v, bool) or v is None or v is Ellipsis:
            return node
        if isinstance(v, (int, float)) and v in _KEPT_NUMBERS:
            return ast.copy_location(ast.Constant(int(v) if float(v).is_integer() else v), node)
        return ast.copy_location(ast.Name(_NUM, ast.Load()), node)

    def visit_JoinedStr(self, node):  # f-strings: the message is not evidence
        return ast.copy_location(ast.Constant(""), node)


def _class_names(node: ast.ClassDef) -> set[str]:
    """Names a class body binds directly (class attributes; methods are functions)."""
    names: set[str] = set()
    for s in node.body:
        if isinstance(s, (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.For, ast.With)):
            names |= {n.id for n in ast.walk(s) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    return names


def _own_receiver(value) -> bool:
    """`self.x`, `cls.x`, `super().x`: an attribute of the student's own class."""
    if isinstance(value, ast.Name):
        return value.id in ("self", "cls")
    return (isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "super")


def _as_list(x):
    if x is None:
        return []
    return x if isinstance(x, list) else [x]


# -- canonical order -------------------------------------------------------------------

_SIMPLE = (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Expr)
_MAX_BLOCK = 200
_BODIES = ("body", "orelse", "finalbody")


def _text(node) -> str:
    try:
        return ast.unparse(node)
    except Exception:  # pragma: no cover - unparse handles every tree we build
        return ""


def _reads_writes(stmt) -> tuple[set[str], set[str]]:
    """Names (and dotted attribute chains) a simple statement reads and writes."""
    reads: set[str] = set()
    writes: set[str] = set()

    def chain(n) -> str | None:
        parts = []
        while isinstance(n, ast.Attribute):
            parts.append(n.attr)
            n = n.value
        if isinstance(n, ast.Name):
            return ".".join([n.id, *reversed(parts)])
        return None

    inner = {id(n.value) for n in ast.walk(stmt) if isinstance(n, ast.Attribute)}
    for n in ast.walk(stmt):
        if isinstance(n, (ast.Name, ast.Attribute)) and id(n) not in inner:  # whole chains only
            c = chain(n)
            if c is None:
                continue
            if isinstance(n.ctx, (ast.Store, ast.Del)):
                writes.add(c)
            else:
                reads.add(c)
        elif isinstance(n, ast.Subscript) and isinstance(n.ctx, (ast.Store, ast.Del)):
            c = chain(n.value)
            if c:
                writes.add(c)
    if isinstance(stmt, ast.AugAssign):
        c = chain(stmt.target) if not isinstance(stmt.target, ast.Subscript) else chain(stmt.target.value)
        if c:
            reads.add(c)
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):  # obj.method(...) may change obj
        f = stmt.value.func
        if isinstance(f, ast.Attribute):
            c = chain(f.value)
            if c:
                writes.add(c)
    return reads, writes


def _prefix_conflict(a: set[str], b: set[str]) -> bool:
    for x in a:
        for y in b:
            if x == y or x.startswith(y + ".") or y.startswith(x + "."):
                return True
    return False


def _mark_dependencies(tree) -> None:
    """Record on every simple statement what it reads and writes (`stmt._sim_rw`), on the
    ORIGINAL names: after renaming every local is `_v` and any two statements would look
    dependent."""
    for node in ast.walk(tree):
        for field in _BODIES:
            stmts = getattr(node, field, None)
            if isinstance(stmts, list):
                for st in stmts:
                    if isinstance(st, _SIMPLE):
                        st._sim_rw = _reads_writes(st)


def _conflict(x, y) -> bool:
    (rx, wx), (ry, wy) = x, y
    return _prefix_conflict(wx, ry | wy) or _prefix_conflict(rx, wy)


def _canonical_block(block: list) -> list:
    """The lexicographically smallest order (by normalised text) of a block of consecutive
    simple statements that keeps every pair of dependent statements in its order. Applied
    to its own output it changes nothing: the dependencies keep their direction."""
    n = len(block)
    if n < 2 or n > _MAX_BLOCK:
        return block  # (a block of hundreds of statements is kept as written: quadratic below)
    texts = [_text(st) for st in block]
    rws = [getattr(st, "_sim_rw", None) or _reads_writes(st) for st in block]
    preds = [{i for i in range(j) if _conflict(rws[i], rws[j])} for j in range(n)]
    done: set[int] = set()
    out = []
    while len(out) < n:
        i = min((i for i in range(n) if i not in done and preds[i] <= done), key=lambda i: (texts[i], i))
        done.add(i)
        out.append(block[i])
    return out


def _sorted_runs(stmts: list) -> list:
    """Each block of consecutive simple statements in canonical order; the rest in place."""
    out, block = [], []
    for st in stmts:
        if isinstance(st, _SIMPLE):
            block.append(st)
            continue
        out.extend(_canonical_block(block))
        block = []
        out.append(st)
    out.extend(_canonical_block(block))
    return out


def _canonical_order(node):
    for child in ast.iter_child_nodes(node):
        _canonical_order(child)
    for field in _BODIES:
        stmts = getattr(node, field, None)
        if not isinstance(stmts, list) or not stmts or not isinstance(stmts[0], ast.stmt):
            continue
        if isinstance(node, ast.Module):
            stmts = sorted(stmts, key=_text)  # cells and helpers in any order
        elif isinstance(node, ast.ClassDef):
            defs = [s for s in stmts if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef))]
            rest = [s for s in stmts if not isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef))]
            stmts = _sorted_runs(rest) + sorted(defs, key=_text)
        else:
            stmts = _sorted_runs(stmts)
        setattr(node, field, stmts)
    # a body left empty by dropped imports/docstrings (`if TYPE_CHECKING: import x`) needs a pass
    if not isinstance(node, ast.Module) and isinstance(getattr(node, "body", None), list) and not node.body:
        node.body = [ast.Pass()]
    if isinstance(node, ast.Try) and not node.handlers and not node.finalbody:
        node.finalbody = [ast.Pass()]
    return node


def normalize_code(source: str) -> str:
    """Canonical text of `source`: the same for copies that rename, reformat or reorder.

    Idempotent (normalising normalised text changes nothing), so code stored by an older
    grader version is re-normalised before it is compared. '' if `source` does not parse."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return ""
    try:
        text = _normalize_once(tree)
        for _ in range(_FIXPOINT_ROUNDS):  # (dependencies seen on renamed names can only add edges)
            again = _normalize_once(ast.parse(text))
            if again == text:
                break
            text = again
        return text
    except (RecursionError, ValueError, TypeError, AttributeError, SyntaxError):  # pragma: no cover - pathological trees
        return ""


_FIXPOINT_ROUNDS = 3


def _normalize_once(tree: ast.Module) -> str:
    _mark_dependencies(tree)
    tree = _Normalizer(tree).visit(tree)
    ast.fix_missing_locations(tree)
    _canonical_order(tree)
    return ast.unparse(tree).strip()


# ----------------------------------------------------------------------------------
# tokens, k-grams, winnowing

_SKIP = {tokenize.NL, tokenize.COMMENT, tokenize.ENCODING, tokenize.ENDMARKER}
_STRUCT = {tokenize.NEWLINE: ";", tokenize.INDENT: "{", tokenize.DEDENT: "}"}


def tokens(normalized: str) -> list[str]:
    """Token stream of normalised code (newline, indent and dedent are tokens too)."""
    out: list[str] = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(normalized).readline):
            if tok.type in _SKIP:
                continue
            out.append(_STRUCT.get(tok.type, tok.string))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return out
    return out


_token_ids: dict[str, int] = {}


def _token_id(tok: str) -> int:
    v = _token_ids.get(tok)
    if v is None:
        v = int.from_bytes(hashlib.blake2b(tok.encode("utf-8", "replace"), digest_size=8).digest(), "big")
        if len(_token_ids) < 1 << 20:
            _token_ids[tok] = v
    return v


_P = (1 << 61) - 1  # Karp-Rabin modulus (a Mersenne prime)
_B = 0x5BD1E995_1234567 % _P


def kgram_hashes(toks: list[str], k: int = K) -> list[int]:
    """Hash of every k consecutive tokens, in order: a Karp-Rabin rolling hash (mod 2^61 - 1)
    over the tokens' 64-bit blake2b ids; the same in every process and every run."""
    if k < 1 or len(toks) < k:
        return []
    ids = [_token_id(t) % _P for t in toks]
    top = pow(_B, k - 1, _P)
    h = 0
    for x in ids[:k]:
        h = (h * _B + x) % _P
    out = [h]
    for i in range(k, len(ids)):
        h = ((h - ids[i - k] * top) * _B + ids[i]) % _P
        out.append(h)
    return out


def winnow(hashes: list[int], w: int = W) -> set[int]:
    """Winnowing: the set of the minima of every window of w consecutive hashes.

    Two sequences sharing a run of w consecutive hashes share that window's minimum (a
    value, wherever it sits). A sequence shorter than one window keeps its minimum."""
    if not hashes:
        return set()
    if len(hashes) <= w:
        return {min(hashes)}
    picked: set[int] = set()
    for i in range(len(hashes) - w + 1):
        picked.add(min(hashes[i:i + w]))
    return picked


def fingerprints(normalized: str, k: int = K, w: int = W) -> set[int]:
    return winnow(kgram_hashes(tokens(normalized), k), w)


_ROLES = {_ROLE_CLASS, _ROLE_FUNC, _ROLE_ATTR, _ROLE_PARAM, _ROLE_LOCAL, _ROLE_GLOBAL}


def _looks_normalized(tree: ast.Module) -> bool:
    """Cheap test that parsed text is already normal (every name it binds a role token, no
    import, every literal blanked): then similar_pairs need not normalise it again. Raw
    source and code stored by older versions (v0, v1, ...) fail it."""
    for n in ast.walk(tree):
        if isinstance(n, (ast.Import, ast.ImportFrom, ast.JoinedStr)):
            return False
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if n.name != _ROLE_FUNC and n.name not in _KEEP and not n.name.startswith("__"):
                return False
        elif isinstance(n, ast.ClassDef):
            if n.name != _ROLE_CLASS:
                return False
        elif isinstance(n, ast.arg):
            if n.arg != _ROLE_PARAM and n.arg not in _KEEP:
                return False
        elif isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
            if n.id not in _ROLES:
                return False
        elif isinstance(n, ast.Constant):
            if isinstance(n.value, (str, bytes)) and n.value:
                return False
            if isinstance(n.value, (int, float)) and not isinstance(n.value, bool) and n.value not in _KEPT_NUMBERS:
                return False
    return True


def _normal_statements(text: str) -> tuple[str, list[str]]:
    """(normalised text, its top-level statements), parsing already normal text only once."""
    try:
        tree = ast.parse(text)
        if not _looks_normalized(tree):
            text = normalize_code(text)
            tree = ast.parse(text) if text else ast.Module(body=[], type_ignores=[])
        return text.strip(), [ast.unparse(st) for st in tree.body]
    except (SyntaxError, ValueError, RecursionError):
        return "", []


# ----------------------------------------------------------------------------------
# what is compared: the targets' code

def targets_of(rubric) -> dict[str, list[str]]:
    """notebook file name -> the target names its items call, in rubric order."""
    out: dict[str, list[str]] = {}
    for nb in rubric.notebooks:
        names = []
        for item in nb.items:
            if item.target and item.target not in names:
                names.append(item.target)
        if names:
            out[nb.notebook] = names
    return out


def target_source(ex, name: str) -> str:
    """Source of target `name`: its definition and dependencies (Extraction.module_for), plus
    the top-level code that uses it (a statement using the target, or a variable such a
    statement bound, until the variable is bound anew by unrelated code), the functions
    whose body uses the target, and everything those use."""
    users = []
    live = {name}
    for s in ex.stmts:
        if s.kind == "def" and name in s.uses and ex.find(next(iter(s.binds))) is s:
            users.append(s)
            live |= s.binds
    for s in ex.stmts:
        if s.kind in ("def", "class", "import", "star_import"):
            continue
        loads = {n.id for n in ast.walk(s.node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
        if loads & live:  # (s.uses leaves out what s binds: `model = train(model)`)
            users.append(s)
            live |= s.binds
        else:
            live -= s.binds
    bound = set().union(*(s.binds for s in users if s.kind != "def")) if users else set()
    wanted = [name] + sorted(set().union(*(s.uses for s in users)) - bound - {name}) if users else [name]
    module = ex.module_for(wanted, exclude=bound)
    extra = [s.source for s in users if s.kind != "def" or s.source not in module]
    return module + ("\n\n".join(extra) + "\n" if extra else "")


WHOLE = "*"  # starter_code's key f"{notebook}::*": the whole starter notebook


def notebook_targets(nb, targets: list[str], notebook: str, whole: bool = False) -> dict[str, str]:
    """'notebook::target' -> normalized code of the target, its helpers and the code using it
    (and, with `whole`, 'notebook::*' -> the normalized code of the whole notebook)."""
    from grader.extract import extract, notebook_code_cells

    ex = extract(notebook_code_cells(nb))
    out = {}
    if whole:
        norm = normalize_code("\n\n".join(s.source for s in ex.stmts))
        if norm:
            out[f"{notebook}::{WHOLE}"] = norm
    for name in targets:
        if ex.find(name) is None:
            continue
        norm = normalize_code(target_source(ex, name))
        if norm:
            out[f"{notebook}::{name}"] = norm
    return out


def submission_code(zip_path: Path, rubric, scratch: Path) -> dict[str, str]:
    """Normalized target code of one submission (safe unzip, AST only)."""
    from grader.intake import intake, read_notebook

    wanted = targets_of(rubric)
    sub = intake(Path(zip_path), rubric, scratch)
    out: dict[str, str] = {}
    for notebook, names in wanted.items():
        found = sub.files.get(notebook)
        if found is None:
            continue
        nb, _ = read_notebook(found.path, found.name_in_zip)
        if nb is not None:
            out.update(notebook_targets(nb, names, notebook))
    return out


def find_starter_dir(rubric) -> Path | None:
    root = Path(rubric.directory)
    project = Path(__file__).resolve().parent.parent.parent
    for cand in (root / "starter", root / "reference" / "starter", project / "reference" / "starter"):
        if cand.is_dir() and any((cand / nb.notebook).is_file() for nb in rubric.notebooks):
            return cand
    return None


def starter_code(rubric, starter_dir: Path | None) -> dict[str, str]:
    """The starter notebooks' code of every target ('notebook::target') and of each whole
    notebook ('notebook::*': every statement given anywhere in it is no evidence)."""
    from grader.intake import read_notebook

    if starter_dir is None:
        return {}
    out: dict[str, str] = {}
    for notebook, names in targets_of(rubric).items():
        path = Path(starter_dir) / notebook
        if path.is_file():
            nb, _ = read_notebook(path, notebook)
            if nb is not None:
                out.update(notebook_targets(nb, names, notebook, whole=True))
    return out


# ----------------------------------------------------------------------------------
# pairs

def _pair_scores(fa: dict[str, set[int]], fb: dict[str, set[int]]) -> tuple[int, int, int, dict]:
    inter = union = smaller = 0
    detail = {}
    for t in sorted(set(fa) & set(fb)):
        a, b = fa[t], fb[t]
        i = len(a & b)
        u = len(a) + len(b) - i
        m = min(len(a), len(b))
        inter, union, smaller = inter + i, union + u, smaller + m
        detail[t] = {"containment": round(i / m, 3) if m else 0.0, "jaccard": round(i / u, 3) if u else 0.0,
                     "shared": i, "sizes": [len(a), len(b)]}
    return inter, union, smaller, detail


def similar_pairs(codes: dict[str, dict[str, str]], starter: dict[str, str] | None = None, *,
                  threshold: float = SIMILARITY_THRESHOLD, k: int = K, w: int = W, min_shared: int = 12,
                  min_fingerprints: int = 4, min_grams: int = 8, min_target_tokens: int = 20,
                  common_fraction: float = 0.5, min_class_for_common: int = 10) -> list[dict]:
    """Pairs of submissions (by netid) whose target code is similar (module docstring: the rule).

    codes: netid -> {'notebook::target': code} (normalized by submission_code; raw source is
    normalized here too). starter: the starter notebook's code of the same targets. Returns
    dicts sorted by similarity (highest first): a, b, similarity, rule, jaccard, containment,
    shared_grams (shared fingerprints), targets {target: containment} and target_detail
    {target: {containment, jaccard, shared, sizes}} for the reviewer. A target of fewer than
    `min_target_tokens` tokens or `min_fingerprints` fingerprints of its own is ignored, and a
    pair needs `min_grams` fingerprints between them to be judged at all.
    """
    given_code, starter = dict(starter or {}), {}
    given: dict[str, set[str]] = {}  # notebook -> the starter's top-level statements (any target)
    for t, text in given_code.items():
        starter[t], stmts = _normal_statements(text)
        given.setdefault(t.split("::")[0], set()).update(stmts)
    starter_fp = {t: fingerprints(s, k, w) for t, s in starter.items()}
    for t in list(starter_fp):  # what the whole starter notebook has is no evidence for any target
        if t.endswith(f"::{WHOLE}"):
            nb_fp = starter_fp.pop(t)
            for u in starter_fp:
                if u.split("::")[0] == t.split("::")[0]:
                    starter_fp[u] = starter_fp[u] | nb_fp
    def evidence(tgt: str, text: str) -> frozenset[int] | None:
        norm, stmts = _normal_statements(text)
        if not norm or norm == starter.get(tgt):
            return None  # the TODO was left as given
        notebook = tgt.split("::")[0]
        given_here = given.get(notebook, set())
        toks = tokens("\n".join(s for s in stmts if s not in given_here))  # given statements go whole
        if len(toks) < min_target_tokens:
            return None  # too short to tell anything
        f = winnow(kgram_hashes(toks, k), w) - starter_fp.get(tgt, starter_fp.get(f"{notebook}::{WHOLE}", set()))
        return frozenset(f) if len(f) >= min_fingerprints else None

    cache: dict[tuple[str, str], frozenset[int] | None] = {}  # (identical texts: TODOs left as given, ...)
    fps: dict[str, dict[str, set[int]]] = {}
    for netid, targets in codes.items():
        per: dict[str, set[int]] = {}
        for tgt, text in (targets or {}).items():
            if not isinstance(text, str) or tgt.startswith("__"):
                continue  # ("__error__": the code could not be read)
            if (tgt, text) not in cache:
                cache[(tgt, text)] = evidence(tgt, text)
            if cache[(tgt, text)] is not None:
                per[tgt] = set(cache[(tgt, text)])
        fps[netid] = per
    if len(fps) >= min_class_for_common:  # idioms most of the class wrote are no evidence
        df: Counter = Counter()
        for per in fps.values():
            for tgt, f in per.items():
                df.update((tgt, x) for x in f)
        cut = common_fraction * len(fps)
        fps = {n: {t: g for t, g in ((t, {x for x in f if df[(t, x)] <= cut}) for t, f in per.items())
                   if len(g) >= min_fingerprints}
               for n, per in fps.items()}
    pairs = []
    for a, b in itertools.combinations(sorted(fps), 2):
        inter, union, smaller, detail = _pair_scores(fps[a], fps[b])
        if union < min_grams:
            continue
        jac = inter / union
        cont = inter / smaller if smaller else 0.0
        score, rule = jac, "jaccard"
        if inter >= min_shared and cont > score:
            score, rule = cont, "containment"
        for t, dt in detail.items():
            if dt["shared"] >= min_shared and dt["containment"] > score + 1e-9:
                score, rule = dt["containment"], f"target {t}"
        if score >= threshold:
            pairs.append({"a": a, "b": b, "similarity": round(score, 3), "rule": rule,
                          "jaccard": round(jac, 3), "containment": round(cont, 3), "shared_grams": inter,
                          "targets": {t: dt["containment"] for t, dt in detail.items()},
                          "target_detail": detail})
    pairs.sort(key=lambda p: (-p["similarity"], p["a"], p["b"]))
    return pairs
