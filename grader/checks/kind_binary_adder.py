"""`binary_adder`: the hand-designed hard-threshold RNN adds every pair of n-bit numbers.

The target returns weights only (plain data). The grader simulates, in its own process,
    h[t] = step(Wxh x[t] + Whh h[t-1] + bh),  y[t] = step(Why h[t] + by),  step(z) = [z > 0]
over all 2^n x 2^n pairs, bits fed LSB first, padded with one zero, plus the statement's
example. Layouts: the column-vector layout of the statement, or the transposed
(row-vector) one; any rescaling or permutation of units is fine because only behaviour counts.
"""
from __future__ import annotations

import itertools

import numpy as np

from pydantic import Field

from grader.checks.base import CheckKind, CheckParams, CheckResult, Part, combine, timeout_field
from grader.checks.compare import as_array
from grader.checks.registry import register
from grader.probe import Call

EXAMPLE = ("0101101", "0111010", "1100111")  # a + b = s, written MSB first as in the statement
KEYS = ("Wxh", "Whh", "Why", "bh", "by")


def simulate(W: dict, a: np.ndarray, b: np.ndarray, n_steps: int):
    """a, b: (N, n_steps) bits LSB first. Returns (outputs (N, n_steps), min |pre-activation|, any exactly 0)."""
    N = a.shape[0]
    h = np.zeros((N, W["Whh"].shape[0]))
    ys = np.zeros((N, n_steps), dtype=np.int64)
    min_abs, on_threshold = np.inf, False
    for t in range(n_steps):
        x = np.stack([a[:, t], b[:, t]], axis=1).astype(float)
        zh = x @ W["Wxh"].T + h @ W["Whh"].T + W["bh"]
        h = (zh > 0).astype(float)
        zy = h @ W["Why"].T + W["by"]
        ys[:, t] = (zy[:, 0] > 0).astype(np.int64)
        both = np.concatenate([zh.ravel(), zy.ravel()])
        min_abs = min(min_abs, float(np.min(np.abs(both))))
        on_threshold = on_threshold or bool(np.any(both == 0))
    return ys, min_abs, on_threshold


def _layouts(raw: dict):
    """Candidate (name, weights) interpretations of the returned arrays, standard first."""
    arrs = {k: as_array(raw.get(k)) for k in KEYS}
    if any(v is None for v in arrs.values()):
        return [], f"missing or non-numeric entries: {[k for k, v in arrs.items() if v is None]}"
    arrs = {k: v.astype(float) for k, v in arrs.items()}
    if not all(np.all(np.isfinite(v)) for v in arrs.values()):
        return [], "weights contain NaN or inf"
    bh = arrs["bh"].reshape(-1)
    by = arrs["by"].reshape(-1)
    if by.size != 1 or bh.size != 3:
        return [], f"expected bh with 3 numbers and a scalar by, got shapes {list(arrs['bh'].shape)} and {list(arrs['by'].shape)}"
    out = []
    for tx, th, ty in itertools.product((False, True), repeat=3):
        Wxh = arrs["Wxh"].T if tx else arrs["Wxh"]
        Whh = arrs["Whh"].T if th else arrs["Whh"]
        Why = arrs["Why"].reshape(1, -1) if arrs["Why"].size == 3 and ty else (arrs["Why"].T if ty else arrs["Why"])
        if Wxh.shape == (3, 2) and Whh.shape == (3, 3) and Why.shape == (1, 3):
            name = "standard" if not (tx or th or ty) else "transposed " + "/".join(n for n, f in (("Wxh", tx), ("Whh", th), ("Why", ty)) if f)
            out.append((name, {"Wxh": Wxh, "Whh": Whh, "Why": Why, "bh": bh, "by": by}))
    if not out:
        return [], f"shapes Wxh {list(arrs['Wxh'].shape)}, Whh {list(arrs['Whh'].shape)}, Why {list(arrs['Why'].shape)} fit neither layout (expected (3,2), (3,3), (1,3))"
    seen, uniq = set(), []
    for name, w in out:
        key = tuple(np.round(np.concatenate([v.ravel() for v in w.values()]), 12))
        if key not in seen:
            seen.add(key)
            uniq.append((name, w))
    return uniq, ""


