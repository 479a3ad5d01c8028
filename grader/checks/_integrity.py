"""Evidence, not trust: helpers the check kinds use to verify what student code claims.

Everything a probe returns was produced by student-controlled code, so it is a claim.
The helpers here turn claims into evidence the grader computed or cross-checked itself:

- private data: `private_seed()` derives seeds from a grader-private secret (never in a
  sandbox) and the item, so a notebook cannot load, and memorise, the data it is
  evaluated on (kind_validation_accuracy).
- hand-derived values: `autograd_signals()` scans the code a target runs for autograd
  entry points; `AUTOGRAD_GUARD` (prepended to the probe's module, before any student
  line) makes those entry points raise and records the attempt; `fd_signal()` notices
  float64 values that are only as accurate as finite differences (kind_gradient).
- architectures: `CNN_VERIFY_SOURCE` runs in the probe, loads parameter values the
  grader can recompute (`param_values`, from a grader-chosen seed) and records each torch
  call of one forward pass with its arguments as plain data; `replay()` re-executes that
  record in the grader with its own torch, checks it reproduces the probe's output, runs
  a backward pass and keeps only the calls whose inputs and parameters receive gradient
  (`verified_trace()`), in the node format kind_cnn_architecture.analyse reads.
- echo models: `verify_echo()` reads a standard layout (one-hot/nn.Embedding -> nn.GRU or
  nn.LSTM -> nn.Linear, delay heads or delay input) from the exported state_dict's names
  and shapes, recomputes the model in numpy from those weights on the grader's inputs and
  checks forward's argmax agrees; kind_trained_model then scores the grader's computation.

What is not verifiable is reported as such; the kinds turn it into "needs a TA"
(status `pending`, no points), never into points.
"""
from __future__ import annotations

import ast
import hashlib
import hmac
import math
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from grader import inkernel

# --------------------------------------------------------------------------------------
# the grader's secret


_SECRET: bytes | None = None


def secret_file() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "dl-grader" / "private-seed.key"


