"""Which submissions' TODO code is suspiciously similar? (A lead for a human, not a verdict.)

For each rubric target (the functions/classes the items call) the code a student wrote is
extracted from the notebook by AST (grader.extract, nothing is executed), then normalized:
imports, docstrings, comments and type annotations dropped, every identifier the student
chose (variables, arguments, functions, classes, attributes assigned on objects) renamed
to v0, v1, ... in order of first use. Renaming variables or reformatting therefore changes
nothing. Code identical to the starter notebook's version is ignored, and token 5-grams
present in the starter or in most of the class are removed before two submissions are
compared (Jaccard similarity of their remaining 5-grams over the targets both wrote).
"""
from __future__ import annotations

import ast
import builtins
import hashlib
import itertools
import re
from collections import Counter
from pathlib import Path

_KEEP = set(dir(builtins)) | {"self", "cls", "super", "__init__", "__call__", "forward"}
_TOKEN = re.compile(r"[A-Za-z_][A-Za-z_0-9]*|\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\S")

NOTE = ("Similarity is a lead for a human reviewer, not an accusation: short or standard "
        "solutions can legitimately look alike. Read both submissions before drawing any conclusion.")


class _Normalizer(ast.NodeTransformer):
    def __init__(self, stored_attrs: set[str]):
        self.names: dict[str, str] = {}
        self.stored_attrs = stored_attrs

    def _name(self, name: str) -> str:
        if name in _KEEP or (name.startswith("__") and name.endswith("__")):
            return name
        return self.names.setdefault(name, f"v{len(self.names)}")

    def _strip_doc(self, node):
        body = [s for s in node.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant)
                                             and isinstance(s.value.value, str))]
        node.body = body or [ast.Pass()]

    def visit_Import(self, node):
        return None

    visit_ImportFrom = visit_Import

    def visit_Expr(self, node):
        if isinstance(node.value, ast.Constant):  # docstrings and other bare constants
            return None
        return self.generic_visit(node)

    def visit_FunctionDef(self, node):
        node.name = self._name(node.name)
        node.returns = None
        self._strip_doc(node)
        self.generic_visit(node)
        return node

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node):
        node.name = self._name(node.name)
        self._strip_doc(node)
        self.generic_visit(node)
        return node

    def visit_arg(self, node):
        node.arg = self._name(node.arg)
        node.annotation = None
        return node

    def visit_AnnAssign(self, node):
        node.annotation = ast.Constant(None)
        return self.generic_visit(node)

    def visit_Name(self, node):
        node.id = self._name(node.id)
        return node

    def visit_Attribute(self, node):
        self.generic_visit(node)
        if node.attr in self.stored_attrs:
            node.attr = self._name("." + node.attr)
        return node

    def visit_Global(self, node):
        node.names = [self._name(n) for n in node.names]
        return node

    visit_Nonlocal = visit_Global

    def visit_ExceptHandler(self, node):
        if node.name:
            node.name = self._name(node.name)
        return self.generic_visit(node)


def normalize_code(source: str) -> str:
    """Canonical text of `source`: same for copies that only rename or reformat."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return ""
    stored = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute) and isinstance(n.ctx, ast.Store)}
    tree = _Normalizer(stored).visit(tree)
    ast.fix_missing_locations(tree)
    try:
        return ast.unparse(tree).strip()
    except Exception:  # pragma: no cover - ast.unparse handles every parsed tree
        return ""


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


def notebook_targets(nb, targets: list[str], notebook: str) -> dict[str, str]:
    """'notebook::target' -> normalized code of the target and the helpers it uses."""
    from grader.extract import extract, notebook_code_cells

    ex = extract(notebook_code_cells(nb))
    out = {}
    for name in targets:
        if ex.find(name) is None:
            continue
        norm = normalize_code(ex.module_for([name]))
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
    from grader.intake import read_notebook

    if starter_dir is None:
        return {}
    out: dict[str, str] = {}
    for notebook, names in targets_of(rubric).items():
        path = Path(starter_dir) / notebook
        if path.is_file():
            nb, _ = read_notebook(path, notebook)
            if nb is not None:
                out.update(notebook_targets(nb, names, notebook))
    return out


def _grams(text: str, k: int) -> set[int]:
    toks = _TOKEN.findall(text)
    if len(toks) < k:
        return {int.from_bytes(hashlib.blake2b(" ".join(toks).encode(), digest_size=8).digest(), "big")} if toks else set()
    return {int.from_bytes(hashlib.blake2b("\x1f".join(toks[i:i + k]).encode(), digest_size=8).digest(), "big")
            for i in range(len(toks) - k + 1)}


def similar_pairs(codes: dict[str, dict[str, str]], starter: dict[str, str] | None = None, *,
                  threshold: float = 0.8, k: int = 5, min_grams: int = 20, min_target_tokens: int = 20,
                  common_fraction: float = 0.5, min_class_for_common: int = 10) -> list[dict]:
    """Pairs of submissions (by netid) whose normalized target code overlaps >= threshold.

    codes: netid -> {'notebook::target': normalized code}. Returns dicts sorted by
    similarity (highest first) with per-target similarities for the reviewer. Targets
    shorter than `min_target_tokens` are ignored (one-liners are alike by necessity), and
    a pair needs `min_grams` distinct 5-grams between them to be judged at all.
    """
    starter = starter or {}
    grams: dict[str, dict[str, set[int]]] = {}
    for netid, targets in codes.items():
        per: dict[str, set[int]] = {}
        for tgt, text in targets.items():
            if not text or text == starter.get(tgt) or len(_TOKEN.findall(text)) < min_target_tokens:
                continue  # the TODO was left as given, or too short to tell anything
            g = _grams(text, k) - _grams(starter.get(tgt, ""), k)
            if g:
                per[tgt] = g
        grams[netid] = per
    if len(grams) >= min_class_for_common:  # idioms most of the class wrote are no evidence
        df: Counter = Counter()
        for per in grams.values():
            for tgt, g in per.items():
                df.update((tgt, x) for x in g)
        cut = common_fraction * len(grams)
        grams = {n: {t: {x for x in g if df[(t, x)] <= cut} for t, g in per.items()} for n, per in grams.items()}
    pairs = []
    for a, b in itertools.combinations(sorted(grams), 2):
        shared_targets = sorted(set(grams[a]) & set(grams[b]))
        inter = union = 0
        detail = {}
        for t in shared_targets:
            ga, gb = grams[a][t], grams[b][t]
            i, u = len(ga & gb), len(ga | gb)
            inter += i
            union += u
            if u:
                detail[t] = round(i / u, 3)
        if union < min_grams:
            continue
        sim = inter / union
        if sim >= threshold:
            pairs.append({"a": a, "b": b, "similarity": round(sim, 3), "shared_grams": inter, "targets": detail})
    pairs.sort(key=lambda p: (-p["similarity"], p["a"], p["b"]))
    return pairs
