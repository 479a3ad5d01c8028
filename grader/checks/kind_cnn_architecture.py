"""`cnn_architecture`: the CNN has the required parts, and they are used in forward.

Required (ASSIGNMENT.md section 3): at least 2 convolution layers, batch norm, a
non-linearity, pooling, a residual connection, a fully connected layer; the output on
(B, 3, H, W) images is (B, 2) logits or log-probabilities, (B, 1) or (B,) probabilities.

Method (evidence, not trust: everything a probe returns is a claim). The probe builds
the student's class, loads parameter values the grader can recompute itself (drawn from a
grader-chosen seed, grader/checks/_integrity.py `param_values`) and records one forward
pass on the grader's images with a `torch.overrides.TorchFunctionMode`: every torch
function, tensor method and operator called at the top level of the forward (F.conv2d
inside nn.Conv2d, torch.relu, x + y, x += y, view, flatten, ...) with its arguments as
plain data: references to the input, to earlier calls' results, to the model's
parameters and buffers by name, numbers, small constant tensors. This sees module and
functional styles alike and needs no symbolic tracing (torch.fx fails on data-dependent
Python control flow; a real forward never does).

The grader then replays that record with its own torch and its own parameter values
(`_integrity.replay`): the replay must reproduce the output forward returned, or nothing
is verified. A backward pass of the replay gives every use of a tensor its own gradient,
and only what a gradient path connects from the input to the output counts: a
convolution (or linear layer) counts when its weight is a parameter of the model that
receives gradient, batch norm when it uses the model's parameters or statistics, an
activation or pooling when the input's gradient path runs through it. Decorative calls
(convolutions with weights made on the fly, branches multiplied by zero, records a
forward wrote into the tracer's memory) do not reproduce or do not count. Then:
- the grader counts distinct convolution weights, batch_norm / pooling / activation
  / linear ops, and looks for a residual connection: an addition whose two live inputs
  share an ancestor c such that the path from c to one input contains more convolutions
  than the path to the other (identity shortcut y = f(x) + x: c = x, 0 vs >= 1 convs;
  projection shortcut: 1 vs 2). Adding a bias parameter or a constant is not a residual.
- output: for each requested (H, W), the shape, dtype and finiteness of the replayed
  output; the grader accepts (B, 2), (B, 1) or (B,) floats and says which format it
  looks like.
Per-requirement partial credit (weights configurable). A record the grader cannot replay
(an operation outside the torch functions it re-executes, randomness, a mismatch) makes
the item "needs a TA" (pending, no points) with the reason.

`alternative_targets`: other accepted class names (the course renamed `CNN` to
`CNN_Solution` in later semesters); the first one the notebook defines is graded, and the
feedback names the class that was found.

`_TRACE_SOURCE` / `analyse()` on its nodes are the unverified dataflow trace of earlier
versions (kept for the unit tests of the analysis); `analyse()` reads the replay's
verified nodes in the same format.
"""
from __future__ import annotations

from typing import Annotated

import numpy as np
from pydantic import Field

from grader import inkernel
from grader.checks import _exports as ex
from grader.checks import _integrity as integ
from grader.checks.base import IDENTIFIER, CheckKind, CheckParams, CheckResult, Part, combine, timeout_field
from grader.checks.registry import register
from grader.probe import Call

_TRACE_SOURCE = inkernel.source("cnn_trace")

CONV_OPS = {"conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d", "_conv_forward", "convolution"}
BN_OPS = {"batch_norm"}
ADD_OPS = {"add", "add_", "__add__", "__radd__", "__iadd__"}
ACT_OPS = {"relu", "relu_", "leaky_relu", "leaky_relu_", "gelu", "elu", "elu_", "selu", "selu_", "celu", "silu", "mish",
           "sigmoid", "sigmoid_", "tanh", "tanh_", "softplus", "prelu", "relu6", "hardtanh", "hardtanh_", "hardswish",
           "hardsigmoid", "rrelu", "threshold", "threshold_", "clamp_min", "clamp", "clamp_", "softsign", "logsigmoid"}
LINEAR_OPS = {"linear", "addmm", "matmul", "mm", "__matmul__", "bilinear"}


def _is_pool(op: str) -> bool:
    return "pool" in op