def grader_secret() -> bytes:
    """`DL_GRADER_SECRET` if set (pin it to reproduce a grade elsewhere), else a random key
    kept in the grader's cache dir (mode 0600: the sandbox's uid cannot read it, and under
    bwrap the grader's home is not visible), else a key for this process only."""
    global _SECRET
    if _SECRET is not None:
        return _SECRET
    env = os.environ.get("DL_GRADER_SECRET")
    if env:
        _SECRET = env.encode()
        return _SECRET
    path = secret_file()
    try:
        if path.is_file() and not path.is_symlink() and path.stat().st_size >= 16:
            _SECRET = path.read_bytes()[:64]
            return _SECRET
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_bytes(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(key)
        _SECRET = key
    except OSError:
        _SECRET = secrets.token_bytes(32)
    return _SECRET


def private_seed(*parts: Any) -> int:
    """A seed no notebook can compute: HMAC(grader secret, parts), 31 bits."""
    msg = "\x1f".join(str(p) for p in parts).encode()
    return int.from_bytes(hmac.new(grader_secret(), msg, hashlib.sha256).digest()[:4], "little") % (2**31)


# --------------------------------------------------------------------------------------
# hand-derived values: autograd and finite differences

AUTOGRAD_MODULES = ("torch.autograd", "torch.func", "functorch", "torch._functorch")


def _bound_names(node) -> set[str]:
    out: set[str] = set()
    for n in ast.walk(node):
        if isinstance(n, ast.Name) and isinstance(n.ctx, (ast.Store, ast.Del)):
            out.add(n.id)
        elif isinstance(n, ast.arg):
            out.add(n.arg)
        elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and n is not node:
            out.add(n.name)
        elif isinstance(n, (ast.Import, ast.ImportFrom)):
            out.update((a.asname or a.name).split(".")[0] for a in n.names)
    return out


def _top_binds(stmt) -> set[str]:
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {stmt.name}
    if isinstance(stmt, (ast.Import, ast.ImportFrom)):
        return {(a.asname or a.name).split(".")[0] for a in stmt.names}
    return {n.id for n in ast.walk(stmt) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}


def reachable_code(tree: ast.Module, target: str) -> list[ast.stmt]:
    """The top-level statements `target` can reach when it runs: its definition, then, by
    the global names each reached function or statement loads (not its locals), the
    statements that last bind them. Module-level test code that merely shares a local's
    name (x, W, J) is not reached."""
    last: dict[str, ast.stmt] = {}
    for st in tree.body:
        for n in _top_binds(st):
            last[n] = st
    todo, chosen, seen = [target], [], set()
    while todo:
        name = todo.pop()
        st = last.get(name)
        if st is None or id(st) in seen:
            continue
        seen.add(id(st))
        chosen.append(st)
        local = _bound_names(st) if isinstance(st, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) else set()
        if isinstance(st, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            local.discard(st.name)
        for n in ast.walk(st):
            if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load) and n.id not in local:
                todo.append(n.id)
    return sorted(chosen, key=lambda s: s.lineno)


def _chain(node) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return ".".join(reversed(parts))


def _static_hits(source: str, target: str | None, visit) -> list[str]:
    """'line N: what (source line)' for each (node, what) that visit(node) yields, over the
    code `target` runs (the whole `source` without a target); at most 20, without repeats."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):  # ValueError: a NUL byte on Python < 3.11.4
        return []
    lines = source.splitlines()
    roots = reachable_code(tree, target) if target else tree.body
    out: list[str] = []
    for node in (n for root in roots for n in ast.walk(root)):
        for at, what in visit(node):
            src = lines[at.lineno - 1].strip() if 0 < getattr(at, "lineno", 0) <= len(lines) else ""
            h = f"line {at.lineno}: {what} ({src[:100]})"
            if h not in out:
                out.append(h)
    return out[:20]


def _autograd_uses(node):
    if isinstance(node, ast.ImportFrom) and node.module:
        if node.module.startswith(AUTOGRAD_MODULES):
            yield node, f"imports from {node.module}"
        elif node.module == "torch" and any(a.name in ("autograd", "func") for a in node.names):
            yield node, "imports torch.autograd / torch.func"
    elif isinstance(node, ast.Import):
        for a in node.names:
            if a.name.startswith(AUTOGRAD_MODULES):
                yield node, f"imports {a.name}"
    elif isinstance(node, ast.Attribute):
        c = _chain(node)
        if node.attr == "backward":
            yield node, "calls .backward()"
        elif node.attr in ("autograd", "func") and c.split(".")[0] == "torch":
            yield node, f"uses {c}"
        elif node.attr == "grad":
            yield node, f"reads {c} (a gradient computed by autograd)"
        elif node.attr in ("requires_grad_", "retain_grad"):
            yield node, f"calls .{node.attr}()"
        elif node.attr == "requires_grad" and isinstance(node.ctx, ast.Store):
            yield node, f"sets {c}"
        elif node.attr in ("enable_grad", "set_grad_enabled", "_set_grad_enabled", "_execution_engine", "run_backward",
                           "grad_fn"):
            yield node, f"uses {c}"
    elif isinstance(node, ast.keyword) and node.arg == "requires_grad":
        if not (isinstance(node.value, ast.Constant) and node.value.value is False):
            yield node.value, "creates a tensor with requires_grad"


def autograd_signals(source: str, target: str | None = None) -> list[str]:
    """Autograd entry points in the code `target` runs (the whole `source` without a
    target), as 'line N: what (source line)' strings. Static: obfuscated calls escape it;
    the probe's guard and the finite-difference signal cover those."""
    return _static_hits(source, target, _autograd_uses)


COMPLEX_NAMES = frozenset({"complex", "complex64", "complex128", "complex256", "complex_", "csingle", "cdouble",
                           "clongdouble", "cfloat", "chalf", "imag", "iscomplexobj", "view_as_complex"})


def _complex_uses(node):
    if isinstance(node, ast.Constant) and isinstance(node.value, complex):
        yield node, f"a complex number ({node.value!r})"
    elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.lower() in COMPLEX_NAMES:
        yield node, f"a complex dtype ({node.value!r})"
    elif isinstance(node, ast.Attribute) and node.attr in COMPLEX_NAMES:
        yield node, f"uses {_chain(node)}"
    elif isinstance(node, ast.Name) and node.id in COMPLEX_NAMES and isinstance(node.ctx, ast.Load):
        yield node, f"uses {node.id}"


def complex_step_signals(source: str, target: str | None = None) -> list[str]:
    """Complex arithmetic in the code `target` runs: complex-step differentiation
    (Im f(x + ih) / h) is exact to rounding, needs no autograd and calls no forward function
    by its name, so the other signals miss it; a derivation by hand of these real-valued
    gradients has no use for complex numbers. Static, like autograd_signals."""
    return _static_hits(source, target, _complex_uses)


# Prepended to the probe's module, before the first student line: the autograd entry
# points raise (and the attempt is recorded) while the grader's wrapper runs the target.
AUTOGRAD_GUARD = (inkernel.source("autograd_guard")
                  + "\n\n__grader_autograd_state = __grader_install_autograd_guard()\ndel __grader_install_autograd_guard\n")

HAND_DERIVED_CALL = inkernel.source("hand_derived")


# Central differences in float64 land around 1e-11..1e-6 relative; beyond 1e-3 the
# values are simply wrong.
FD_MAX_REL_ERROR = 1e-3


def fd_signal(got: Any, want: Any, min_rel_error: float) -> str | None:
    """A float64 answer that matches autograd only to finite-difference precision: the
    largest error relative to the largest expected magnitude is above `min_rel_error`
    (hand-derived formulas in float64 are exact to ~1e-14). Values that are exactly
    representable in float32 were computed in float32, not by finite differences."""
    if isinstance(want, dict):
        if not isinstance(got, dict):
            return None
        pairs = [(got.get(k), want[k]) for k in want]
    else:
        pairs = [(got, want)]
    g_all, w_all = [], []
    for g, w in pairs:
        try:
            g = np.asarray(g, dtype=None)
            w = np.asarray(w)
        except Exception:
            return None
        if g.dtype != np.float64 or g.shape != w.shape:
            return None
        g_all.append(g.reshape(-1))
        w_all.append(w.astype(np.float64).reshape(-1))
    if not g_all:
        return None
    g = np.concatenate(g_all)
    w = np.concatenate(w_all)
    if g.size == 0 or not np.all(np.isfinite(g)):
        return None
    scale = float(np.max(np.abs(w)))
    if scale == 0.0:
        return None
    rel = float(np.max(np.abs(g - w))) / scale
    if rel <= min_rel_error or rel > FD_MAX_REL_ERROR:
        # exact (by hand), or further off than any finite-difference scheme: a wrong answer
        # that a loose tolerance accepted is graded by the tolerance, not called autograd
        return None
    if np.array_equal(g.astype(np.float32).astype(np.float64), g):
        return None  # float32 arithmetic, returned as float64
    return f"the float64 values agree with autograd only to {rel:.1e} (relative), the precision of finite differences; a derivation by hand is exact to about 1e-15"


# --------------------------------------------------------------------------------------
# architectures: a forward pass the grader can replay


PARAM_VALUES_SOURCE = inkernel.source("param_values")

CNN_VERIFY_SOURCE = inkernel.source("param_values", "cnn_verify")


def param_values(seed: int, name: str, shape) -> np.ndarray:
    """The grader's copy of the values the probe loads into each parameter."""
    from grader.inkernel.param_values import __grader_param_values

    return __grader_param_values(seed, name, shape)


# Functions the replay may call, by the namespace the probe named. Everything else
# (file access, RNG, storage, hooks, autograd) makes the trace unverifiable.
_DENY_WORDS = ("file", "save", "load", "seed", "set_", "rand", "normal", "bernoulli", "multinomial", "poisson",
               "storage", "from_", "frombuffer", "empty", "cuda", "hook", "backward", "numpy", "tolist", "pin_memory",
               "share_memory", "data_ptr", "apply_", "map_", "map2_", "resize", "record_stream", "uniform_",
               "cauchy_", "exponential_", "geometric_", "random_", "log_normal_", "requires_grad", "retain_grad",
               "as_subclass", "module_load", "to_sparse", "to_mkldnn", "sparse", "quantize", "autocast", "compile",
               "_C", "__reduce", "__setstate__", "__deepcopy__", "__array", "new_tensor", "grad")
_TORCH_PY_OK = {"split", "einsum", "tensordot", "broadcast_tensors", "meshgrid", "norm", "cdist", "atleast_1d",
                "atleast_2d", "atleast_3d", "chain_matmul", "unique", "stft", "block_diag", "cartesian_prod"}
_DUNDERS = {"__add__", "__radd__", "__iadd__", "__sub__", "__rsub__", "__isub__", "__mul__", "__rmul__", "__imul__",
            "__truediv__", "__rtruediv__", "__itruediv__", "__div__", "__rdiv__", "__idiv__", "__floordiv__",
            "__rfloordiv__", "__ifloordiv__", "__mod__", "__rmod__", "__pow__", "__rpow__", "__ipow__", "__matmul__",
            "__rmatmul__", "__neg__", "__pos__", "__abs__", "__getitem__", "__setitem__", "__and__", "__or__",
            "__xor__", "__invert__", "__lt__", "__le__", "__gt__", "__ge__", "__eq__", "__ne__", "__iand__",
            "__ior__", "__ixor__", "__rand__", "__ror__", "__rxor__"}
_PROPS = {"T", "mT", "H", "mH", "data", "real", "imag"}
_INPLACE_DUNDERS = {"__iadd__", "__isub__", "__imul__", "__itruediv__", "__idiv__", "__ifloordiv__", "__ipow__",
                    "__iand__", "__ior__", "__ixor__", "__setitem__"}
MAX_INT = 10**8
MAX_NUMEL = 5 * 10**7


def _denied(name: str) -> bool:
    return any(w in name for w in _DENY_WORDS)


def resolve(ns: str, name: str):
    """The torch callable a trace node names, or None when it is not allowed."""
    import torch
    import torch.nn.functional as F

    if not isinstance(name, str) or not name or len(name) > 60:
        return None
    if name in _DUNDERS:
        return getattr(torch.Tensor, name, None) if ns == "Tensor" else None
    if name.startswith("__") or _denied(name):
        return None
    if ns == "F":
        if name.startswith("_") and not any(k in name for k in ("pool", "threshold")):
            return None
        f = getattr(F, name, None)
        return f if callable(f) and not isinstance(f, type) else None
    if ns == "torch":
        if name.startswith("_"):
            return None
        f = getattr(torch, name, None)
        if type(f).__name__ == "builtin_function_or_method" or name in _TORCH_PY_OK:
            return f
        return None
    if ns == "Tensor":
        if name.startswith("_"):
            return None
        f = getattr(torch.Tensor, name, None)
        return f if callable(f) and not isinstance(f, (type, property)) else None
    return None


@dataclass
class Replay:
    ok: bool
    reason: str = ""
    nodes: list = field(default_factory=list)  # verified nodes in kind_cnn_architecture.analyse's format
    output: np.ndarray | None = None
    notes: list = field(default_factory=list)  # what was traced but does not count, and why


class _Unverifiable(Exception):
    pass


def _guard_sizes(v, depth=0):
    """Refuse arguments that would make the replay allocate without bound."""
    if depth > 6:
        return
    if isinstance(v, bool):
        return
    if isinstance(v, int):
        if abs(v) > MAX_INT:
            raise _Unverifiable(f"an integer argument {v} is out of range")
    elif isinstance(v, float):
        if math.isfinite(v) and abs(v) > 1e6:
            raise _Unverifiable(f"a numeric argument {v} is out of range")
    elif isinstance(v, (list, tuple)):
        ints = [x for x in v if isinstance(x, int) and not isinstance(x, bool)]
        if ints and len(ints) == len(v):
            prod = 1
            for x in ints:
                prod *= max(1, abs(x))
            if prod > MAX_NUMEL:
                raise _Unverifiable(f"a size argument {list(v)[:8]} is too large")
        for x in v:
            _guard_sizes(x, depth + 1)
    elif isinstance(v, dict):
        for x in v.values():
            _guard_sizes(x, depth + 1)


def replay(trace: dict, x: np.ndarray, params: dict[str, np.ndarray], buffers: dict[str, np.ndarray],
           rtol: float = 1e-3) -> Replay:
    """Re-execute a probe's trace in the grader; keep what reaches the output with gradient.

    `params` are the grader's own values (param_values); `buffers` the probe's buffer
    values (constants, never counted as evidence by themselves). The replay must
    reproduce the probe's output on `x` within `rtol` of its scale; then a backward pass
    of sum(out * r) (r random) gives each use of a tensor (an edge of the graph) its own
    gradient: an edge is live when that gradient is not zero. A node counts when a live
    path leads from the input to it; its parameters count when their edge is live."""
    import torch

    nodes = trace.get("nodes") if isinstance(trace.get("nodes"), list) else []
    if not nodes or not isinstance(nodes[0], dict) or nodes[0].get("op") != "<input>":
        return Replay(False, "no trace of the forward pass came back")
    if trace.get("truncated"):
        return Replay(False, "the trace of the forward pass is incomplete (too many calls, or calls the recorder could not describe)")
    if trace.get("error"):
        return Replay(False, f"forward failed: {trace['error']}")
    out_ref = trace.get("out_ref")
    probe_out = trace.get("out")
    if not (isinstance(out_ref, list) and len(out_ref) == 2 and all(type(v) is int for v in out_ref)):
        return Replay(False, "the output of forward is not the result of a traced torch call on the input")
    if not isinstance(probe_out, np.ndarray) or probe_out.dtype.kind not in "fc":
        return Replay(False, "forward did not return a float tensor")

    P = {n: torch.tensor(v, requires_grad=v.dtype.kind == "f") for n, v in params.items()}
    B = {n: torch.from_numpy(np.array(v)) for n, v in buffers.items() if isinstance(v, np.ndarray)}
    X = torch.tensor(np.asarray(x, dtype=np.float32), requires_grad=True)
    vals: dict[tuple[int, int], Any] = {(0, 0): X}
    edges: list[tuple[tuple, int, Any]] = []  # (producer key, consumer node, the alias the consumer received)
    node_ops = ["<input>"] + [str(n.get("op")) if isinstance(n, dict) else "?" for n in nodes[1:]]
    param_edges: dict[int, list[tuple[str, Any]]] = {}

    def alias(t, key, i):
        if isinstance(t, torch.Tensor) and t.requires_grad:
            a = t.view_as(t)
            a.retain_grad()
            edges.append((key, i, a))
            if key[0] == "p":
                param_edges.setdefault(i, []).append((key[1], a))
            return a
        return t

    def dec(spec, i, depth=0):
        if depth > 8 or not isinstance(spec, dict) or len(spec) != 1:
            raise _Unverifiable("a malformed argument")
        (k, v), = spec.items()
        if k == "v":
            if v is None or type(v) in (bool, int, float, str):
                return v
            raise _Unverifiable("a malformed constant")
        if k == "n":
            key = (int(v[0]), int(v[1])) if isinstance(v, list) and len(v) == 2 else None
            if key is None or key not in vals or key[0] >= i:
                raise _Unverifiable(f"an input of call {i} ({node_ops[i]}) is not produced by an earlier traced call")
            return alias(vals[key], ("n",) + key, i)
        if k == "p":
            if v not in P:
                raise _Unverifiable(f"call {i} ({node_ops[i]}) uses a parameter {v!r} the model does not declare")
            return alias(P[v], ("p", v), i)
        if k == "b":
            if v not in B:
                raise _Unverifiable(f"call {i} ({node_ops[i]}) uses a buffer {v!r} whose value did not come back")
            return B[v]
        if k == "c":
            if not isinstance(v, np.ndarray) or v.dtype.kind not in "biuf" or v.size > 4096:
                raise _Unverifiable("a malformed constant tensor")
            return torch.from_numpy(np.array(v))
        if k in ("l", "t"):
            if not isinstance(v, list):
                raise _Unverifiable("a malformed sequence")
            seq = [dec(s, i, depth + 1) for s in v]
            return seq if k == "l" else tuple(seq)
        if k == "s":
            if not isinstance(v, list) or len(v) != 3:
                raise _Unverifiable("a malformed slice")
            return slice(*(dec(s, i, depth + 1) for s in v))
        if k == "e":
            return Ellipsis
        if k == "dt":
            dt = getattr(torch, str(v), None) if str(v).isidentifier() else None
            if not isinstance(dt, torch.dtype):
                raise _Unverifiable(f"an unknown dtype {v!r}")
            return dt
        if k == "dev":
            if str(v) != "cpu":
                raise _Unverifiable(f"device {v!r}")
            return torch.device("cpu")
        if k == "mf":
            mf = getattr(torch, str(v), None) if str(v).isidentifier() else None
            if not isinstance(mf, torch.memory_format):
                raise _Unverifiable(f"an unknown memory format {v!r}")
            return mf
        raise _Unverifiable(f"call {i} ({node_ops[i]}) takes {v if k == 'x' else 'an argument'} the grader cannot reproduce")

    try:
        with torch.random.fork_rng(devices=[]), torch.enable_grad():
            for i in range(1, len(nodes)):
                n = nodes[i]
                if not isinstance(n, dict):
                    raise _Unverifiable(f"call {i} is malformed")
                op, ns = str(n.get("op")), str(n.get("ns"))
                if ns == "prop":
                    if op not in _PROPS:
                        raise _Unverifiable(f"call {i}: the tensor property .{op}")
                    fn = None
                else:
                    fn = resolve(ns, op)
                    if fn is None:
                        raise _Unverifiable(f"call {i} ({ns}.{op}) is not a torch operation the grader replays")
                args = [dec(a, i) for a in (n.get("args") or [])]
                kwargs = {str(k): dec(v, i) for k, v in (n.get("kw") or {}).items()}
                _guard_sizes(args)
                _guard_sizes(kwargs)
                if "out" in kwargs:
                    raise _Unverifiable(f"call {i} ({op}) writes into out=")
                inplace = (op in _INPLACE_DUNDERS or (op.endswith("_") and not op.endswith("__"))
                           or kwargs.get("inplace") is True)
                if inplace and args and isinstance(args[0], torch.Tensor):
                    args[0] = args[0].clone()
                if ns == "prop":
                    if not args or not isinstance(args[0], torch.Tensor):
                        raise _Unverifiable(f"call {i}: .{op} of a non-tensor")
                    res = args[0].detach() if op == "data" else getattr(args[0], op)
                else:
                    res = fn(*args, **kwargs)
                if op == "__setitem__":
                    res = args[0]
                outs = []

                def flat(o, d=0):  # called at once, for this call's outputs
                    if d > 4:
                        return
                    if isinstance(o, torch.Tensor):
                        outs.append(o)  # noqa: B023
                    elif isinstance(o, (list, tuple)):
                        for v in o:
                            flat(v, d + 1)
                flat(res)
                if len(outs) != n.get("nout"):
                    raise _Unverifiable(f"call {i} ({op}) gave {len(outs)} tensors in the grader's replay, {n.get('nout')} in the probe")
                for k, t in enumerate(outs):
                    if t.numel() > MAX_NUMEL:
                        raise _Unverifiable(f"call {i} ({op}) makes a tensor too large to replay")
                    vals[(i, k)] = t
            key = (out_ref[0], out_ref[1])
            if key not in vals:
                raise _Unverifiable("the output of forward is not the result of a traced call")
            out = vals[key]
            got = out.detach().numpy()
            if got.shape != probe_out.shape:
                return Replay(False, f"the grader's replay of the traced calls gives shape {list(got.shape)}, forward returned {list(probe_out.shape)}")
            gf, pf = got.astype(np.float64), probe_out.astype(np.float64)
            fin = np.isfinite(pf)
            # NaN and inf must sit where the probe saw them (then the output is judged, and fails, for them)
            same_nonfinite = np.array_equal(np.isfinite(gf), fin) and np.array_equal(gf[~fin], pf[~fin], equal_nan=True)
            scale = float(np.max(np.abs(pf[fin]))) if fin.any() else 0.0
            diff = float(np.max(np.abs(gf[fin] - pf[fin]))) if fin.any() else 0.0
            if not same_nonfinite or not np.isfinite(diff) or diff > rtol * max(scale, 1e-6) + 1e-6:
                return Replay(False, f"the grader's replay of the traced calls does not reproduce forward's output "
                                     f"(max difference {diff:.3g} at scale {scale:.3g}): the record of the forward pass is not what forward computed")
            if not out.requires_grad or not out.is_floating_point():
                return Replay(False, "forward's output does not depend on its input or parameters")
            g = torch.Generator().manual_seed(1234)
            r = torch.randn(out.shape, generator=g, dtype=out.dtype)
            (out * r).sum().backward()
    except _Unverifiable as exc:
        return Replay(False, str(exc))
    except Exception as exc:  # a call the grader's torch refuses: the record is not reproducible
        return Replay(False, f"the grader could not replay the traced calls ({type(exc).__name__}: {str(exc)[:200]})")

    def live(a) -> bool:
        return a.grad is not None and bool(torch.any(a.grad != 0))

    live_in: dict[int, set[int]] = {}
    for key, i, a in edges:
        if key[0] == "n" and live(a):
            live_in.setdefault(i, set()).add(key[1])
    reached = {0}
    for i in range(1, len(nodes)):
        if live_in.get(i, set()) & reached:
            reached.add(i)
    out_nodes = []
    notes = []
    from grader.checks.kind_cnn_architecture import BN_OPS, CONV_OPS, LINEAR_OPS

    for i in range(len(nodes)):
        op = node_ops[i]
        if i == 0:
            out_nodes.append({"op": "<input>", "in": [], "w": []})
            continue
        pw = [name for name, a in param_edges.get(i, []) if live(a)]
        ins = sorted(j for j in live_in.get(i, set()) if j in reached)
        if i not in reached:
            if op in CONV_OPS | BN_OPS | LINEAR_OPS or "pool" in op:
                notes.append(f"{op} (call {i}) does not count: no gradient reaches it from the input through the output")
            out_nodes.append({"op": "<not reached>", "traced": op, "in": [], "w": []})
            continue
        traced = op
        if op in CONV_OPS | LINEAR_OPS and not pw:
            notes.append(f"{op} (call {i}) does not count: its weight is not a parameter of the model that receives gradient")
            op = "<no parameter>"
        elif op in BN_OPS and not pw and not any(isinstance(a, dict) and "b" in a for a in (nodes[i].get("args") or [])):
            notes.append(f"{op} (call {i}) does not count: it uses no parameter or buffer of the model")
            op = "<no parameter>"
        out_nodes.append({"op": op, "traced": traced, "in": ins, "w": pw})
    return Replay(True, "", out_nodes, got, notes)


def verified_trace(info: dict, trace: dict, x: np.ndarray, seed: int, max_numel: int) -> Replay:
    """Replay one traced input with the grader's parameter values."""
    plist = info.get("params") if isinstance(info.get("params"), list) else []
    params: dict[str, np.ndarray] = {}
    total = 0
    for p in plist:
        if not (isinstance(p, list) and len(p) == 3 and isinstance(p[0], str) and isinstance(p[1], list)
                and all(type(s) is int and 0 <= s for s in p[1])):
            return Replay(False, "the description of the model's parameters is malformed")
        n = int(np.prod(p[1])) if p[1] else 1
        total += n
        if total > max_numel:
            return Replay(False, "the model has more parameters than the grader replays")
        if str(p[2]) in ("float32", "float64", "float16", "bfloat16"):
            v = param_values(seed, p[0], tuple(p[1]))
            params[p[0]] = v.astype(np.float64) if p[2] == "float64" else v
    bv = info.get("buffer_values") if isinstance(info.get("buffer_values"), dict) else {}
    buffers = {str(k): v for k, v in bv.items() if isinstance(v, np.ndarray) and v.dtype.kind in "biuf"}
    return replay(trace, x, params, buffers)


# --------------------------------------------------------------------------------------
# echo models: the grader recomputes standard layouts from the exported weights
#
# kind_trained_model scores a trained echo model. forward() is student code and can
# tell the grader's runs apart (a fingerprint of the weights switches a hand-coded echo
# on for the real weights and off for any control), so its outputs cannot by themselves
# show that the behaviour was learned. For the layouts the course's notebooks use
# (one-hot letters or an nn.Embedding -> nn.GRU/nn.LSTM -> nn.Linear read-out; for the
# variable delay a read-out with one head per delay, or the delay fed in as a one-hot
# next to the letter) the grader reads the parameter tree from the exported state_dict
# (names and shapes, plain arrays it validated), runs the recurrence and the read-out
# itself, in numpy float64, on its own inputs, and requires forward's argmax to agree
# with its own. Only then is the grader's computation scored; anything else is
# unverified (kind_trained_model: needs a TA, never points).

ECHO_VOCAB = 27
ECHO_AGREEMENT = 0.98  # fraction of characters forward's argmax must share with the grader's
ECHO_MAX_FLOPS = 6e10  # what the grader spends recomputing one model (numpy, one thread: seconds)


@dataclass
class EchoLayout:
    """One reading of a state_dict as a standard echo model."""
    rnn: str                      # state_dict prefix of the recurrent module ('' at the top level)
    mode: str                     # "GRU" | "LSTM"
    hidden: int
    layers: int
    bidirectional: bool
    bias: bool
    input_size: int
    head: str                     # prefix of the nn.Linear read-out
    embedding: str | None = None  # prefix of an nn.Embedding reading the letter indices
    delay_input: str | None = None  # "after" | "before": a one-hot delay next to the letter
    delay_size: int = 0           # width of that one-hot (max_delay + 1)
    head_view: str = "single"     # "single" | "delay_major" (view(D+1, 27)) | "class_major" (view(27, D+1))

    def describe(self) -> str:
        inp = (f"nn.Embedding `{self.embedding}`" if self.embedding is not None else "one-hot letters (27)")
        if self.delay_input:
            inp += f" with the delay as a one-hot of {self.delay_size} {'after' if self.delay_input == 'after' else 'before'} them"
        rnn = (f"nn.{self.mode} `{self.rnn or '<top>'}` (hidden {self.hidden}"
               + (f", {self.layers} layers" if self.layers > 1 else "") + (", bidirectional" if self.bidirectional else "") + ")")
        head = f"nn.Linear `{self.head}`"
        if self.head_view == "delay_major":
            head += " (one head of 27 per delay)"
        elif self.head_view == "class_major":
            head += " (27 x delays, one column per delay)"
        return f"{inp} -> {rnn} -> {head}"


def _split_name(n: str) -> tuple[str, str]:
    return tuple(n.rsplit(".", 1)) if "." in n else ("", n)  # type: ignore[return-value]


def echo_layouts(arrays: dict[str, np.ndarray], variable: bool, max_delay: int | None) -> tuple[list[EchoLayout], list[str], list[str]]:
    """The readings of `arrays` (a state_dict: name -> array) as a standard echo model.
    Returns (layouts to try, state entries no reading uses, why there is none)."""
    by_prefix: dict[str, dict[str, np.ndarray]] = {}
    for n, a in arrays.items():
        pre, leaf = _split_name(n)
        by_prefix.setdefault(pre, {})[leaf] = np.asarray(a)
    why: list[str] = []
    rnns = []
    for pre, leaves in by_prefix.items():
        if "weight_ih_l0" not in leaves or "weight_hh_l0" not in leaves:
            continue
        whh = leaves["weight_hh_l0"]
        if any(k.startswith("weight_hr_l") for k in leaves):
            why.append(f"`{pre}` is an nn.LSTM with proj_size (the grader recomputes LSTMs without projections)")
            continue
        if whh.ndim != 2 or whh.shape[1] == 0 or whh.shape[0] % whh.shape[1]:
            why.append(f"`{pre}` has recurrent weights of shape {list(whh.shape)}")
            continue
        H, gates = whh.shape[1], whh.shape[0] // whh.shape[1]
        mode = {3: "GRU", 4: "LSTM"}.get(gates)
        if mode is None:
            why.append(f"`{pre}` is a recurrent module with {gates} gate(s) (the grader recomputes nn.GRU and nn.LSTM)")
            continue
        bidir = "weight_ih_l0_reverse" in leaves
        bias = "bias_ih_l0" in leaves
        layers = 0
        while f"weight_ih_l{layers}" in leaves:
            layers += 1
        I = leaves["weight_ih_l0"].shape[1] if leaves["weight_ih_l0"].ndim == 2 else -1
        want = {}
        for k in range(layers):
            for sfx in ([""] + (["_reverse"] if bidir else [])):
                want[f"weight_ih_l{k}{sfx}"] = (gates * H, I if k == 0 else H * (2 if bidir else 1))
                want[f"weight_hh_l{k}{sfx}"] = (gates * H, H)
                if bias:
                    want[f"bias_ih_l{k}{sfx}"] = (gates * H,)
                    want[f"bias_hh_l{k}{sfx}"] = (gates * H,)
        bad = [f"{k} {list(leaves[k].shape) if k in leaves else 'missing'}" for k in want if k not in leaves or leaves[k].shape != want[k]]
        extra = sorted(set(leaves) - set(want))
        if bad or extra:
            why.append(f"`{pre}`'s parameters are not those of an nn.{mode}: " + ", ".join(bad + [f"{e} (unexpected)" for e in extra])[:300])
            continue
        rnns.append(EchoLayout(rnn=pre, mode=mode, hidden=H, layers=layers, bidirectional=bidir, bias=bias, input_size=I, head=""))
    if len(rnns) != 1:
        if not rnns and not why:
            why.append("no nn.GRU or nn.LSTM among the model's parameters")
        elif len(rnns) > 1:
            why.append(f"{len(rnns)} recurrent modules ({', '.join('`' + r.rnn + '`' for r in rnns)}); the grader recomputes one")
        return [], [], why
    base = rnns[0]
    feat = base.hidden * (2 if base.bidirectional else 1)
    heads, embeddings = [], []
    for pre, leaves in by_prefix.items():
        if pre == base.rnn or "weight" not in leaves or set(leaves) - {"weight", "bias"}:
            continue
        w = leaves["weight"]
        if w.ndim != 2:
            continue
        if w.shape[1] == feat and ("bias" not in leaves or leaves["bias"].shape == (w.shape[0],)) \
                and w.shape[0] % ECHO_VOCAB == 0 and (variable or w.shape[0] == ECHO_VOCAB):
            heads.append((pre, w.shape[0]))
        if "bias" not in leaves and w.shape[0] >= ECHO_VOCAB and w.shape[1] == base.input_size:
            embeddings.append(pre)
    if not heads:
        why.append(f"no nn.Linear read-out from the {feat} features of `{base.rnn or '<top>'}` to 27 letters")
        return [], [], why
    inputs: list[tuple[str | None, str | None, int]] = []
    if base.input_size == ECHO_VOCAB:
        inputs.append((None, None, 0))
    inputs += [(e, None, 0) for e in embeddings]
    if variable:
        dsz = base.input_size - ECHO_VOCAB  # the letters' one-hot and the delay's (max_delay + 1)
        if dsz >= 1 and (not isinstance(max_delay, int) or dsz >= max_delay + 1):
            inputs += [(None, "after", dsz), (None, "before", dsz)]
    if not inputs:
        why.append(f"`{base.rnn or '<top>'}` reads {base.input_size} features per step: neither the 27 one-hot letters, "
                   "an nn.Embedding of them, nor letters and a one-hot delay")
        return [], [], why
    out = []
    for emb, din, dsz in inputs:
        for head, n_out in heads:
            if head == emb:
                continue
            views = ["single"] if n_out == ECHO_VOCAB else []
            if variable and n_out > ECHO_VOCAB and din is None:
                views = ["delay_major", "class_major"]
            if variable and n_out == ECHO_VOCAB and din is None:
                views = []  # a variable-delay model must read the delay somewhere the grader can see
            for v in views:
                out.append(EchoLayout(rnn=base.rnn, mode=base.mode, hidden=base.hidden, layers=base.layers,
                                      bidirectional=base.bidirectional, bias=base.bias, input_size=base.input_size,
                                      head=head, embedding=emb, delay_input=din, delay_size=dsz, head_view=v))
    if not out:
        why.append("no combination of the model's input, recurrent module and read-out reads the delay (variable delay)")
    used = set()
    for lay in out:
        used |= {n for n in arrays if _split_name(n)[0] in (lay.rnn, lay.head, lay.embedding)}
    return out, sorted(set(arrays) - used), why


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _run_rnn(lay: EchoLayout, arrays: dict, x: np.ndarray) -> np.ndarray:
    """x (B, T, I) float64 -> the top layer's outputs (B, T, H * dirs), PyTorch's equations."""
    p = (lay.rnn + ".") if lay.rnn else ""
    B, T, _ = x.shape
    H = lay.hidden
    inp = x
    for k in range(lay.layers):
        outs = []
        for sfx in ([""] + (["_reverse"] if lay.bidirectional else [])):
            wih = np.asarray(arrays[f"{p}weight_ih_l{k}{sfx}"], dtype=np.float64)
            whh = np.asarray(arrays[f"{p}weight_hh_l{k}{sfx}"], dtype=np.float64)
            bih = np.asarray(arrays[f"{p}bias_ih_l{k}{sfx}"], dtype=np.float64) if lay.bias else 0.0
            bhh = np.asarray(arrays[f"{p}bias_hh_l{k}{sfx}"], dtype=np.float64) if lay.bias else 0.0
            gi_all = inp @ wih.T + bih  # (B, T, gates * H)
            h = np.zeros((B, H))
            c = np.zeros((B, H))
            seq = np.zeros((B, T, H))
            steps = range(T - 1, -1, -1) if sfx else range(T)
            for t in steps:
                gi = gi_all[:, t]
                gh = h @ whh.T + bhh
                if lay.mode == "GRU":
                    r = _sigmoid(gi[:, :H] + gh[:, :H])
                    z = _sigmoid(gi[:, H:2 * H] + gh[:, H:2 * H])
                    n = np.tanh(gi[:, 2 * H:] + r * gh[:, 2 * H:])
                    h = (1.0 - z) * n + z * h
                else:
                    g = gi + gh
                    i_, f_ = _sigmoid(g[:, :H]), _sigmoid(g[:, H:2 * H])
                    c = f_ * c + i_ * np.tanh(g[:, 2 * H:3 * H])
                    h = _sigmoid(g[:, 3 * H:]) * np.tanh(c)
                seq[:, t] = h
            outs.append(seq)
        inp = np.concatenate(outs, axis=-1) if len(outs) > 1 else outs[0]
    return inp


def echo_cost(lay: EchoLayout, arrays: dict, n_chars: int) -> float:
    p = (lay.rnn + ".") if lay.rnn else ""
    n = sum(np.asarray(a).size for k, a in arrays.items() if k.startswith(p) and _split_name(k)[0] == lay.rnn)
    return 2.0 * n * n_chars


def echo_recompute(lay: EchoLayout, arrays: dict, index: np.ndarray, delays: np.ndarray | None,
                   cache: dict | None = None) -> np.ndarray:
    """The grader's own logits (B, T, 27) for letter indices (B, T) (0 blank, 1..26 a..z) and
    delays (B,) (variable delay), from the weights alone."""
    index = np.asarray(index, dtype=np.int64)
    B, T = index.shape
    key = (lay.embedding, lay.delay_input, lay.delay_size, index.tobytes(), None if delays is None else np.asarray(delays).tobytes())
    feats = None if cache is None else cache.get(key)
    if feats is None:
        if lay.embedding is not None:
            E = np.asarray(arrays[(lay.embedding + ".weight") if lay.embedding else "weight"], dtype=np.float64)
            x = E[index]
        else:
            x = np.eye(ECHO_VOCAB)[index]
        if lay.delay_input:
            d = np.zeros((B, T, lay.delay_size))
            dl = np.asarray(delays, dtype=np.int64)
            ok = (dl >= 0) & (dl < lay.delay_size)
            d[np.arange(B)[ok], :, dl[ok]] = 1.0
            x = np.concatenate([x, d] if lay.delay_input == "after" else [d, x], axis=-1)
        feats = _run_rnn(lay, arrays, x)
        if cache is not None:
            cache[key] = feats
    hp = (lay.head + ".") if lay.head else ""
    W = np.asarray(arrays[hp + "weight"], dtype=np.float64)
    b = np.asarray(arrays[hp + "bias"], dtype=np.float64) if (hp + "bias") in arrays else 0.0
    y = feats @ W.T + b
    if lay.head_view == "single":
        return y
    n_d = W.shape[0] // ECHO_VOCAB
    y = y.reshape(B, T, n_d, ECHO_VOCAB) if lay.head_view == "delay_major" else y.reshape(B, T, ECHO_VOCAB, n_d).swapaxes(2, 3)
    out = np.full((B, T, ECHO_VOCAB), np.nan)
    dl = np.asarray(delays, dtype=np.int64)
    for bi in range(B):
        if 0 <= dl[bi] < n_d:
            out[bi] = y[bi, :, dl[bi]]
    return out  # a delay the heads do not cover reads as NaN: never the right letter


def echo_decode(y: np.ndarray) -> str:
    """Logits (T, 27) -> the predicted string (index 0 -> ' '; a row with no finite value -> '?')."""
    r = np.where(np.isfinite(y), y, -np.inf)
    k = np.argmax(r, axis=-1)
    bad = ~np.isfinite(r).any(axis=-1)
    return "".join("?" if b else (" " if j == 0 else chr(96 + int(j))) for j, b in zip(k, bad))


@dataclass
class EchoVerification:
    ok: bool
    reason: str = ""
    layout: str = ""
    agreement: float | None = None
    preds: dict | None = None       # string index -> the grader's own prediction (of the best-agreeing reading)
    unused: list = field(default_factory=list)  # state entries the recomputation does not read
    tried: list = field(default_factory=list)   # [layout, agreement] for each reading tried


def verify_echo(arrays: dict[str, np.ndarray], groups: list[tuple[np.ndarray, np.ndarray | None]], members: list[list[int]],
                fwd_preds: dict[int, str], variable: bool, max_delay: int | None,
                min_agreement: float = ECHO_AGREEMENT, max_flops: float = ECHO_MAX_FLOPS) -> EchoVerification:
    """Recompute the model from its weights for each standard reading of its state_dict and
    compare with forward's predictions `fwd_preds` ({string index: predicted string}, the
    grader's argmax of forward on the same inputs). ok when one reading agrees on at least
    `min_agreement` of the characters; `preds` are then the grader's own predictions."""
    layouts, unused, why = echo_layouts(arrays, variable, max_delay)
    if not layouts:
        return EchoVerification(False, "; ".join(why) or "no standard layout", unused=unused)
    n_chars = sum(int(np.asarray(ix).size) for ix, _ in groups)
    cost = echo_cost(layouts[0], arrays, n_chars)
    if cost > max_flops:
        return EchoVerification(False, f"the model is too large for the grader to recompute ({cost:.1e} > {max_flops:.0e} operations)",
                                unused=unused)
    cache: dict = {}
    best = None
    tried = []
    for lay in layouts:
        preds: dict[int, str] = {}
        same = total = 0
        with np.errstate(all="ignore"):
            for (ix, dl), chunk in zip(groups, members):
                y = echo_recompute(lay, arrays, ix, dl, cache)
                for b, i in enumerate(chunk):
                    preds[i] = echo_decode(y[b])
                    f = fwd_preds.get(i, "")
                    total += len(preds[i])
                    same += sum(int(a == c) for a, c in zip(preds[i], f))
        agree = same / total if total else 0.0
        tried.append([lay.describe(), round(agree, 5)])
        if best is None or agree > best[1]:
            best = (lay, agree, preds)
    lay, agree, preds = best
    ok = agree >= min_agreement
    reason = "" if ok else (f"forward's predictions are not what the model's own weights compute: the grader's "
                            f"{lay.describe()} agrees with them on {agree:.1%} of the characters (needs {min_agreement:.0%})")
    return EchoVerification(ok, reason, lay.describe(), round(agree, 5), preds, unused, tried)
