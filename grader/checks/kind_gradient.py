"""`gradient`: hand-derived Jacobians/gradients against torch autograd on the reference forward.

The expected value is never a hand-written reference derivative: the grader differentiates
the reference *forward* with autograd in float64, so the check is as good as the forward.

    mode: jacobian   target(*args) == d forward(*args) / d args[wrt]        (full Jacobian)
    mode: vjp        target(*args) == d sum(args[upstream] * forward(*fargs)) / d fargs[wrt]
                     where fargs are the target's args without the upstream one

For `wrt` pointing at a dict of numbers (the LSTM weights), the result is a dict with the
same keys. Each case is scored as `shape_weight` for the right shape plus the rest for the
right values; the feedback names common slips (sign flip, transpose, factor of two).

`hand_derived` (default off; on in rubrics/hw2, where the derivatives must be derived by
hand): a value computed by torch autograd or by finite differences is not the answer the
item asks for, and the grader looks for both (grader/checks/_integrity.py):
- statically, in the code the probe runs for the target (the target and everything it
  refers to): autograd entry points (.backward(), torch.autograd.*, torch.func /
  functorch, jacobian/vjp imports, requires_grad, reading .grad) and complex numbers
  (complex literals, dtypes, `.imag`: complex-step differentiation, exact to rounding);
- at run time: the target runs with those entry points disabled (they raise, and the
  attempt is recorded) by code placed before the student's first line;
- by counting: the forward functions the item differentiates (`forward_functions`,
  default the name of the rubric's `forward`), when the notebook defines them, are
  counted while the target runs (by their code, so an alias counts too); more than
  `max_forward_calls` (default 2) calls is finite differences (or a numerical Jacobian),
  not a derivation;
- numerically: float64 results that match autograd only to finite-difference precision
  (relative error above `fd_rel_error`, default 1e-11; a derivation by hand is exact to
  about 1e-15; results exactly representable in float32 are float32 arithmetic, not
  finite differences).
Any signal makes the item "needs a TA" (pending, no points) with the reasons; a course
that allows autograd leaves `hand_derived` off.
`show_expected` (default on, never for hidden items): whether failing feedback quotes
expected values.
"""
from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
from pydantic import Field, model_validator
from pydantic.json_schema import SkipJsonSchema

from grader.checks import _integrity as integ
from grader.checks import inputs as inp
from grader.checks.base import IDENTIFIER, CheckKind, CheckResult, Part, combine
from grader.checks.cases import REFERENCE_PATTERN, CaseParams, fold_shadows, run_cases
from grader.checks.compare import as_array, compare_values, kind_of, load_reference
from grader.checks.registry import register
from grader.probe import Call, Outcome


def _leaf(v):
    import torch

    return torch.as_tensor(v, dtype=torch.float64).detach().clone().requires_grad_(True)


def autograd_expected(forward, args: list, mode: str, wrt: int, upstream: int | None):
    """Expected derivative (numpy, or dict of numpy) by autograd on the reference forward."""
    import torch

    fargs = [a for i, a in enumerate(args) if i != upstream]
    fargs = [torch.as_tensor(a, dtype=torch.float64) if isinstance(a, (torch.Tensor, np.ndarray)) and torch.as_tensor(a).is_floating_point() else a for a in fargs]
    target = fargs[wrt]
    if isinstance(target, dict):
        leaves = {k: _leaf(v) for k, v in target.items()}
        call_args = list(fargs)
        call_args[wrt] = leaves
        if mode != "vjp":
            raise ValueError("a dict of weights needs mode: vjp")
        out = forward(*call_args)
        up = torch.as_tensor(args[upstream], dtype=torch.float64)
        grads = torch.autograd.grad((up * out).sum(), list(leaves.values()), allow_unused=True)
        return {k: (g.detach().numpy() if g is not None else np.zeros(())) for k, g in zip(leaves, grads)}
    leaf = _leaf(target)

    def f(t):
        call_args = list(fargs)
        call_args[wrt] = t
        return forward(*call_args)

    if mode == "jacobian":
        return torch.autograd.functional.jacobian(f, leaf).detach().numpy()
    out = f(leaf)
    up = torch.as_tensor(args[upstream], dtype=torch.float64)
    (g,) = torch.autograd.grad((up * out).sum(), [leaf])
    return g.detach().numpy()