def analyse(desc: dict) -> dict:
    """Facts about a traced forward pass (computed in the grader from plain data)."""
    nodes = desc.get("nodes") if isinstance(desc.get("nodes"), list) else []
    ops = [str(n.get("op")) if isinstance(n, dict) else "?" for n in nodes]
    ins = []
    for i, n in enumerate(nodes):
        raw = n.get("in") if isinstance(n, dict) else []
        ins.append([j for j in raw if isinstance(j, int) and 0 <= j < i] if isinstance(raw, list) else [])
    weights = [n.get("w") if isinstance(n, dict) and isinstance(n.get("w"), list) else [] for n in nodes]
    conv_nodes = [i for i, o in enumerate(ops) if o in CONV_OPS]
    conv_weights = {str(weights[i][0]) if weights[i] else f"node{i}" for i in conv_nodes}
    anc: list[set[int]] = []
    for i in range(len(nodes)):
        s: set[int] = set()
        for j in ins[i]:
            s.add(j)
            s |= anc[j]
        anc.append(s)
    conv_set = set(conv_nodes)

    def convs_between(c: int, t: int) -> int:
        # convolutions that are descendants of c and ancestors-or-self of t
        return sum(1 for k in (anc[t] | {t}) & conv_set if c in anc[k])

    residual = None
    for i, o in enumerate(ops):
        if o not in ADD_OPS or len(ins[i]) != 2:
            continue
        a, b = ins[i]
        common = (anc[a] | {a}) & (anc[b] | {b})
        for c in sorted(common, reverse=True):
            na, nb = convs_between(c, a), convs_between(c, b)
            if max(na, nb) >= 1 and na != nb:
                residual = {"add_node": i, "op": o, "from_node": c, "from_op": ops[c], "convs_on_branches": sorted([na, nb])}
                break
        if residual:
            break
    mods = desc.get("modules") if isinstance(desc.get("modules"), list) else []
    mod_types = [str(m[1]) for m in mods if isinstance(m, list) and len(m) == 2][1:]
    return {
        "n_conv_weights": len(conv_weights), "n_conv_calls": len(conv_nodes),
        "batch_norm": sum(o in BN_OPS for o in ops), "activations": sorted({o for o in ops if o in ACT_OPS}),
        "pooling": sorted({o for o in ops if _is_pool(o)}), "linear": sum(o in LINEAR_OPS for o in ops),
        "residual": residual, "concat": sum(o == "cat" for o in ops),
        "declared": {
            "conv": sum("Conv" in t for t in mod_types), "batch_norm": sum(t.startswith("BatchNorm") for t in mod_types),
            "activation": sum(t in ("ReLU", "LeakyReLU", "GELU", "ELU", "SELU", "SiLU", "Sigmoid", "Tanh", "PReLU", "ReLU6", "Mish", "Softplus", "Hardswish") for t in mod_types),
            "pooling": sum("Pool" in t for t in mod_types), "linear": sum(t in ("Linear", "LazyLinear", "Bilinear") for t in mod_types),
        },
        "ops": ops[:400],
    }


def judge_output(o: dict, batch: int) -> tuple[bool, str]:
    if not isinstance(o, dict):
        return False, "no output"
    if o.get("error"):
        return False, f"forward failed: {o['error']}"
    shape = o.get("shape")
    size = o.get("size")
    where = f"on input ({batch}, 3, {size[0]}, {size[1]})" if isinstance(size, list) and len(size) == 2 else ""
    if not isinstance(shape, list):
        return False, f"{where}: no tensor output"
    tup = " (the first element of the returned tuple)" if o.get("tuple") else ""
    if "float" not in str(o.get("dtype")):
        return False, f"{where}: output dtype {o.get('dtype')}, expected floating point"
    if not o.get("finite"):
        return False, f"{where}: output contains NaN or inf"
    lo, hi = o.get("min"), o.get("max")
    if shape == [batch, 2]:
        rs = o.get("rowsum_exp")
        rsum = o.get("rowsum")
        if isinstance(rs, (int, float)) and abs(rs - 1) < 1e-3 and hi is not None and hi <= 1e-6:
            fmt = "log-probabilities"
        elif isinstance(rsum, (int, float)) and abs(rsum - 1) < 1e-3 and lo is not None and lo >= 0 and hi <= 1:
            fmt = "probabilities"
        else:
            fmt = "logits"
        return True, f"{where}: output {shape}{tup}, looks like {fmt}"
    if shape in ([batch, 1], [batch]):
        fmt = "probabilities" if lo is not None and lo >= 0 and hi <= 1 else "logits (one per image)"
        return True, f"{where}: output {shape}{tup}, looks like {fmt}"
    return False, f"{where}: output shape {shape}{tup}; expected ({batch}, 2), ({batch}, 1) or ({batch},)"


class Weights(CheckParams):
    """The weight of each part of the architecture check (partial credit)."""

    conv: float = Field(1.0, ge=0)
    batch_norm: float = Field(1.0, ge=0)
    activation: float = Field(1.0, ge=0)
    pooling: float = Field(1.0, ge=0)
    residual: float = Field(1.0, ge=0)
    linear: float = Field(1.0, ge=0)
    output: float = Field(1.0, ge=0)


