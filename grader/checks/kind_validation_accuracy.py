"""`validation_accuracy`: the CNN trained in the notebook reaches the accuracy goal.

Item: `hw2_cnn.validation_accuracy` (target: the model class, `CNN`).

1. instrument(): the same kernel capture as `trained_model` (_exports.py): after every
   cell the last global instance of the class (preferring `model`) is copied in memory;
   the epilogue writes its state_dict (parameters and batch-norm buffers) as numeric
   .npz + JSON metadata.
2. run(): the export is validated in the grader. The images the model is scored on are
   ones the notebook cannot have: with `private_split` (default on) the grader draws
   `n_images` fresh images from reference/res/image_data.py's generator with a seed
   derived from a grader-private secret (grader/checks/_integrity.py), in the grader
   process, and sends the probe only the images, at evaluation time, never the labels or
   the seed. (The split the notebook itself loads, `data_seed`/`split`, can be memorised:
   a model whose buffers hold its images and labels answers it by lookup. It is still
   evaluated, as evidence: a model far better on it than on the private images is named.)
   The probe rebuilds the student's class from the notebook's source, loads the weights,
   switches to eval mode and returns the raw outputs and its parameter names. The grader
   turns the outputs into predictions ((B, 2): argmax; (B, 1) or (B,): > 0.5 if all
   outputs lie in [0, 1], else > 0) and computes the accuracy against the labels it kept.
   Full marks at >= threshold (default 0.75); `partial_credit` (default 0.3) from
   `partial_min_accuracy` (default 0.6: chance is 0.5, so an untrained model gets 0).
3. Large non-parameter state: state_dict entries that are not parameters (buffers) with
   more than `max_buffer_numel` numbers in all (default 100 000; batch-norm statistics
   are a few hundred) can hold a dataset. A model that would earn points while carrying
   them is "needs a TA" (pending, no points), with the buffers named.
4. `weights_control` (default off; on in rubrics/hw2): the accuracy must come from the
   trained weights. The probe also evaluates the model on the private images with its
   trained weights shuffled by the grader (each floating tensor's entries permuted, as in
   `trained_model`'s control). A model that still scores `partial_min_accuracy` or more
   that way does not owe its answers to its weights (a classifier hand-written in forward,
   e.g. from how much of its bounding box a shape fills): needs a TA, no points. The
   control is forward's word too (a forward that fingerprints its weights can behave for
   the control), so it can only withhold points.
"""
from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
from pydantic import Field
from pydantic.json_schema import SkipJsonSchema

from grader import inkernel
from grader.checks import _exports as ex
from grader.checks.base import IDENTIFIER, CheckKind, CheckParams, CheckResult, Instrumentation, timeout_field
from grader.checks.registry import register
from grader.probe import Call

_SOURCE = inkernel.source("rebuild", "cnn_eval")

SPLITS = {"train": 0, "validation": 1, "test": 2}


def predictions(out: np.ndarray, n: int) -> tuple[np.ndarray | None, str]:
    if out.ndim == 2 and out.shape == (n, 2):
        return out.argmax(1), "argmax of (B, 2) outputs"
    if out.shape in ((n, 1), (n,)):
        o = out.reshape(n)
        if np.all((o >= 0) & (o <= 1)):
            return (o > 0.5).astype(np.int64), "probability > 0.5 of a single output"
        return (o > 0).astype(np.int64), "logit > 0 of a single output"
    return None, f"output shape {list(out.shape)}; expected ({n}, 2), ({n}, 1) or ({n},)"


def _outputs(out) -> list:
    """The outputs per image set of an evaluation call (__grader_cnn_eval), as it returned them."""
    val = out.value if isinstance(out.value, dict) else {}
    return val.get("outputs") if isinstance(val.get("outputs"), list) else []


def control_accuracy(out, y: np.ndarray) -> float | None:
    """The control run's accuracy on the labels the grader kept; None when it cannot be read."""
    outs = _outputs(out) if out.ok else []
    o = outs[0] if outs else None
    if not isinstance(o, np.ndarray) or o.dtype.kind != "f":
        return None
    pred, _how = predictions(np.nan_to_num(o), len(y))  # a NaN output is a wrong answer here, not a reason to look
    return None if pred is None else float((pred == y).mean())