def diagnose(got: np.ndarray, want: np.ndarray) -> str:
    """Name a common slip when the values are a simple transform of the right ones."""
    if got.shape == want.shape and np.allclose(got, -want, rtol=1e-6, atol=1e-9) and np.abs(want).max() > 0:
        return "the sign is flipped"
    if got.ndim == 2 and got.shape == want.T.shape and np.allclose(got, want.T, rtol=1e-6, atol=1e-9):
        return "the result is transposed"
    if got.shape == want.shape and np.abs(want).max() > 0 and not np.any(got):
        return "every value is 0"
    if got.shape == want.shape and np.abs(want).max() > 0:
        ratio = np.divide(got, want, out=np.full_like(got, np.nan, dtype=float), where=np.abs(want) > 1e-9)
        ratio = ratio[np.isfinite(ratio)]
        # the factor must hold on every entry, zeros included: identity + 0.5 is not "a factor 1.5"
        if (ratio.size and np.allclose(ratio, ratio[0], rtol=1e-6) and abs(ratio[0] - 1) > 1e-6
                and np.allclose(got, ratio[0] * want, rtol=1e-6, atol=1e-9)):
            return f"the result is off by a constant factor {ratio[0]:.4g}"
    return ""


@register
class Gradient(CheckKind):
    name = "gradient"
    class Params(CaseParams):
        forward: str = Field(pattern=REFERENCE_PATTERN,
                             description="the reference forward function (`module:function`) autograd differentiates")
        mode: Literal["jacobian", "vjp"] = Field(description="full Jacobian, or vector-Jacobian product with an upstream gradient")
        wrt: int = Field(ge=0, description="index of the argument differentiated against")
        upstream: Annotated[int, Field(ge=0)] | SkipJsonSchema[None] = Field(None, description="vjp: index of the dl/d(output) argument")
        shape_weight: float = Field(0.25, ge=0, le=1, description="share of each case's credit for the right shape")
        rtol: float = Field(1e-6, ge=0, description="relative tolerance")
        atol: float = Field(1e-8, ge=0, description="absolute tolerance")
        hand_derived: bool = Field(False, description="autograd, repeated forward calls, finite-difference accuracy or complex numbers: needs a TA")
        fd_rel_error: float = Field(1e-11, gt=0, le=1, description="hand_derived: an error this large suggests finite differences")
        forward_functions: tuple[Annotated[str, Field(pattern=IDENTIFIER)], ...] = Field(
            (), description="hand_derived: the forward functions whose calls are counted (default: `forward`'s name)")
        max_forward_calls: int = Field(2, ge=0, description="hand_derived: more forward calls in one case suggest finite differences")
        show_expected: bool = Field(True, description="quote expected values in failing feedback (never for hidden items)")

        @model_validator(mode="after")
        def _vjp_needs_upstream(self):
            if self.mode == "vjp" and self.upstream is None:
                raise ValueError("mode vjp needs `upstream` (the index of the dl/d(output) argument)")
            return self

    def run(self, ctx, item) -> CheckResult:
        p = self.params(item)
        if (msg := ctx.missing(item.target)):
            return CheckResult.failed(msg)
        for case in p.cases:
            if (err := inp.check_spec(case.args)):
                return CheckResult.error(f"rubric input spec: {err}")
        forward = load_reference(p.forward)
        hand = p.hand_derived
        fwd_names = list(p.forward_functions or [p.forward.rpartition(":")[2]])
        gctx = _GuardedContext(ctx, fwd_names) if hand else ctx
        runs = run_cases(gctx, item, p, None)
        show = False if item.visibility == "hidden" else p.show_expected
        fd_signals: list[str] = []
        sw = p.shape_weight
        rtol, atol = p.rtol, p.atol
        per_parts, per_ev = [], []
        for i, r in enumerate(runs):
            key = f"grad:{p.forward}:{p.mode}:{p.wrt}:{item.id}:{r.shadow_of if r.shadow_of is not None else i}:{r.seed}"
            want = ctx.reference(key, lambda r=r: autograd_expected(forward, list(r.args), p.mode, p.wrt, p.upstream))
            if not r.outcome.ok:
                per_parts.append([Part(f"{r.label}: shape", sw, False, f"raised {r.outcome.error}"), Part(f"{r.label}: values", 1 - sw, False)])
                per_ev.append({"label": r.label, "inputs": r.describe_inputs(), "error": r.outcome.error})
                continue
            got = r.outcome.value
            if isinstance(want, dict):
                shape_ok = isinstance(got, dict) and set(want) <= set(got)
                c = compare_values(got, want, rtol, atol, False, show)
                if hand and c.ok and (why := integ.fd_signal(got, want, p.fd_rel_error)):
                    fd_signals.append(f"{r.label}: {why}")
                hint = ""
                if shape_ok and not c.ok:
                    flips = [k for k in want if as_array(got[k]) is not None and np.allclose(as_array(got[k]), -want[k], rtol=1e-6, atol=1e-9) and abs(float(want[k])) > 1e-9]
                    hint = f"; sign flipped for {flips}" if flips else ""
                per_parts.append([Part(f"{r.label}: keys", sw, shape_ok, "" if shape_ok else f"expected keys {sorted(want)}"),
                                  Part(f"{r.label}: values", 1 - sw, c.ok, c.detail + hint)])
                per_ev.append({"label": r.label, "inputs": r.describe_inputs(), "ok": c.ok, **c.evidence})
                continue
            g = as_array(got)
            shape_ok = g is not None and g.shape == want.shape
            c = compare_values(got, want, rtol, atol, False, show)
            if hand and c.ok and (why := integ.fd_signal(got, want, p.fd_rel_error)):
                fd_signals.append(f"{r.label}: {why}")
            hint = diagnose(g.astype(float), want) if g is not None and not c.ok and g.dtype.kind in "biuf" else ""
            detail = c.detail + (f" — it looks like {hint}" if hint else "")
            per_parts.append([Part(f"{r.label}: shape {list(want.shape)}", sw, shape_ok,
                                   "" if shape_ok else f"expected shape {list(want.shape)}, got {list(g.shape) if g is not None else kind_of(got)}"),
                              Part(f"{r.label}: values vs autograd", 1 - sw, c.ok, detail)])
            per_ev.append({"label": r.label, "inputs": r.describe_inputs(), "ok": c.ok, "expected_shape": list(want.shape),
                       "diagnosis": hint, **c.evidence})
        parts, ev = fold_shadows(runs, per_parts, per_ev)  # fresh inputs: see grader/checks/cases.py
        res = combine(parts, {"cases": ev})
        if not hand:
            return res
        module = ctx.module_for(item.target)
        static = integ.autograd_signals(module, item.target)
        complex_step = integ.complex_step_signals(module, item.target)
        dynamic = sorted({c for calls in gctx.autograd.values() for c in calls})
        most: dict[str, int] = {}
        for counts in gctx.forward_calls.values():
            for n, k in counts.items():
                most[n] = max(most.get(n, 0), k)
        limit = p.max_forward_calls
        numeric = [f"{item.target} calls {n} {k} times in one case: finite differences (a numerical Jacobian), not a derivation"
                   for n, k in sorted(most.items()) if k > limit]
        signals = ([f"your code calls {c} (the grader disables it here)" for c in dynamic] + numeric
                   + [f"autograd in the code of {item.target} and what it calls: {h}" for h in static]
                   + [f"complex-step differentiation? complex numbers in the code of {item.target} and what it calls: {h}"
                      for h in complex_step]
                   + [f"finite differences? {f}" for f in fd_signals])
        if not signals:
            return res
        evidence = {**res.evidence, "hand_derived_signals": signals, "fraction_without_review": round(res.fraction, 4)}
        return CheckResult(0.0, "pending",
                           "needs a TA: this derivative must be derived by hand, and the grader found signs that it was "
                           "computed by autograd or by finite differences:\n" + "\n".join(f"- {x}" for x in signals[:8])
                           + "\nno points until a TA has looked\n" + res.feedback, evidence)


