"""`train_step`: the training-loop helpers of hw2_cnn keep their contract.

contract `get_loss_and_correct` (item hw2_cnn.get_loss_and_correct):
    get_loss_and_correct(model, batch, criterion, device) -> (loss tensor, number of
    correct predictions as a tensor). The probe calls the student's function with a
    grader-made model (a seeded Linear(6, 3): 3 classes so that argmax over the wrong axis
    differs, batch 8 != 3), a [x, y] batch and two criteria (CrossEntropyLoss mean, and
    sum: a hard-coded criterion is caught). It returns as data: the loss value, whether the
    loss still carries a graph, the gradient that loss.backward() leaves on the model, and
    the correct count and its type. The grader recomputes the loss, the argmax matches and
    the gradient with its own torch and compares.

contract `step` (item hw2_cnn.step): step(loss, optimizer) must zero the old gradients,
    backpropagate and update, in that order. The probe plants a known stale gradient on
    every parameter (as a previous batch would leave it), builds a plain SGD(lr) optimizer
    (an update is then exactly -lr * grad), calls step(loss, optimizer) and returns the new
    parameters and the event order (zero_grad / backward / step, recorded by a grader
    subclass of SGD and gradient hooks). The grader computes the one correct update and the
    typical mistakes (no zero_grad: stale + fresh gradient; zero_grad between backward and
    step, step before backward or no step: the parameters do not move; no backward; two
    steps) and names the one that matches.
"""
from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from grader import inkernel
from grader.checks import _exports as ex
from grader.checks.base import CheckKind, CheckParams, CheckResult, Part, combine, timeout_field
from grader.checks.registry import register
from grader.probe import Call

_SOURCE = inkernel.source("train_step_probe")


def _inputs(seed: int):
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((3, 6))
    b = rng.standard_normal(3)
    x = rng.standard_normal((8, 6))
    # labels: half of them the model's own argmax, so the count is neither 0 nor 8
    logits = x @ W.T + b
    pred = logits.argmax(1)
    y = np.where(np.arange(8) % 2 == 0, pred, (pred + 1) % 3).astype(np.int64)
    return W, b, x, y


def reference_glc(W, b, x, y, reduction: str) -> dict:
    import torch

    Wt = torch.tensor(W, requires_grad=True)
    bt = torch.tensor(b, requires_grad=True)
    out = torch.tensor(x) @ Wt.T + bt
    loss = torch.nn.functional.cross_entropy(out, torch.tensor(y), reduction=reduction)
    loss.backward()
    return {"loss": float(loss.detach()), "correct": int((out.argmax(1) == torch.tensor(y)).sum()),
            "correct_wrong_axis": int((out.argmax(0)[: len(y)] == torch.tensor(y)[: out.shape[1]]).sum()),
            "gW": Wt.grad.numpy().copy(), "gb": bt.grad.numpy().copy()}


def reference_step_outcomes(W, b, x, y, sW, sb, lr) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    g = reference_glc(W, b, x, y, "mean")
    gW, gb = g["gW"], g["gb"]
    return {
        "correct": (W - lr * gW, b - lr * gb),
        "no zero_grad (the stale gradient of the previous batch is added)": (W - lr * (gW + sW), b - lr * (gb + sb)),
        "zero_grad called after backward, step called before backward, or no step (the parameters did not move)": (W, b),
        "no backward (the update used only the stale gradient)": (W - lr * sW, b - lr * sb),
        "two optimizer steps": (W - 2 * lr * gW, b - 2 * lr * gb),
    }


