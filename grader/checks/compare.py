"""Comparing a probe's plain-data value with the reference, in the trusted process."""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from grader.probe import Opaque

DEFAULT_TOL = {"float64": (1e-7, 1e-9), "float32": (1e-4, 1e-5)}


@dataclass(frozen=True)
class Comparison:
    ok: bool
    detail: str
    evidence: dict


def load_reference(path: str):
    """'package.module:function' -> the callable (the grader's own, trusted code)."""
    mod, _, name = path.partition(":")
    return getattr(importlib.import_module(mod), name)


def as_array(value: Any) -> np.ndarray | None:
    """Plain numbers, nested lists/tuples of numbers and arrays -> ndarray; anything else -> None."""
    if isinstance(value, Opaque) or value is None:
        return None
    if isinstance(value, np.ndarray):
        return value if value.dtype != object else None
    if isinstance(value, bool):
        return np.asarray(value)
    if isinstance(value, (int, float)):
        return np.asarray(value)
    if isinstance(value, (list, tuple)):
        parts = [as_array(v) for v in value]
        if any(p is None for p in parts):
            return None
        try:
            return np.stack(parts) if parts else np.zeros((0,))
        except ValueError:
            return None
    return None


def ref_to_numpy(value: Any) -> Any:
    import torch

    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    if isinstance(value, dict):
        return {k: ref_to_numpy(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(ref_to_numpy(v) for v in value)
    return value


def compare_values(got: Any, want: Any, rtol: float | None, atol: float | None, exact: bool = False,
                   show_expected: bool | None = True) -> Comparison:
    """Shape, dtype family and values; the worst element is reported on failure.

    `show_expected`: whether the failure detail (and evidence) may quote expected values.
    None: only for comparisons within a tolerance, never for exact answers (an exact
    answer quoted in feedback is the answer)."""
    if isinstance(want, dict):
        if not isinstance(got, dict):
            return Comparison(False, f"expected a dict with keys {sorted(want)}, got {kind_of(got)}", {})
        missing = sorted(set(want) - set(got))
        if missing:
            return Comparison(False, f"missing key(s) {missing} (got keys {sorted(got)})", {})
        for k in sorted(want):
            c = compare_values(got[k], want[k], rtol, atol, exact, show_expected)
            if not c.ok:
                return Comparison(False, f"[{k!r}] {c.detail}", c.evidence)
        return Comparison(True, "all keys match", {})
    g = as_array(got)
    w = np.asarray(want)
    if g is None:
        return Comparison(False, f"expected numbers of shape {list(w.shape)}, got {kind_of(got)}", {"got_type": kind_of(got)})
    if w.ndim == 0 and g.size == 1:
        g = g.reshape(())  # a number returned as a 1-element array is still that number
    if g.shape != w.shape:
        if g.size == w.size and g.size > 0 and np.allclose(g.reshape(w.shape).astype(float), w.astype(float), rtol=rtol or 1e-6, atol=atol or 1e-8):
            return Comparison(False, f"right values but wrong shape: expected {list(w.shape)}, got {list(g.shape)}",
                              {"expected_shape": list(w.shape), "got_shape": list(g.shape), "reshaped_match": True})
        return Comparison(False, f"wrong shape: expected {list(w.shape)}, got {list(g.shape)}",
                          {"expected_shape": list(w.shape), "got_shape": list(g.shape)})
    if g.dtype.kind not in "biuf" :
        return Comparison(False, f"expected numbers, got dtype {g.dtype}", {"got_dtype": str(g.dtype)})
    if exact or (w.dtype.kind in "biu" and g.dtype.kind in "biu"):
        if np.array_equal(g, w):
            return Comparison(True, "exact match", {})
        idx = tuple(int(i) for i in np.argwhere(g != w)[0]) if g.ndim else ()
        if not show_expected:
            bad = int(np.sum(g != w))
            return Comparison(False, f"got {g.tolist() if g.size <= 8 else '...'}, which is not the answer"
                              + (f" ({bad} of {g.size} entries differ; the first at index {list(idx)})" if g.ndim else ""),
                              {"got": _small(g), "expected_shown": False})
        return Comparison(False, f"expected {w.tolist() if w.size <= 8 else '...'}, got {g.tolist() if g.size <= 8 else '...'}"
                          + (f"; first difference at {list(idx)}: expected {w[idx]!r}, got {g[idx]!r}" if g.ndim else ""),
                          {"expected": _small(w), "got": _small(g)})
    fam = "float32" if g.dtype == np.float32 or w.dtype == np.float32 else "float64"
    r0, a0 = DEFAULT_TOL[fam]
    rtol = r0 if rtol is None else rtol
    atol = a0 if atol is None else atol
    gf, wf = g.astype(np.float64), w.astype(np.float64)
    if not np.all(np.isfinite(gf)):
        return Comparison(False, "the result contains NaN or inf", {"got": _small(g)})
    err = np.abs(gf - wf) - (atol + rtol * np.abs(wf))
    if np.all(err <= 0):
        return Comparison(True, f"values match (max abs error {float(np.max(np.abs(gf - wf))) if g.size else 0:.3g})", {})
    idx = np.unravel_index(int(np.argmax(err)), err.shape) if g.ndim else ()
    idx_l = [int(i) for i in idx]
    bad = int(np.sum(err > 0))
    if show_expected is False:
        return Comparison(False, f"{bad} of {g.size} values differ; the worst at index {idx_l}: got {gf[idx]:.6g} "
                          f"(rtol {rtol:g}, atol {atol:g})",
                          {"worst_index": idx_l, "got": float(gf[idx]), "n_bad": bad, "n": int(g.size), "expected_shown": False})
    return Comparison(False, f"{bad} of {g.size} values differ; worst at index {idx_l}: expected {wf[idx]:.6g}, got {gf[idx]:.6g} "
                      f"(rtol {rtol:g}, atol {atol:g})",
                      {"worst_index": idx_l, "expected": float(wf[idx]), "got": float(gf[idx]), "n_bad": bad, "n": int(g.size)})


def _small(a: np.ndarray):
    return a.tolist() if a.size <= 16 else {"shape": list(a.shape)}


def kind_of(v: Any) -> str:
    """What a student's value is, in words, for feedback (an Opaque by the type it came from)."""
    if isinstance(v, Opaque):
        return f"an object of type {v.type} (not plain numbers)"
    if isinstance(v, np.ndarray):
        return f"an array of shape {list(v.shape)} and dtype {v.dtype}"
    return type(v).__name__