class _GuardedContext:
    """The check context, except that probes run the target with autograd disabled (the
    guard goes before the student's first line) and report the entry points it tried."""

    def __init__(self, ctx, count_names=()):
        self._ctx = ctx
        self.count_names = list(count_names)
        self.autograd: dict[int, list[str]] = {}
        self.forward_calls: dict[int, dict[str, int]] = {}

    def __getattr__(self, name):
        return getattr(self._ctx, name)

    def probe(self, targets, calls, load_timeout_s: float = 60.0, **kw):
        source = (integ.AUTOGRAD_GUARD + "\n\n" + self._ctx.module_for(*targets)
                  + "\n\n# --- grader helpers ---\n" + integ.HAND_DERIVED_CALL)
        wrapped = [Call("__grader_hand_derived_call", (c.fn, tuple(c.args), dict(c.kwargs), self.count_names), {}, c.timeout_s)
                   for c in calls]
        outs = self._ctx.prober.run(source, wrapped, load_timeout_s=load_timeout_s, files=kw.get("files"))
        result = []
        for i, o in enumerate(outs):
            v = o.value
            if o.ok and isinstance(v, dict) and set(v) == {"value", "error", "autograd", "forward_calls"}:
                used = v.get("autograd")
                self.autograd[i] = [str(x)[:80] for x in used][:10] if isinstance(used, list) else []
                fc = v.get("forward_calls")
                self.forward_calls[i] = ({str(k)[:60]: n for k, n in fc.items() if type(n) is int} if isinstance(fc, dict) else {})
                if v.get("error") is not None:
                    result.append(Outcome(False, None, str(v["error"])[:500], "", o.seconds))
                else:
                    result.append(Outcome(True, v["value"], "", "", o.seconds))
            else:
                result.append(o)
        return result