@register
class TrainStep(CheckKind):
    name = "train_step"

    class Params(CheckParams):
        contract: Literal["get_loss_and_correct", "step"] = Field(
            description="which lab function the target implements: the loss/correct count, or one optimisation step")
        lr: float = Field(0.5, gt=0, description="step: the learning rate of the grader's SGD optimizer")
        rtol: float = Field(1e-6, ge=0, description="relative tolerance on the loss and the updated weights")
        timeout_s: float = timeout_field(30.0)

    def run(self, ctx, item) -> CheckResult:
        if (msg := ctx.missing(item.target)):
            return CheckResult.failed(msg)
        p = self.params(item)
        W, b, x, y = _inputs(ctx.seed_for(item, "inputs"))
        rtol = p.rtol
        timeout = p.timeout_s
        exclude = {"model", "optimizer", "criterion", "history", "device", "train_dataloader", "validation_dataloader", "test_dataloader"}
        import torch

        T = torch.from_numpy
        if p.contract == "get_loss_and_correct":
            src = _SOURCE + "\ndevice = __import__('torch').device('cpu')\n"
            calls = [Call("__grader_glc", (T(W), T(b), T(x), T(y), red, item.target), {}, timeout) for red in ("mean", "sum")]
            outs = ex.probe_module(ctx, [item.target], calls, exclude, src)
            return self._judge_glc(outs, W, b, x, y, rtol)
        lr = p.lr
        rng = np.random.default_rng(ctx.seed_for(item, "stale"))
        sW, sb = rng.standard_normal(W.shape), rng.standard_normal(b.shape)
        (out,) = ex.probe_module(ctx, [item.target], [Call("__grader_step", (T(W), T(b), T(x), T(y), T(sW), T(sb), lr, item.target), {}, timeout)], exclude, _SOURCE)
        return self._judge_step(out, W, b, x, y, sW, sb, lr, rtol)

    @staticmethod
    def _judge_glc(outs, W, b, x, y, rtol) -> CheckResult:
        parts, cases = [], []
        for red, out in zip(("mean", "sum"), outs):
            ref = reference_glc(W, b, x, y, red)
            label = f"CrossEntropyLoss(reduction={red!r}), batch of {len(y)}, 3 classes"
            if not out.ok:
                parts.append(Part(label, 3.0, False, f"raised {out.error}"))
                cases.append({"case": label, "error": out.error})
                continue
            v = out.value if isinstance(out.value, dict) else {}
            if v.get("error"):
                parts.append(Part(label, 3.0, False, str(v["error"])))
                continue
            got = v.get("loss")
            ok_loss = isinstance(got, float) and bool(np.isclose(got, ref["loss"], rtol=rtol, atol=1e-9))
            msg = f"loss: expected {ref['loss']:.6g}, got {got if got is None else format(got, '.6g')}"
            if not ok_loss and isinstance(got, float) and red == "sum" and np.isclose(got, ref["loss"] / len(y), rtol=1e-6):
                msg += " (that is the mean: the criterion passed in was not used)"
            parts.append(Part(f"{label}: loss value", 1.0, bool(ok_loss), msg))
            gW, gb = v.get("gW"), v.get("gb")
            ok_grad = bool(v.get("has_graph")) and isinstance(gW, np.ndarray) and isinstance(gb, np.ndarray) and \
                np.allclose(gW, ref["gW"], rtol=1e-6, atol=1e-9) and np.allclose(gb, ref["gb"], rtol=1e-6, atol=1e-9)
            parts.append(Part(f"{label}: loss is differentiable w.r.t. the model (for step)", 1.0, ok_grad,
                              "gradient matches" if ok_grad else ("the loss is detached from the model (no graph)" if not v.get("has_graph")
                                                                  else "loss.backward() gives the wrong gradient")))
            c = v.get("correct")
            ok_c = isinstance(c, float) and c == ref["correct"]
            is_tensor = v.get("correct_type") == "Tensor"
            cm = f"correct: expected {ref['correct']} (argmax over classes, dim=1), got {c if c is None else int(c) if float(c).is_integer() else c}"
            if not is_tensor:
                cm += f"; returned a {v.get('correct_type')}, expected a tensor (the notebook calls correct.item())"
            parts.append(Part(f"{label}: number of correct predictions (as a tensor)", 1.0, bool(ok_c and is_tensor), cm))
            cases.append({"case": label, "expected_loss": ref["loss"], "got_loss": got, "expected_correct": ref["correct"], "got_correct": c,
                          "correct_type": v.get("correct_type"), "loss_type": v.get("loss_type"), "has_graph": v.get("has_graph")})
        return combine(parts, {"cases": cases, "inputs": {"x": list(x.shape), "y": y.tolist(), "model": "Linear(6, 3), float64"}})

    @staticmethod
    def _judge_step(out, W, b, x, y, sW, sb, lr, rtol) -> CheckResult:
        ev = {"inputs": {"model": "Linear(6, 3), float64", "optimizer": f"SGD(lr={lr})", "batch": len(y),
                         "stale_gradient": "planted on every parameter before the call"}}
        if not out.ok:
            return CheckResult.failed(f"step(loss, optimizer) raised {out.error}", **ev)
        v = out.value if isinstance(out.value, dict) else {}
        gW, gb = v.get("W"), v.get("b")
        events = v.get("events") if isinstance(v.get("events"), list) else []
        ev["events"] = [str(e) for e in events][:20]
        if not isinstance(gW, np.ndarray) or not isinstance(gb, np.ndarray) or gW.shape != W.shape or gb.shape != b.shape:
            return CheckResult.failed("the parameters could not be read back after step()", **ev)
        outcomes = reference_step_outcomes(W, b, x, y, sW, sb, lr)
        match = next((name for name, (rW, rb) in outcomes.items()
                      if np.allclose(gW, rW, rtol=rtol, atol=1e-9) and np.allclose(gb, rb, rtol=rtol, atol=1e-9)), None)
        rW, rb = outcomes["correct"]
        err = float(max(np.max(np.abs(gW - rW)), np.max(np.abs(gb - rb))))
        ev["max_abs_error_vs_correct_update"] = err
        order = [e for e in ev["events"] if e.startswith(("zero_grad", "backward", "step"))]
        bw = [i for i, e in enumerate(order) if e.startswith("backward")]
        st = [i for i, e in enumerate(order) if e == "step"]
        ok_order = len(bw) == 1 and order[bw[0]] == "backward" and len(st) == 1 and bw[0] < st[0]
        parts = [Part("parameters move by exactly one optimizer step on this loss's fresh gradient", 3.0, match == "correct",
                      "update matches" if match == "correct" else
                      (f"the update matches a known mistake: {match}" if match else f"the update is wrong (max abs error {err:.3g})")),
                 Part("order: zero the gradients, loss.backward(), optimizer.step() (once each)", 1.0, ok_order,
                      f"observed {' -> '.join(order) or 'nothing'}")]
        return combine(parts, ev)