def private_images(seed: int, n: int, size: int):
    """Fresh images from the course generator, drawn with a seed only the grader knows."""
    from reference.res.image_data import make_images

    x, y = make_images(n, seed, size)
    return x.numpy().astype(np.float32), y.numpy().astype(np.int64)


def dataset(seed: int, split: str, size: int):
    from reference.res.image_data import get_datasets

    ds = get_datasets(seed=seed, size=size)[SPLITS[split]]
    x, y = ds.tensors
    return x.numpy().astype(np.float32), y.numpy().astype(np.int64)


@register
class ValidationAccuracy(CheckKind):
    name = "validation_accuracy"

    class Params(CheckParams):
        variable: Annotated[str, Field(pattern=IDENTIFIER)] | SkipJsonSchema[None] = Field(None, description="the notebook variable holding the trained model (default: the last instance seen)")
        threshold: float = Field(0.75, ge=0, le=1, description="accuracy for full credit")
        data_seed: int = Field(0, ge=0, description="seed of the course's dataset split")
        split: Literal[tuple(sorted(SPLITS))] = Field("validation", description="the split the notebook can load (compared with the private one)")
        image_size: int = Field(32, ge=8, le=512, description="images are resized to image_size x image_size")
        partial_credit: float = Field(0.3, ge=0, le=1, description="fraction of the points below the threshold")
        partial_min_accuracy: float = Field(0.6, ge=0, le=1, description="accuracy needed for partial credit")
        timeout_s: float = timeout_field(120.0, "the evaluation")
        max_params: int = Field(50_000_000, ge=1, description="larger models are not exported")
        private_split: bool = Field(True, description="score on images drawn with a grader-private seed")
        n_images: int = Field(500, ge=10, le=5000, description="private_split: how many images")
        max_buffer_numel: int = Field(100_000, ge=0, description="larger non-parameter buffers (a stored dataset?): needs a TA")
        memorisation_gap: float = Field(0.2, ge=0, le=1, description="known-split accuracy this much above the private one is reported")
        weights_control: bool = Field(False, description="also evaluate the model with its weights shuffled: still accurate needs a TA")

    def instrument(self, item) -> Instrumentation:
        p = self.params(item)
        return ex.model_instrumentation(item, p.variable, p.max_params)

    def run(self, ctx, item) -> CheckResult:
        p = self.params(item)
        cls = item.target
        exp = ex.load_trained(ctx, item, p.variable, p.max_params)
        if isinstance(exp, CheckResult):
            return exp
        kw = ex.init_kwargs(exp.meta)
        if isinstance(kw, str):
            return CheckResult.failed(kw)
        kwargs, notes = kw
        known_x, known_y = ctx.reference(f"images:{p.data_seed}:{p.split}:{p.image_size}",
                                         lambda: dataset(p.data_seed, p.split, p.image_size))
        if p.private_split:
            from grader.checks._integrity import private_seed

            pseed = private_seed("validation_accuracy", ctx.notebook.seed, item.id)
            x, y = ctx.reference(f"private-images:{pseed}:{p.n_images}:{p.image_size}",
                                 lambda: private_images(pseed, p.n_images, p.image_size))
            sets = [x, known_x]
            where = (f"{len(y)} images the grader drew itself (a private split of the same generator, "
                     f"not loadable from the notebook)")
        else:
            x, y = known_x, known_y
            sets = [x]
            where = f"the {p.split} split ({len(y)} images)"
        import torch

        seed = ctx.seed_for(item) % (2**31)
        calls = [Call("__grader_cnn_eval", (cls, kwargs, exp.names, [torch.from_numpy(a) for a in sets], 100, seed),
                      {}, float(p.timeout_s))]
        files = {"weights.npz": exp.npz}
        if p.weights_control:
            control = exp.npz.with_name(exp.npz.stem + "-control.npz")
            ex.shuffled_weights(exp.arrays, exp.names, ctx.seed_for(item, "control"), control)
            files["control.npz"] = control
            calls.append(Call("__grader_cnn_eval", (cls, kwargs, exp.names, [torch.from_numpy(x)], 100, seed, "control.npz"),
                              {}, float(p.timeout_s)))
        out, *ctl = ex.probe_module(ctx, [cls], calls, {"model", "device", "optimizer", "criterion", "history"} - {cls}, _SOURCE,
                                    files=files)
        ev = {"exported": {k: exp.meta.get(k) for k in ("variable", "candidates", "numel", "init_args", "execution_count")},
              "rebuild": notes, "split": "private" if p.private_split else p.split, "n_images": int(len(y)),
              "threshold": p.threshold}
        if not out.ok:
            return CheckResult.failed(f"could not evaluate your trained {cls}: {out.error}", traceback=out.traceback[-1500:], **ev)
        val = out.value if isinstance(out.value, dict) else {}
        outs = _outputs(out)
        o = outs[0] if outs else None
        if not isinstance(o, np.ndarray) or o.dtype.kind != "f":
            return CheckResult.failed(f"{cls} did not return a float tensor", **ev)
        pred, how = predictions(o, len(y))
        ev["decision"] = how
        if pred is None:
            return CheckResult.failed(f"cannot read predictions: {how}", **ev)
        if not np.all(np.isfinite(o)):
            return CheckResult.failed(f"{cls} outputs NaN or inf on the {ev['split']} images", **ev)
        acc = float((pred == y).mean())
        ev["accuracy"] = round(acc, 4)
        ev["confusion"] = {f"true {t} -> predicted {q}": int(((y == t) & (pred == q)).sum()) for t in (0, 1) for q in (0, 1)}
        fb = (f"{cls} (`{exp.meta.get('variable')}`, the weights trained in your notebook, rebuilt by the grader): "
              f"accuracy {acc:.3f} on {where} ({how}); needed >= {p.threshold}")
        fb += "".join(f"\nnote: {n}" for n in notes)
        if p.private_split and len(outs) > 1 and isinstance(outs[1], np.ndarray):
            kpred, _ = predictions(outs[1], len(known_y))
            if kpred is not None:
                kacc = float((kpred == known_y).mean())
                ev["known_split_accuracy"] = round(kacc, 4)
                if kacc - acc > p.memorisation_gap:
                    fb += (f"\nnote: on the {p.split} split your notebook can load, the model scores {kacc:.3f}, "
                           f"far above {acc:.3f} on fresh images: it answers images it has seen, not the task")
        params = set(str(n) for n in val.get("params") or [] if isinstance(n, str))
        buffers = {n: int(a.size) for n, a in exp.arrays.items() if n not in params}
        big = sum(buffers.values())
        ev["buffer_numel"] = big
        flagged = big > p.max_buffer_numel
        if flagged:
            top = sorted(buffers.items(), key=lambda kv: -kv[1])[:4]
            ev["large_buffers"] = dict(top)
            fb += (f"\nnote: the model carries {big} numbers in buffers that are not trained parameters "
                   f"({', '.join(f'{n} ({k})' for n, k in top)}): such state can hold a dataset")
        fraction = 1.0 if acc >= p.threshold else p.partial_credit if acc >= p.partial_min_accuracy else 0.0
        if flagged and fraction > 0:
            return CheckResult(0.0, "pending", fb + "\nneeds a TA: a model with large non-parameter buffers is not scored "
                                                     "automatically; no points until a TA has looked", ev)
        if ctl and fraction > 0:
            c_acc = control_accuracy(ctl[0], y)
            ev["control_accuracy"] = None if c_acc is None else round(c_acc, 4)
            if c_acc is None or c_acc >= p.partial_min_accuracy:
                why = (f"with its trained weights shuffled by the grader, the model still scores {c_acc:.3f} on the same images: "
                       "its answers do not come from its weights (a classifier hand-written in forward?)"
                       if c_acc is not None else "the grader could not evaluate the model with its weights shuffled (the control)")
                return CheckResult(0.0, "pending", fb + f"\nneeds a TA: {why}; no points until a TA has looked", ev)
        if fraction == 1.0:
            return CheckResult(1.0, "passed", fb, ev)
        if fraction > 0:
            return CheckResult.failed(fb + f"\npartial credit: trained but below the goal ({p.partial_credit:.0%} of the points)", fraction, **ev)
        return CheckResult.failed(fb, 0.0, **ev)