def _bits(values: np.ndarray, n: int) -> np.ndarray:
    return ((values[:, None] >> np.arange(n)) & 1).astype(np.int64)


def judge(raw, n_bits: int) -> CheckResult:
    if not isinstance(raw, dict):
        return CheckResult.failed(f"binary_addition_rnn() must return a dict with keys {list(KEYS)}, got {type(raw).__name__}")
    layouts, problem = _layouts(raw)
    if not layouts:
        return CheckResult.failed(problem, 0.0)
    steps = n_bits + 1
    vals = np.arange(2 ** n_bits)
    A, B = np.meshgrid(vals, vals, indexing="ij")
    A, B = A.ravel(), B.ravel()
    a_bits, b_bits, want = _bits(A, steps), _bits(B, steps), _bits(A + B, steps)
    ex_a = np.array([[int(c) for c in reversed(EXAMPLE[0])] + [0]])
    ex_b = np.array([[int(c) for c in reversed(EXAMPLE[1])] + [0]])
    ex_want = np.array([[int(c) for c in reversed(EXAMPLE[2])] + [0]])
    best = None
    for name, W in layouts:
        ex_out, _, _ = simulate(W, ex_a, ex_b, ex_a.shape[1])
        out, min_abs, on_thr = simulate(W, a_bits, b_bits, steps)
        wrong = np.nonzero(np.any(out != want, axis=1))[0]
        ex_ok = bool(np.array_equal(ex_out, ex_want))
        cand = (len(wrong), not ex_ok, name, W, ex_out, out, wrong, min_abs, on_thr, ex_ok)
        if best is None or cand[:2] < best[:2]:
            best = cand
        if len(wrong) == 0 and ex_ok:
            break
    n_wrong, _, name, W, ex_out, out, wrong, min_abs, on_thr, ex_ok = best
    total = len(A)
    ev = {"layout": name, "pairs_checked": total, "pairs_wrong": int(n_wrong), "min_abs_preactivation": min_abs,
          "preactivation_on_threshold": on_thr, "n_bits": n_bits}
    ex_detail = "inputs (1,0) (0,1) (1,0) (1,1) (0,1) (1,1) (0,0) -> expected 1 1 1 0 0 1 1"
    if not ex_ok:
        ex_detail += f", got {' '.join(map(str, ex_out[0][:7]))}"
    parts = [Part("weights have the right shapes (" + name + " layout)", 0.1, True),
             Part("the statement's example 0101101 + 0111010 = 1100111", 0.2, ex_ok, ex_detail)]
    if n_wrong:
        i = int(wrong[0])
        a, b = int(A[i]), int(B[i])
        got_val = int(sum(int(bit) << k for k, bit in enumerate(out[i])))
        detail = (f"{n_wrong} of {total} pairs wrong; first: {a} + {b} = {a + b}, the RNN outputs {got_val} "
                  f"(bits LSB first: expected {''.join(map(str, want[i]))}, got {''.join(map(str, out[i]))})")
        ev["first_failure"] = {"a": a, "b": b, "expected": a + b, "got": got_val}
    else:
        detail = f"all {total} pairs of {n_bits}-bit numbers add correctly"
    if on_thr:
        detail += "; note: some pre-activation is exactly 0, so the design only works because step(0) = 0 (fragile)"
    parts.append(Part(f"adds all pairs of {n_bits}-bit numbers", 0.7, n_wrong == 0, detail))
    return combine(parts, ev)


@register
class BinaryAdder(CheckKind):
    name = "binary_adder"

    class Params(CheckParams):
        n_bits: int = Field(8, ge=1, le=10, description="check all pairs of n_bits-bit numbers (4**n_bits pairs)")
        timeout_s: float = timeout_field(20.0)

    def run(self, ctx, item) -> CheckResult:
        if (msg := ctx.missing(item.target)):
            return CheckResult.failed(msg)
        p = self.params(item)
        (out,) = ctx.probe([item.target], [Call(item.target, (), {}, p.timeout_s)])
        if not out.ok:
            return CheckResult.failed(f"{item.target}() raised {out.error}")
        return judge(out.value, p.n_bits)
