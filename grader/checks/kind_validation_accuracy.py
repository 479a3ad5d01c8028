"""`validation_accuracy`: the CNN trained in the notebook reaches the accuracy goal.

Item: `hw2_cnn.validation_accuracy` (target: the model class, `CNN`).

1. instrument(): the same kernel capture as `trained_model` (_exports.py): after every
   cell the last global instance of the class (preferring `model`) is copied in memory;
   the epilogue writes its state_dict (parameters and batch-norm buffers) as numeric
   .npz + JSON metadata.
2. run(): the export is validated in the grader; the grader generates the validation
   split itself from reference/res/image_data.py's deterministic generator (seed and
   split in params) and hands the probe only the images as an input array, never the
   generator code or the labels. The probe rebuilds the student's class from the
   notebook's source, loads the weights, switches to eval mode and returns the raw
   outputs. The grader turns them into predictions ((B, 2): argmax; (B, 1) or (B,):
   > 0.5 if all outputs lie in [0, 1], else > 0) and computes the accuracy against the
   labels it kept. Full marks at >= threshold (default 0.75); `partial_credit` (default
   0.3) from `partial_min_accuracy` (default 0.6: chance is 0.5, so an untrained model
   gets 0).
"""
from __future__ import annotations

import numpy as np

from grader.checks import _exports as ex
from grader.checks.base import CheckKind, CheckResult, Instrumentation
from grader.checks.registry import register
from grader.probe import Call

_SOURCE = ex.REBUILD_SOURCE + r'''
def __grader_cnn_outputs(class_name, kwargs, names, images, batch, seed):
    import torch as _torch
    m = __grader_rebuild(class_name, kwargs, names, seed)
    outs = []
    with _torch.no_grad():
        for i in range(0, images.shape[0], batch):
            y = m(images[i:i + batch].float())
            if isinstance(y, (tuple, list)):
                y = y[0]
            outs.append(y.detach().double().cpu())
    return _torch.cat(outs)
'''

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


def dataset(seed: int, split: str, size: int):
    from reference.res.image_data import get_datasets

    ds = get_datasets(seed=seed, size=size)[SPLITS[split]]
    x, y = ds.tensors
    return x.numpy().astype(np.float32), y.numpy().astype(np.int64)


@register
class ValidationAccuracy(CheckKind):
    name = "validation_accuracy"
    params_schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "variable": {"type": "string", "pattern": r"^[A-Za-z_][A-Za-z0-9_]*$"},
            "threshold": {"type": "number", "minimum": 0, "maximum": 1},
            "data_seed": {"type": "integer", "minimum": 0},
            "split": {"enum": sorted(SPLITS)},
            "image_size": {"type": "integer", "minimum": 8, "maximum": 512},
            "partial_credit": {"type": "number", "minimum": 0, "maximum": 1},
            "partial_min_accuracy": {"type": "number", "minimum": 0, "maximum": 1},
            "timeout_s": {"type": "number", "exclusiveMinimum": 0, "maximum": 600},
            "max_params": {"type": "integer", "minimum": 1},
        },
    }

    def _p(self, item) -> dict:
        p = dict(item.params)
        p.setdefault("threshold", 0.75)
        p.setdefault("data_seed", 0)
        p.setdefault("split", "validation")
        p.setdefault("image_size", 32)
        p.setdefault("partial_credit", 0.3)
        p.setdefault("partial_min_accuracy", 0.6)
        p.setdefault("timeout_s", 120)
        p.setdefault("max_params", 50_000_000)
        return p

    def instrument(self, item) -> Instrumentation:
        p = self._p(item)
        return ex.model_instrumentation(item, p.get("variable"), p["max_params"])

    def run(self, ctx, item) -> CheckResult:
        p = self._p(item)
        cls = item.target
        exp = ex.load_trained(ctx, item, p.get("variable"))
        if isinstance(exp, CheckResult):
            return exp
        kw = ex.init_kwargs(exp.meta)
        if isinstance(kw, str):
            return CheckResult.failed(kw)
        kwargs, notes = kw
        x, y = ctx.reference(f"images:{p['data_seed']}:{p['split']}:{p['image_size']}", lambda: dataset(p["data_seed"], p["split"], p["image_size"]))
        import torch

        call = Call("__grader_cnn_outputs", (cls, kwargs, exp.names, torch.from_numpy(x), 100, ctx.seed_for(item) % (2**31)), {}, float(p["timeout_s"]))
        (out,) = ex.probe_module(ctx, [cls], [call], {"model", "device", "optimizer", "criterion", "history"} - {cls}, _SOURCE,
                                 files={"weights.npz": exp.npz})
        ev = {"exported": {k: exp.meta.get(k) for k in ("variable", "candidates", "numel", "init_args", "execution_count")},
              "rebuild": notes, "split": p["split"], "n_images": int(len(y)), "threshold": p["threshold"]}
        if not out.ok:
            return CheckResult.failed(f"could not evaluate your trained {cls}: {out.error}", traceback=out.traceback[-1500:], **ev)
        o = out.value
        if not isinstance(o, np.ndarray) or o.dtype.kind != "f":
            return CheckResult.failed(f"{cls} did not return a float tensor", **ev)
        pred, how = predictions(o, len(y))
        ev["decision"] = how
        if pred is None:
            return CheckResult.failed(f"cannot read predictions: {how}", **ev)
        if not np.all(np.isfinite(o)):
            return CheckResult.failed(f"{cls} outputs NaN or inf on the {p['split']} images", **ev)
        acc = float((pred == y).mean())
        ev["accuracy"] = round(acc, 4)
        ev["confusion"] = {f"true {t} -> predicted {q}": int(((y == t) & (pred == q)).sum()) for t in (0, 1) for q in (0, 1)}
        fb = (f"{cls} (`{exp.meta.get('variable')}`, the weights trained in your notebook, rebuilt by the grader): "
              f"{p['split']} accuracy {acc:.3f} on {len(y)} images ({how}); needed >= {p['threshold']}")
        fb += "".join(f"\nnote: {n}" for n in notes)
        if acc >= p["threshold"]:
            return CheckResult(1.0, "passed", fb, ev)
        if acc >= p["partial_min_accuracy"]:
            return CheckResult.failed(fb + f"\npartial credit: trained but below the goal ({p['partial_credit']:.0%} of the points)", p["partial_credit"], **ev)
        return CheckResult.failed(fb, 0.0, **ev)