Size = Annotated[int, Field(ge=8, le=1024)]


@register
class CnnArchitecture(CheckKind):
    name = "cnn_architecture"

    class Params(CheckParams):
        input_sizes: tuple[tuple[Size, Size], ...] = Field(
            ((32, 32),), min_length=1, max_length=4, description="(height, width) of the images of each traced forward pass")
        batch: int = Field(2, ge=1, le=16, description="images per forward pass")
        min_conv: int = Field(2, ge=1, description="distinct convolutions the forward pass must apply")
        weights: Weights = Field(Weights(), description="weight of each part: " + ", ".join(Weights.model_fields))
        timeout_s: float = timeout_field(120.0, "the build and traced forward passes")
        alternative_targets: tuple[Annotated[str, Field(pattern=IDENTIFIER)], ...] = Field(
            (), description="other class names graded when the target is missing")
        max_params: int = Field(20_000_000, ge=1, le=100_000_000, description="larger models are not replayed: needs a TA")
        max_calls: int = Field(5000, ge=10, le=20000, description="traced calls per forward pass at most")

    def run(self, ctx, item) -> CheckResult:
        alts = list(self.params(item).alternative_targets)
        cls, note = ex.resolve_target(ctx, item, alts)
        if (msg := ctx.missing(cls)) and alts:
            return CheckResult.failed(msg + f" (nor {', '.join(f'`{a}`' for a in alts)})")
        res = self._run(ctx, item, cls)
        if note:
            res = CheckResult(res.fraction, res.status, note + "\n" + res.feedback, {**res.evidence, "graded_class": cls})
        return res

    def _run(self, ctx, item, cls) -> CheckResult:
        import torch

        p = self.params(item)
        sizes = [list(s) for s in p.input_sizes]
        batch = p.batch
        w = p.weights.model_dump()
        max_params = p.max_params
        if (msg := ctx.missing(cls)):
            return CheckResult.failed(msg)
        rng = np.random.default_rng(ctx.seed_for(item, "images"))
        xs = [rng.random((batch, 3, h, ww), dtype=np.float32) for h, ww in sizes]
        vseed = ctx.seed_for(item, "weights") % (2**31)
        call = Call("__grader_cnn_verify", (cls, [torch.from_numpy(x) for x in xs], vseed, max_params, p.max_calls),
                    {}, p.timeout_s)
        (out,) = ex.probe_module(ctx, [cls], [call], {"model", "optimizer", "criterion", "history"} - {cls}, integ.CNN_VERIFY_SOURCE)
        if not out.ok:
            return CheckResult.failed(f"could not build and run {cls}(): {out.error}", traceback=out.traceback[-1500:])
        info = out.value if isinstance(out.value, dict) else {}
        mods = info.get("modules") if isinstance(info.get("modules"), list) else []
        ev = {"input_sizes": sizes, "batch": batch, "n_params": info.get("n_params"), "modules": mods[:60]}
        if info.get("too_large"):
            return CheckResult(0.0, "pending", f"needs a TA: {cls} has {info.get('n_params')} parameters, more than the grader "
                                               f"replays ({max_params}); its architecture was not checked automatically", ev)
        traces = info.get("traces") if isinstance(info.get("traces"), list) else []
        if len(traces) != len(xs) or not all(isinstance(t, dict) for t in traces):
            return CheckResult.failed(f"the probe returned no trace of {cls}'s forward pass", **ev)
        first = traces[0]
        if first.get("error"):
            d = analyse({"nodes": [], "modules": mods})["declared"]
            parts = [Part(name, w[key], False, f"forward failed, nothing could be traced: {first['error']}")
                     for name, key in PART_NAMES if key != "output"]
            parts.append(self._output_part(traces, [None] * len(traces), batch, w))
            return combine(parts, {**ev, "declared": d})
        replays = [integ.verified_trace(info, t, x, vseed, max_params) for t, x in zip(traces, xs)]
        rep = replays[0]
        if not rep.ok:
            d = analyse({"nodes": [], "modules": mods})["declared"]
            ev.update(declared=d, unverified=rep.reason, ops=[str(n.get("op")) for n in (first.get("nodes") or [])[:120] if isinstance(n, dict)])
            declared = ", ".join(f"{k} {v}" for k, v in d.items())
            return CheckResult(0.0, "pending", f"needs a TA: the grader could not verify {cls}'s forward pass: {rep.reason}.\n"
                                               f"(modules declared: {declared}); no points until a TA has looked", ev)
        facts = analyse({"nodes": rep.nodes, "modules": mods})
        d = facts["declared"]

        def detail(found: bool, used: str, declared: int, what: str) -> str:
            if found:
                return used
            if declared:
                return f"{declared} {what} module(s) defined but never used in forward"
            return f"no {what} found"

        parts = []
        min_conv = p.min_conv
        ok = facts["n_conv_weights"] >= min_conv
        parts.append(Part(f"at least {min_conv} convolution layers", w["conv"], ok,
                          f"{facts['n_conv_weights']} distinct convolution(s) applied in forward ({d['conv']} Conv module(s) defined)"
                          if ok or not d["conv"] else f"only {facts['n_conv_weights']} convolution(s) used in forward; {d['conv']} defined"))
        parts.append(Part("batch normalisation", w["batch_norm"], facts["batch_norm"] > 0,
                          detail(facts["batch_norm"] > 0, f"{facts['batch_norm']} batch_norm call(s)", d["batch_norm"], "BatchNorm")))
        parts.append(Part("a non-linearity", w["activation"], bool(facts["activations"]),
                          detail(bool(facts["activations"]), ", ".join(facts["activations"]), d["activation"], "activation")))
        parts.append(Part("pooling", w["pooling"], bool(facts["pooling"]),
                          detail(bool(facts["pooling"]), ", ".join(facts["pooling"]), d["pooling"], "pooling")))
        res = facts["residual"]
        parts.append(Part("a residual connection", w["residual"], res is not None,
                          f"an addition ({res['op']}) joins a branch with {res['convs_on_branches'][1]} convolution(s) to one with {res['convs_on_branches'][0]}"
                          if res else ("no addition of a convolution branch to its input (a concatenation is not a residual sum)" if facts["concat"]
                                       else "no addition of a convolution branch to its input was traced")))
        parts.append(Part("a fully connected layer", w["linear"], facts["linear"] > 0,
                          detail(facts["linear"] > 0, f"{facts['linear']} linear call(s)", d["linear"], "Linear")))
        parts.append(self._output_part(traces, replays, batch, w))
        ev.update({k: v for k, v in facts.items() if k != "ops"}, ops=facts["ops"][:120], verified="replayed by the grader",
                  not_counted=rep.notes[:20], outputs=[_describe(t, r) for t, r in zip(traces, replays)])
        res = combine(parts, ev)
        if rep.notes:
            res = CheckResult(res.fraction, res.status, res.feedback + "".join(f"\nnote: {n}" for n in rep.notes[:6]), res.evidence)
        return res

    @staticmethod
    def _output_part(traces, replays, batch, w) -> Part:
        judged = []
        for t, r in zip(traces, replays):
            size = t.get("size") if isinstance(t.get("size"), list) else None
            if t.get("error"):
                judged.append(judge_output({"size": size, "error": t["error"]}, batch))
            elif r is None or not r.ok:
                where = f"on input ({batch}, 3, {size[0]}, {size[1]})" if size and len(size) == 2 else ""
                judged.append((False, f"{where}: not verified ({r.reason if r is not None else 'no replay'})"))
            else:
                judged.append(judge_output(_describe(t, r), batch))
        judged = judged or [(False, "no output")]
        return Part("output shape on (B, 3, H, W) images", w["output"], all(j[0] for j in judged), "; ".join(j[1] for j in judged))


PART_NAMES = [("at least 2 convolution layers", "conv"), ("batch normalisation", "batch_norm"), ("a non-linearity", "activation"),
              ("pooling", "pooling"), ("a residual connection", "residual"), ("a fully connected layer", "linear"),
              ("output shape on (B, 3, H, W) images", "output")]


def _describe(trace: dict, rep) -> dict:
    """judge_output's description of an output: the grader's replay when verified."""
    size = trace.get("size")
    if trace.get("error"):
        return {"size": size, "error": trace["error"]}
    y = rep.output if rep is not None and rep.ok else None
    if not isinstance(y, np.ndarray):
        return {"size": size, "error": "not verified"}
    yf = y.astype(np.float64)
    fin = bool(np.all(np.isfinite(yf)))
    return {"size": size, "tuple": bool(trace.get("tuple")), "shape": list(y.shape), "dtype": f"torch.{y.dtype}",
            "finite": fin, "min": float(yf.min()) if y.size and fin else None, "max": float(yf.max()) if y.size and fin else None,
            "rowsum_exp": float(np.exp(yf).sum(-1).mean()) if y.ndim == 2 and fin else None,
            "rowsum": float(yf.sum(-1).mean()) if y.ndim == 2 and fin else None}
